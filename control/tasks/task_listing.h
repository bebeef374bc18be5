// TaskListing: the ListTasks method — a server's tasks, filtered, in pages, in id order or in an
// order_by order.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "control/tasks/cursor_cache.h"
#include "weft/control/v1/control.pb.h"
#include "weft/task_manager.h"

namespace weft::control {

// TaskListing: thread-safe. In id order a listing is stateless: its page token carries the last
// id returned, and each page costs O(log N + page) (plus one pass over the tasks to count the
// matches when a filter is set). An ordered listing sorts the matching tasks once, on its first
// page, and keeps their ids in a CursorCache for the later pages, each O(page log N); those
// pages take the selection from the cursor, not from their request's filter.
class TaskListing {
 public:
  // How long an ordered listing's page tokens stay valid, and how many such listings, and ids
  // in all, are kept at once (the oldest are dropped for a new one): at most 8 MB of ids.
  static constexpr absl::Duration kCursorLifetime = absl::Minutes(10);
  static constexpr std::size_t kMaxCursors = 64;
  static constexpr std::size_t kMaxCursorIds = 1 << 20;

  // `now` is the clock cursors expire by (tests inject a fake one).
  explicit TaskListing(CursorCache::Clock now = &absl::Now);

  // List answers `request` (whose `server` is ignored: the caller resolved it) with the tasks
  // of `tasks`, named as tasks of `server`, into `response` (expected empty). INVALID_ARGUMENT
  // for a negative page_size, a malformed filter, min_age or min_idle, an unknown order_by, and
  // a page token that is malformed, from another server or order, or expired (ordered listings
  // only; the client restarts the listing). Requested filters are AND-ed: min_age and min_idle
  // tighten filter.min_age and filter.min_idle.
  absl::Status List(const std::string& server, const TaskManager& tasks,
                    const v1::ListTasksRequest& request, v1::ListTasksResponse* response);

 private:
  CursorCache cursors_;
};

}  // namespace weft::control
