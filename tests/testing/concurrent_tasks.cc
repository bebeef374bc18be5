#include "tests/testing/concurrent_tasks.h"

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/loopback_client.h"

namespace weft::testing {

absl::Status RunTogether(TaskManager& manager, int count) {
  // Shared with the tasks: after a failed wait they may outlive this call.
  struct Shared {
    absl::Notification release;
    std::atomic<int> started{0};
  };
  auto shared = std::make_shared<Shared>();
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    status = manager
                 .AddTask([shared] {
                   shared->started.fetch_add(1);
                   shared->release.WaitForNotificationWithTimeout(kTestTimeout);
                 })
                 .status();
  }
  if (status.ok() && !WaitUntil([&] { return shared->started.load() == count; })) {
    status = absl::DeadlineExceededError(
        absl::StrCat(shared->started.load(), " of ", count, " tasks started"));
  }
  shared->release.Notify();
  if (!WaitUntil([&] { return manager.AllTasks().empty(); }) && status.ok()) {
    status = absl::DeadlineExceededError("the tasks did not end");
  }
  return status;
}

}  // namespace weft::testing
