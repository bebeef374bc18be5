#include "control/admin/admin_server.h"

#include <httplib.h>

#include <algorithm>
#include <exception>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/admin/json_api.h"
#include "control/admin/metrics_writer.h"
#include "weft/base/log.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control::admin {
namespace {

constexpr char kAllowedMethods[] = "GET, HEAD";
constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";
// The status page's scripts and styles are inline; it loads nothing from elsewhere.
constexpr char kStatusPolicy[] =
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'";
// Idle keep-alive connections are closed after this long.
constexpr time_t kKeepAliveSeconds = 5;
constexpr std::size_t kKeepAliveRequests = 100;
constexpr std::size_t kMaxWorkers = 16;

bool IsProbe(const std::string& path) { return path == "/healthz" || path == "/readyz"; }

bool IsKnownPath(const std::string& path) {
  return path == "/metrics" || path == "/status" || path == "/api/v1/servers" ||
         path == "/api/v1/process" || IsProbe(path) ||
         (absl::StartsWith(path, "/api/v1/servers/") && absl::EndsWith(path, "/tasks"));
}

void Reply(httplib::Response& response, int status, const std::string& body,
           const char* content_type) {
  response.status = status;
  response.set_content(body, content_type);
}

void ReplyJson(httplib::Response& response, const JsonReply& reply) {
  Reply(response, reply.http_status, reply.body, kJson);
}

// Authorization returns the request's Authorization header, or "" without one.
std::string Authorization(const httplib::Request& request) {
  return request.get_header_value("Authorization");
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(AdminServerOptions options,
                                                                AdminSources sources,
                                                                const Authenticator* auth) {
  std::unique_ptr<httplib::Server> http;
  if (options.tls.has_value()) {
    const TlsFiles& tls = *options.tls;
    http = std::make_unique<httplib::SSLServer>(
        tls.cert_file.c_str(), tls.key_file.c_str(),
        tls.client_ca_file.empty() ? nullptr : tls.client_ca_file.c_str());
    if (!http->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "admin endpoint: cannot load the TLS files (", tls.cert_file, ", ", tls.key_file,
          tls.client_ca_file.empty() ? "" : ", ", tls.client_ca_file, ")"));
    }
  } else {
    http = std::make_unique<httplib::Server>();
  }
  const std::size_t workers = std::clamp<std::size_t>(options.max_connections, 1, kMaxWorkers);
  http->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http->set_read_timeout(kReadTimeout);
  http->set_write_timeout(kWriteTimeout);
  http->set_keep_alive_timeout(kKeepAliveSeconds);
  http->set_keep_alive_max_count(kKeepAliveRequests);
  http->set_payload_max_length(kMaxBodyBytes);
  // An answer is written in pieces (headers, then body): without this, the second waits for
  // the gateway's delayed ACK of the first (40 ms on every keep-alive request).
  http->set_tcp_nodelay(true);
  const int backend_port = http->bind_to_any_port("127.0.0.1");
  if (backend_port <= 0) {
    return absl::UnavailableError("admin endpoint: cannot bind a private port on 127.0.0.1");
  }
  std::unique_ptr<AdminServer> server(new AdminServer(std::move(http), std::move(sources), auth));
  server->Route();
  ControlGatewayOptions gateway_options;
  gateway_options.name = "admin";
  gateway_options.address = options.address;
  gateway_options.listen_socket = std::move(options.listen_socket);
  gateway_options.backend_port = static_cast<std::uint16_t>(backend_port);
  gateway_options.max_connections = options.max_connections;
  absl::StatusOr<std::unique_ptr<ControlGateway>> gateway =
      ControlGateway::Start(std::move(gateway_options));
  if (!gateway.ok()) return gateway.status();
  server->gateway_ = std::move(*gateway);
  server->port_ = server->gateway_->port();
  // Connections the gateway relays meanwhile wait in the private port's backlog.
  server->listener_ = std::thread([server = server.get()] {
    if (!server->http_->listen_after_bind()) {
      LOG(ERROR) << "admin endpoint: the HTTP server stopped listening";
    }
    server->listen_returned_.store(true);
  });
  return server;
}

