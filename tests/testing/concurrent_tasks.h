// Task-manager helpers shared by the manager and configuration tests.
#pragma once

#include "absl/status/status.h"
#include "weft/task_manager.h"

namespace weft::testing {

// RunTogether adds `count` tasks to `manager` that wait until all of them are running, then end
// together; it returns once every task has ended (the manager lists none). The manager must be
// able to run `count` tasks at once. Errors: what AddTask says; DEADLINE_EXCEEDED when the tasks
// did not all start, or end, within kTestTimeout. Thread-compatible.
absl::Status RunTogether(TaskManager& manager, int count);

}  // namespace weft::testing
