// AdminServer: weftd's HTTP endpoint for dashboards and probes (config.proto, Admin).
//
//   GET /metrics                     Prometheus text format 0.0.4 (AdminSources::metrics)
//   GET /api/v1/servers              ListServersResponse, proto3 JSON mapping
//   GET /api/v1/servers/NAME/tasks   ListTasksResponse, proto3 JSON mapping
//   GET /api/v1/process              Process (GetProcess), proto3 JSON mapping
//   GET /status                      HTML status page (AdminSources::status_page)
//   GET /healthz                     200 while the process serves HTTP at all
//   GET /readyz                      200 when AdminSources::ready, else 503
//
// The JSON API is the control plane itself: each request is a call on the control plane's
// in-process channel carrying the request's Authorization header, so the schema, the paging,
// the errors and the auth are exactly those of gRPC clients. Errors are JSON:
// {"error": {"code": 404, "status": "NOT_FOUND", "message": "..."}}.
//
// Auth: everything but the probes needs a viewer (or operator) token when tokens are configured
// ("Authorization: Bearer TOKEN"; 401 otherwise); with TLS files it serves HTTPS, and with a
// client CA only clients presenting a certificate it signed complete the handshake. Any method
// but GET and HEAD gets 405 (with Allow: GET, HEAD) on a known path and 404 elsewhere; a request
// with a body gets 413; a malformed request 400; a handler that throws 500 (logged). After an
// error answer the connection serves no further request (a refused request's body is never
// parsed as one); it is closed after kReadTimeout.
//
// Floods: the HTTP library (cpp-httplib, a thread pool) listens on a private loopback port and a
// ControlGateway owns the public address, as for the control plane: connections are capped at
// max_connections and, at the cap, a new one replaces a silent or the least recently active one,
// so a flood of idle or slow connections cannot lock dashboards and probes out. Each request
// must arrive within kReadTimeout; a response that the client does not read within
// kWriteTimeout is abandoned.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "control/auth.h"
#include "control/gateway/control_gateway.h"
#include "control/tls_credentials.h"
#include "weft/unique_fd.h"

namespace httplib {
class Server;
}

namespace weft::control::admin {

// AdminSources: what the routes read. Every function is called from the HTTP library's worker
// threads, concurrently, and must be thread-safe; none may block for long. A route whose
// function is unset is not served (404).
struct AdminSources {
  // The /metrics body.
  std::function<std::string()> metrics{};
  // The /status page, given the Authorization header of the request (empty if none) for the
  // control plane calls it makes.
  std::function<std::string(const std::string& authorization)> status_page{};
  // Whether the process is ready for traffic: every listener serving, not draining.
  std::function<bool()> ready{};
  // The control plane's in-process channel (ControlPlane::InProcessChannel).
  std::shared_ptr<grpc::Channel> control_channel{};
};

struct AdminServerOptions {
  // The public address, "HOST:PORT" (PORT may be 0).
  std::string address{};
  // Most connections open at once (>= 1); see ControlGateway for the policy at the cap.
  std::size_t max_connections = 32;
  // HTTPS with these files when set (client_ca_file: mutual TLS).
  std::optional<TlsFiles> tls{};
  // A listening socket for `address` handed over by a predecessor process; empty = bind.
  UniqueFd listen_socket{};
};

// AdminServer: Start, Stop and the destructor are called from one thread (weftd's Daemon);
// port() from any. Its routes run on the HTTP library's workers. Borrows the authenticator,
// which must outlive it.
class AdminServer {
 public:
  // The HTTP library's own cap on a body it reads (none is ever needed).
  static constexpr std::size_t kMaxBodyBytes = 1024;
  static constexpr std::chrono::seconds kReadTimeout{5};
  static constexpr std::chrono::seconds kWriteTimeout{5};
  // A control plane call made for a request gives up after this long (504).
  static constexpr std::chrono::seconds kCallTimeout{5};

  // Start binds the public address and serves. Errors: those of ControlGateway::Start for the
  // address; INVALID_ARGUMENT when a TLS file cannot be loaded (the HTTP library says no more);
  // UNAVAILABLE when no private loopback port can be bound. Nothing is left running on error.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(AdminServerOptions options,
                                                            AdminSources sources,
                                                            const Authenticator* auth);
  ~AdminServer();  // Stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // port returns the public TCP port (bound at Start; still reported after Stop).
  int port() const { return port_; }
  // gateway: the public endpoint, for a hand-off of its listening socket.
  ControlGateway& gateway() { return *gateway_; }

  // Stop closes the public endpoint (and every connection through it), then stops the HTTP
  // server and joins its threads; requests in progress finish first. Idempotent.
  void Stop();

 private:
  AdminServer(std::unique_ptr<httplib::Server> http, AdminSources sources,
              const Authenticator* auth);

  // Route registers every route and the pre-routing checks (method, auth) on http_.
  void Route();

  std::unique_ptr<httplib::Server> http_;
  const AdminSources sources_;
  const Authenticator* const auth_;
  std::unique_ptr<ControlGateway> gateway_;
  int port_ = 0;
  // Runs the HTTP library's accept loop; listen_returned_ once that loop has ended.
  std::thread listener_;
  std::atomic<bool> listen_returned_{false};
};

}  // namespace weft::control::admin