AdminServer::AdminServer(std::unique_ptr<httplib::Server> http, AdminSources sources,
                         const Authenticator* auth)
    : http_(std::move(http)), sources_(std::move(sources)), auth_(auth) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() {
  // The gateway first: closing its relays ends the HTTP workers' reads at once.
  gateway_.reset();
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing until its loop has started: wait for it (microseconds after
  // Start) or for the loop to have ended on its own.
  while (!http_->is_running() && !listen_returned_.load()) std::this_thread::yield();
  http_->stop();
  listener_.join();
}

void AdminServer::Route() {
  http_->set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        response.set_header("Cache-Control", "no-store");
        response.set_header("X-Content-Type-Options", "nosniff");
        if (request.method != "GET" && request.method != "HEAD") {
          if (!IsKnownPath(request.path)) {
            Reply(response, 404, "not found\n", kText);
          } else {
            response.set_header("Allow", kAllowedMethods);
            Reply(response, 405, absl::StrCat(request.method, " is not allowed; use GET\n"), kText);
          }
          return httplib::Server::HandlerResponse::Handled;
        }
        // Every route is a GET without a body; the HTTP library does not read a GET's body, so
        // after a successful answer it would be taken for the next request. Refuse any request
        // that carries one: after an error answer the library serves nothing more on that
        // connection (it closes it after kReadTimeout).
        if (request.has_header("Transfer-Encoding") ||
            (request.has_header("Content-Length") &&
             request.get_header_value("Content-Length") != "0")) {
          Reply(response, 413, "requests to this endpoint carry no body\n", kText);
          return httplib::Server::HandlerResponse::Handled;
        }
        if (IsProbe(request.path) || auth_ == nullptr || !auth_->enabled()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        std::multimap<grpc::string_ref, grpc::string_ref> metadata;
        std::vector<std::string> values;
        const std::size_t count = request.get_header_value_count("Authorization");
        values.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
          values.push_back(request.get_header_value("Authorization", i));
          metadata.emplace("authorization", values.back());
        }
        if (absl::StatusOr<Role> role = auth_->Authenticate(metadata); !role.ok()) {
          response.set_header("WWW-Authenticate", "Bearer realm=\"weft\"");
          ReplyJson(response, ErrorJson(role.status()));
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  http_->set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        LOG(ERROR) << "admin endpoint: " << request.method << " " << request.path
                   << " failed: " << what;
        Reply(response, 500, "internal error\n", kText);
      });
  // Errors the HTTP library answers itself (malformed request 400, unknown path 404, body too
  // large 413, URI too long 414) get a one-line text body.
  http_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.body.empty()) {
      Reply(response, response.status, absl::StrCat("HTTP error ", response.status, "\n"), kText);
    }
  });

  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    Reply(response, 200, "ok\n", kText);
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    if (sources_.ready()) {
      Reply(response, 200, "ready\n", kText);
    } else {
      Reply(response, 503, "not ready: draining or a listener is not serving\n", kText);
    }
  });
  if (sources_.metrics) {
    http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      Reply(response, 200, sources_.metrics(), kMetricsContentType);
    });
  }
  if (sources_.status_page) {
    http_->Get("/status", [this](const httplib::Request& request, httplib::Response& response) {
      response.set_header("Content-Security-Policy", kStatusPolicy);
      Reply(response, 200, sources_.status_page(Authorization(request)),
            "text/html; charset=utf-8");
    });
  }
  auto stub = std::shared_ptr<v1::Control::Stub>(v1::Control::NewStub(sources_.control_channel));
  http_->Get(
      "/api/v1/servers", [stub](const httplib::Request& request, httplib::Response& response) {
        ReplyJson(response,
                  ListServersJson(ControlCall{stub.get(), Authorization(request), kCallTimeout},
                                  request.get_param_value("pageSize"),
                                  request.get_param_value("pageToken")));
      });
  http_->Get(
      "/api/v1/process", [stub](const httplib::Request& request, httplib::Response& response) {
        ReplyJson(response,
                  GetProcessJson(ControlCall{stub.get(), Authorization(request), kCallTimeout}));
      });
  http_->Get(R"(/api/v1/servers/([^/]+)/tasks)", [stub](const httplib::Request& request,
                                                        httplib::Response& response) {
    ReplyJson(response, ListTasksJson(ControlCall{stub.get(), Authorization(request), kCallTimeout},
                                      request.matches[1], request.get_param_value("pageSize"),
                                      request.get_param_value("pageToken")));
  });
}

}  // namespace weft::control::admin
