// StopTasks: the weft.control.v1 StopTasks method — selects a server's tasks with a TaskFilter
// and stops them the way StopServer stops all of them (or, in a dry run, says which it would).
#pragma once

#include "absl/status/statusor.h"
#include "control/server_set.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control {

// StopTasks serves `request` (already authorised, its server resolved to `server`): it lists
// the server's tasks, keeps those matching request.filter, and — unless request.dry_run —
// stops them with TaskManager::StopTasks, returning once all have ended. Thread-safe; blocks
// for up to the timeout plus the time forced tasks take to end. The reply carries the match
// count, the first page_size matching tasks (id order, as selected), the counts and the time
// taken. Errors (nothing is stopped): INVALID_ARGUMENT for an empty filter (StopServer stops
// every task), a malformed filter field, a negative page_size or timeout, a timeout above one
// hour or max_count above 1,000,000; FAILED_PRECONDITION, naming the count, when more tasks
// match than max_count (default 1000) — a dry run too, so that it predicts the real call.
absl::StatusOr<v1::StopTasksResponse> StopTasks(const ManagedServer& server,
                                                const v1::StopTasksRequest& request);

}  // namespace weft::control
