// ServerObserver: a Server's event feed — task lifecycle, refusals, state changes — for
// dashboards and logs.
#pragma once

#include "absl/time/time.h"
#include "weft/endpoint.h"
#include "weft/server_state.h"
#include "weft/task.h"

namespace weft {

// RefusalReason: why a connection was accepted and closed at once.
enum class RefusalReason {
  kMaxConnections,        // max_connections were open.
  kManagerFull,           // The task manager's limit and queue were full.
  kDescriptorsExhausted,  // The process ran out of file descriptors.
  kStopping,              // The manager was stopping its tasks.
  kDescriptorBudget,      // The listeners' descriptor budget was spent (ServerOptions).
};

// kRefusalReasonCount: the number of RefusalReason values (they are numbered from 0).
inline constexpr int kRefusalReasonCount = 5;

// RefusalReasonName returns the reason as users read it, e.g. "max-connections",
// "descriptor-budget" (weft/base/names.h).
const char* RefusalReasonName(RefusalReason reason);

// CloseInitiator: who ended a connection that ran (ServerStats::closed_by_initiator), counted
// once per connection when its handler has ended and its socket is closed. Decided from what
// the connection and its task observed, the first cause to happen winning, except that kForced
// overrides any earlier one:
//   kPeer         a read saw end of stream, or a read or write failed because the peer reset or
//                 vanished (ECONNRESET, EPIPE, ENOTCONN, ETIMEDOUT);
//   kIdleTimeout  a read or write waited idle_timeout without progress;
//   kMaxLifetime  I/O failed because max_lifetime had passed;
//   kStop         the task was asked to stop from outside (TaskManager::StopTask, RemoveTask on a
//                 task whose socket was already closed, Server::Stop and drains) and its
//                 handler ended within the grace period;
//   kForced       the task's socket was shut down under its handler (the grace period ran out,
//                 or TaskManager::RemoveTask);
//   kHandler      none of the above: the handler returned (or threw) on its own, including after
//                 its own RequestShutdown, a SetDeadline deadline, or closing the connection.
// Only what the connection's own I/O ran into counts: a peer that left while the handler never
// read again is not seen, and the connection counts as kHandler (or kStop, kForced).
// Connections dropped while queued never ran and are not counted here (ServerEvent kTaskRemoved;
// StopReport::dropped).
enum class CloseInitiator {
  kPeer,
  kIdleTimeout,
  kMaxLifetime,
  kStop,
  kForced,
  kHandler,
};

// kCloseInitiatorCount: the number of CloseInitiator values (they are numbered from 0).
inline constexpr int kCloseInitiatorCount = 6;

// CloseInitiatorName returns the initiator as users read it, e.g. "peer", "idle-timeout"
// (weft/base/names.h).
const char* CloseInitiatorName(CloseInitiator initiator);

// ServerEvent: one thing that happened. Events of one task arrive in order:
// kTaskAdded, then kTaskStarted and kTaskFinished, or kTaskRemoved if it never ran. By the time
// kTaskFinished or kTaskRemoved is delivered the connection is closed and no longer counted in
// ServerStats::open, so an observer may wait for connections to end by these events.
struct ServerEvent {
  enum class Kind {
    kTaskAdded,          // Admitted by the manager (task_id, peer).
    kTaskStarted,        // Its handler began (task_id, peer).
    kTaskFinished,       // Its handler returned or threw (task_id, peer, failed).
    kTaskRemoved,        // Dropped while queued, never ran (task_id, peer).
    kConnectionRefused,  // Accepted and closed at once (peer, refusal).
    kStateChanged,       // The server's state changed (state).
    kTaskStuck,          // A stop's grace ran out with the task running (task_id, peer,
                         // stuck_for); see StopListener::OnTaskStuck.
    kDrainProgress,      // A Stop or TaskManager::StopTasks made progress (drain); see
                         // StopListener::OnStopProgress: delivered on the stopping thread.
  };
  Kind kind = Kind::kStateChanged;
  absl::Time time{};
  TaskId task_id = 0;
  Endpoint peer{};
  bool failed = false;  // kTaskFinished: the handler threw (ThreadShutdown excluded).
  RefusalReason refusal = RefusalReason::kMaxConnections;
  ServerState state = ServerState::kStopped;
  absl::Duration stuck_for{};  // kTaskStuck: time since the task was first asked to stop.
  StopProgress drain{};        // kDrainProgress.
};

// ServerObserver: OnEvent is called on data-plane threads (the acceptor, task threads, and
// callers of Run/Stop/StopAccepting and of the manager's StopTask/StopTasks/StopAllTasks, which
// deliver kTaskStuck and kDrainProgress), concurrently, and never with a Weft lock held: it may take
// its own locks and read the Server (state(), stats(), address(), ...). State events arrive in
// the order the states were taken, each before the Run, Stop or StopAccepting that caused it
// returns (when calls race, the state events of one may be delivered on the other's thread).
// It must be thread-safe, must not throw, should return quickly (buffer and drop rather than
// block: task events are delivered on the threads serving connections), and must not call Run,
// Stop or StopAccepting.
class ServerObserver {
 public:
  virtual ~ServerObserver() = default;
  virtual void OnEvent(const ServerEvent& event) = 0;
};

}  // namespace weft
