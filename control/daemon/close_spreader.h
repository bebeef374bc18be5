// Close spreading (Listener.close_spread, HAProxy's close-spread-time): during weftd's drain, the
// connections still open on a listener are asked to close one by one over a window instead of
// all at the instant the drain times out, so that their clients do not reconnect in one storm.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/time/time.h"
#include "control/daemon/drain_waiter.h"
#include "control/server_set.h"
#include "weft/task.h"

namespace weft::control {

// SpreadCloseTimes returns when each of `count` connections is asked to close over `window`
// from `start`: the i-th (0-based) at start + window * (i + 1) / count, so the last at
// start + window and none at `start` itself. Empty when count is 0. Pure; thread-safe.
std::vector<absl::Time> SpreadCloseTimes(absl::Time start, absl::Duration window,
                                         std::size_t count);

// ScheduledClose: one connection (task) of one listener and when it is to be asked to close.
struct ScheduledClose {
  absl::Time at;
  ManagedServer* server = nullptr;  // Not owned.
  TaskId task = 0;
};

// PlanCloses returns the closes of every server in `servers` with a close_spread, in time
// order: each server's tasks open at this instant, in task id order (the order they were
// accepted), spread with SpreadCloseTimes over its close_spread from `start`. Servers without a
// close_spread contribute nothing. Logs one line per server with connections to close.
// Thread-safe (reads task lists under the managers' own locks).
std::vector<ScheduledClose> PlanCloses(const std::vector<ManagedServer*>& servers,
                                       absl::Time start);

// CloseSpreadReport: how a SpreadCloses went.
struct CloseSpreadReport {
  std::size_t closed = 0;   // Connections asked to close (StopTask found them).
  std::size_t skipped = 0;  // Connections that had ended by themselves before their turn.
  bool aborted = false;     // The waiter was aborted before every close was made.
};

// SpreadCloses carries out PlanCloses(servers, now): it waits on `waiter` until each close's
// time, then stops that task cooperatively (TaskManager::StopTask: the handler sees
// ShutdownRequested and its blocked I/O returns CANCELLED, so it finishes the unit of work in
// flight and returns). Each StopTask may take up to `grace` — capped by what is left before
// `deadline` — before the connection is shut down under the handler; its time is the schedule's
// only slip, and a later close whose time has passed is made at once. Returns when every close
// is made, `deadline` passes, or `waiter` is aborted (DrainWaiter::Abort); a StopTask in
// progress is not cut short by an abort: it ends within its grace unless a handler ignores
// both its shutdown flag and its shut-down connection (see TaskManager::StopTask). Logs a
// summary line. Blocks the caller: call it from the drain's thread, never from a task of one
// of the servers (StopTask would wait for itself). `waiter` is not owned; it and the servers
// must outlive the call. The servers should have stopped accepting: later connections are not
// seen.
CloseSpreadReport SpreadCloses(const std::vector<ManagedServer*>& servers, DrainWaiter* waiter,
                               absl::Time deadline, absl::Duration grace);

}  // namespace weft::control
