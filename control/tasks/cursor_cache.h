// CursorCache: the server-side state of ordered ListTasks listings (order_by other than id): the
// task ids their first page fixed, in order, kept for a bounded time in a bounded cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "weft/base/sync.h"
#include "weft/task.h"

namespace weft::control {

// TaskCursor: one ordered listing, immutable once stored.
struct TaskCursor {
  std::string server;       // The server listed: later pages must name it again.
  std::string order_by;     // As the first request spelled it, normalised.
  std::vector<TaskId> ids;  // Every task the listing returns, in listing order.
  std::uint32_t total = 0;  // total_size of the first page.
};

// CursorCache: thread-safe. Holds at most `max_cursors` cursors and `max_ids` ids in all (a
// larger cursor is held alone), each for `lifetime` after it was added; adding one to a full
// cache evicts the oldest (its tokens then read as expired).
class CursorCache {
 public:
  using Clock = std::function<absl::Time()>;

  // `now` is the clock cursors age by (tests inject a fake one).
  CursorCache(std::size_t max_cursors, std::size_t max_ids, absl::Duration lifetime,
              Clock now = &absl::Now);

  // Add stores `cursor` (not null) and returns the key that finds it: random, never 0, unique
  // in the cache.
  std::uint64_t Add(std::shared_ptr<const TaskCursor> cursor) ABSL_LOCKS_EXCLUDED(mu_);

  // Find returns the cursor under `key`, or nullptr if there is none (never stored, expired or
  // evicted). Shared ownership: the caller reads it after the lock is released, while another
  // thread may evict it.
  std::shared_ptr<const TaskCursor> Find(std::uint64_t key) ABSL_LOCKS_EXCLUDED(mu_);

  // size returns how many cursors are held, expired ones included until the next Add.
  std::size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // ids_held returns how many ids the held cursors have in all.
  std::size_t ids_held() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Stored {
    std::shared_ptr<const TaskCursor> cursor;
    absl::Time expires;
  };

  // MakeRoomLocked drops expired cursors, then the oldest while the cache has no room for one
  // more cursor of `ids` ids.
  void MakeRoomLocked(absl::Time now, std::size_t ids) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::size_t max_cursors_;
  const std::size_t max_ids_;
  const absl::Duration lifetime_;
  const Clock now_;

  mutable Mutex mu_;
  absl::flat_hash_map<std::uint64_t, Stored> cursors_ ABSL_GUARDED_BY(mu_);
  // Keys by age, oldest first: with one lifetime for all, also by expiry.
  std::deque<std::uint64_t> by_age_ ABSL_GUARDED_BY(mu_);
  std::size_t ids_held_ ABSL_GUARDED_BY(mu_) = 0;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::control
