// Server: listens for TCP connections and hands each one to a task manager as a task.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "weft/base/histogram.h"
#include "weft/server_options.h"
#include "weft/server_state.h"
#include "weft/task_manager.h"

namespace weft {
namespace internal {
class ServerImpl;
}  // namespace internal

// ServerStats: counters since construction (totals) and at this instant (open, running, queued).
struct ServerStats {
  ServerState state = ServerState::kStopped;
  std::uint64_t accepted = 0;  // Connections handed to the task manager.
  // Connections accepted and closed at once (limit, full, no fds, descriptor budget, stopping).
  std::uint64_t refused = 0;
  // refused, by reason: indexed by static_cast<int>(RefusalReason).
  std::array<std::uint64_t, kRefusalReasonCount> refused_by_reason{};
  std::uint64_t failed = 0;  // Handlers that ended by throwing (ThreadShutdown excluded).
  // Tasks still running when the grace of a stop ran out (ServerEvent::Kind::kTaskStuck).
  std::uint64_t stuck_total = 0;
  std::size_t open = 0;      // Connections accepted and not yet closed.
  std::size_t running = 0;   // Tasks running (from the manager).
  std::size_t queued = 0;    // Tasks waiting (from the manager).
  // Threads of the manager waiting for their next task (the threaded manager's idle-thread
  // cache; from the manager).
  std::size_t idle_threads = 0;
  absl::Time started = absl::InfinitePast();  // When it last went from stopped to running.
  // Bytes read from and written to connections, live ones included as the bytes move (relaxed
  // counters: a reader sees a recent value; each one never decreases).
  std::uint64_t received_bytes = 0;
  std::uint64_t sent_bytes = 0;
  // Connections that ran and are closed, by who ended them (see CloseInitiator for the rule):
  // indexed by static_cast<int>(CloseInitiator). Each such connection is counted once, when its
  // handler has ended and its socket is closed. Connections dropped while queued never ran and
  // are not counted here (they are accepted, not closed by an initiator: kTaskRemoved events).
  std::array<std::uint64_t, kCloseInitiatorCount> closed_by_initiator{};
  // How long connections lived, in seconds, from admission (accepted and handed to the manager)
  // to close, with weft::base::DurationBucketsSeconds(): one observation per connection counted
  // in closed_by_initiator. A duration is observed before its close is counted, so in one
  // snapshot connection_durations.count >= the sum of closed_by_initiator (it may lead it by the
  // connections closing at that moment), and a reader that saw a close sees its duration.
  base::HistogramSnapshot connection_durations;
  // Stop is asking tasks to stop and waiting for them: true from the moment it first asks until
  // it returns (state is kNotAccepting meanwhile; a kStopped server is never draining).
  bool draining = false;
};

// Server: thread-safe. Run, Stop and StopAccepting are serialised against each other.
//
// Shutdown order (Stop): 1. the listening socket is shut down (unless
// ServerOptions::listen_socket_shared, or after ReleaseListener) and the accept loop joined;
// 2. queued connections are closed and every running task's shutdown flag is set, waking its
// blocked I/O with CANCELLED; 3. after the grace period the sockets of tasks still running are
// shut down; 4. every task is waited for and every thread joined — only then does Stop return.
// The destructor calls Stop. Never call Stop from one of the server's own handlers (it would
// wait for itself; this CHECK-fails).
class Server {
 public:
  // Requires: options.handler is set.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Run binds, listens and starts accepting (or accepts from ServerOptions::listen_socket, or
  // from the socket kept by ReleaseListener).
  // With a manager that has threads of its own it returns at once; with one that runs tasks on
  // the caller (SingleThreadedTaskManager) it serves on the calling thread and returns once
  // stopped (or, after StopAccepting, once the remaining connections are done). Run after Stop
  // starts again; Run after StopAccepting resumes accepting while existing connections go on.
  // Errors: FAILED_PRECONDITION (already accepting), INVALID_ARGUMENT (bad address; an adopted
  // socket that is not a listening TCP socket), UNAVAILABLE (address in use or not local),
  // PERMISSION_DENIED (privileged port), others from errno. On error nothing is left open and
  // the state is unchanged.
  [[nodiscard]] absl::Status Run();

  // Stop stops everything (see the shutdown order above) and returns what happened to the
  // tasks. ServerStats::draining is true from step 2 until it returns. A no-op on a stopped
  // server.
  StopReport Stop();
  StopReport Stop(absl::Duration grace);

  // StopAccepting closes only the listener and returns as soon as it is closed; open
  // connections go on until their clients close. A no-op unless running.
  void StopAccepting();

  // ReleaseListener stops accepting like StopAccepting but leaves the listening socket
  // listening: another process that holds it too (a successor that received it with
  // SCM_RIGHTS, from socket()) goes on accepting from the same queue, so no connect is refused
  // or lost. The server keeps its descriptor, not accepting, until Stop (which then closes it
  // without shutting it down) or the next Run (which accepts from it again, e.g. because the
  // successor died). Returns once the accept loop has stopped. A no-op unless running.
  void ReleaseListener();

  // Accessors ("returns or sets", as in the seed). Setting address or port takes effect on the
  // next Run; setting the handler affects connections accepted afterwards. With an adopted
  // socket (ServerOptions::listen_socket), address and port describe it and setting them has
  // no effect.
  TaskManager& task_manager();
  const TaskManager& task_manager() const;
  // set_task_manager: FAILED_PRECONDITION unless stopped. Requires: manager != nullptr.
  [[nodiscard]] absl::Status set_task_manager(TaskManagerPtr manager);
  // socket returns the listening descriptor, or nullopt when not accepting.
  std::optional<int> socket() const;
  std::string address() const;
  void set_address(std::string address);
  // port returns the bound port while accepting (or whenever a socket is adopted), else the
  // configured one.
  std::uint16_t port() const;
  void set_port(std::uint16_t port);
  // reuse_port returns ServerOptions::reuse_port.
  bool reuse_port() const;
  Handler connection_handler() const;
  void set_connection_handler(Handler handler);
  std::optional<std::size_t> max_connections() const;
  // set_max_connections applies at once: lowering it refuses new connections, never closes
  // existing ones.
  void set_max_connections(std::optional<std::size_t> max_connections);

  // connection_limits returns the per-connection timeouts new connections get.
  ConnectionLimits connection_limits() const;

  ServerState state() const;
  ServerStats stats() const;

 private:
  std::unique_ptr<internal::ServerImpl> impl_;
};

}  // namespace weft
