// ServerOptions: everything a Server is built from (the seed's initargs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "weft/connection.h"
#include "weft/descriptor_budget.h"
#include "weft/server_observer.h"
#include "weft/task_manager.h"
#include "weft/unique_fd.h"

namespace weft {

// HandlerArgs: the seed's :args, handed to the handler on every call.
using HandlerArgs = std::vector<std::string>;

// Handler: serves one connection. Runs on whatever thread its task manager gives it; may block
// in Connection I/O; should poll ShutdownRequested() in long loops. The server closes the
// connection when the handler returns or throws; an exception other than ThreadShutdown is
// logged and counted as a failure, and the server keeps serving.
using Handler = std::function<void(Connection& connection, const HandlerArgs& args)>;

struct ServerOptions {
  // Where to listen: IPv4, IPv6 (optionally in brackets) or a host name.
  std::string address = "127.0.0.1";
  // TCP port; 0 = an ephemeral port, readable through Server::port() while running.
  std::uint16_t port = 0;
  // A listening TCP socket to accept from instead of binding address and port (which are then
  // ignored): one inherited from systemd (socket activation) or handed over by a predecessor
  // process, say. Empty = bind. The server owns it from construction and closes it on
  // destruction. Each Run checks it (see CheckListeningSocket in weft/listen_socket.h:
  // INVALID_ARGUMENT unless it is a listening TCP socket), makes it close-on-exec and
  // non-blocking, and accepts from it. Stop and StopAccepting shut it down like a socket of the
  // server's own (connects are refused from then on), unless listen_socket_shared.
  UniqueFd listen_socket;
  // listen_socket is shared with a holder that keeps it listening (systemd, which fails a socket
  // unit whose socket stops listening): Stop and StopAccepting never shut it down, so connects
  // meanwhile wait in its backlog (not refused) for a later Run or the next process. Default
  // false.
  bool listen_socket_shared = false;
  // Required.
  Handler handler;
  // The task manager; null = a ThreadedTaskManager without a limit.
  TaskManagerPtr manager;
  // Refuse (accept and close at once) connections while this many are open. Ignored when the
  // manager has a limit of its own: as in the seed, the manager's limit takes precedence.
  std::optional<std::size_t> max_connections;
  HandlerArgs args;
  // listen(2) backlog.
  int backlog = 1024;
  // Listen with SO_REUSEPORT, so that another process (a replacement starting while this one
  // drains, say) can listen on the same address and port at the same time. Every socket sharing
  // the port must set it, and all must belong to the same effective user (a kernel rule);
  // otherwise Run fails with UNAVAILABLE. While several listen, the kernel spreads new
  // connections over them. A listener that closes (Stop, StopAccepting) resets the connections
  // still in its accept queue unless the host sets net.ipv4.tcp_migrate_req=1 (Linux 5.14+),
  // which moves them to another listener of the group instead.
  bool reuse_port = false;
  // Per-connection idle timeout and lifetime cap; off by default.
  ConnectionLimits limits;
  // How long Stop() lets tasks end cooperatively before shutting their sockets down.
  absl::Duration stop_grace = TaskManager::kDefaultGrace;
  // Receives the server's events; null = none. Shared because the server and whoever reads the
  // events both hold it; it must outlive every call (the server holds a reference).
  std::shared_ptr<ServerObserver> observer;
  // The descriptor budget this server's connections draw from, one descriptor each, from
  // accept until the connection is closed; a connection accepted while it is spent is closed at
  // once and refused with RefusalReason::kDescriptorBudget. Null = no budget (only the
  // acceptor's EMFILE handling applies). Share one budget between all servers of a process.
  std::shared_ptr<DescriptorBudget> descriptor_budget;
};

}  // namespace weft
