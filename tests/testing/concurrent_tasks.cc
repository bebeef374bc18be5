#include "tests/testing/concurrent_tasks.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/loopback_client.h"

namespace weft::testing {

absl::Status RunTogether(TaskManager& manager, int count) {
  absl::Notification release;
  std::atomic<int> started{0};
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    status = manager
                 .AddTask([&] {
                   started.fetch_add(1);
                   release.WaitForNotificationWithTimeout(kTestTimeout);
                 })
                 .status();
  }
  if (status.ok() && !WaitUntil([&] { return started.load() == count; })) {
    status = absl::DeadlineExceededError(
        absl::StrCat(started.load(), " of ", count, " tasks started"));
  }
  release.Notify();
  // Also after a failure: the tasks use `release` and `started`, which end with this call.
  if (!WaitUntil([&] { return manager.AllTasks().empty(); }) && status.ok()) {
    status = absl::DeadlineExceededError("the tasks did not end");
  }
  return status;
}

}  // namespace weft::testing
