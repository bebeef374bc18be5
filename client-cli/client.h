// The client side of weftctl: credentials from the global flags, one TargetClient per target
// wrapping the generated Control and Health stubs, deadlines, cancellation, and the mapping of
// failures to messages that name the target and to weftctl's exit codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client-cli/flags.h"
#include "client-cli/parse.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::cli {

namespace v1 = ::weft::control::v1;

// Exit codes of weftctl.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitDenied = 4;
inline constexpr int kExitUnreachable = 5;

// MarkUnreachable returns `status` marked as "the target could not be reached" (exit 5), whatever
// its code. IsUnreachable tells whether a status carries the mark.
absl::Status MarkUnreachable(absl::Status status);
bool IsUnreachable(const absl::Status& status);

// ExitCodeFor maps a command's result to the exit code: OK 0; unreachable (see MarkUnreachable)
// 5; INVALID_ARGUMENT 2; NOT_FOUND 3; UNAUTHENTICATED and PERMISSION_DENIED 4; anything else 1.
int ExitCodeFor(const absl::Status& status);

// ClientConfig: what every TargetClient shares, loaded once from the global flags.
struct ClientConfig {
  absl::Duration timeout = absl::Seconds(10);
  // The bearer token, without surrounding whitespace; empty = none.
  std::string token{};
  std::shared_ptr<grpc::ChannelCredentials> credentials{};
  bool tls = false;
};

// LoadClientConfig reads the token file and the TLS files named by `global`. INVALID_ARGUMENT
// (a usage error, exit 2) naming the file when one cannot be read or holds no token / no PEM.
// Blocks on file I/O.
[[nodiscard]] absl::StatusOr<ClientConfig> LoadClientConfig(const GlobalOptions& global);

// CancelGroup cancels in-flight calls from another thread (a signal watcher, a key press).
// Thread-safe.
class CancelGroup {
 public:
  // Add registers a context (owned by the caller, who must Remove it before destroying it);
  // after CancelAll, Add cancels the context at once.
  void Add(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);
  // CancelAll cancels every registered and every later context.
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);
  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // weft::Mutex, not absl::Mutex: Debian's Abseil is not TSan-instrumented (see
  // weft/base/sync.h); unlike a bare std::mutex, it lets clang check the annotations.
  mutable Mutex mu_;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// TargetClient: the calls weftctl makes to one target. Each call has a deadline of the
// configured timeout (plus `extra` where the server may legitimately take longer), carries the
// token, and returns errors whose messages name the target, e.g.
// `server "web" not found on 127.0.0.1:7070`; a target that cannot be reached within the
// timeout gives a status marked unreachable. Thread-compatible: one thread per TargetClient,
// except that `cancel` may be triggered from any thread.
class TargetClient {
 public:
  // `config` and `cancel` (may be null) outlive the client.
  TargetClient(Target target, const ClientConfig& config, CancelGroup* cancel = nullptr);

  const Target& target() const { return target_; }

  // ListServers follows next_page_token to the end.
  [[nodiscard]] absl::StatusOr<std::vector<v1::Server>> ListServers();
  [[nodiscard]] absl::StatusOr<v1::Server> GetServer(const std::string& name);
  [[nodiscard]] absl::StatusOr<v1::Server> RunServer(const std::string& name);
  [[nodiscard]] absl::StatusOr<v1::Server> StopAccepting(const std::string& name);
  // StopServer: the deadline is the timeout plus the drain (when `drain` is unset, plus the
  // server's configured drain_timeout, fetched first).
  [[nodiscard]] absl::StatusOr<v1::StopServerResponse> StopServer(
      const std::string& name, std::optional<absl::Duration> drain);
  [[nodiscard]] absl::StatusOr<v1::Server> UpdateMaxConnections(const std::string& name,
                                                                std::uint32_t max_connections);
  // ListTasks follows next_page_token to the end. `filter` and `order_by` are
  // ListTasksRequest's (empty: every task, id order).
  [[nodiscard]] absl::StatusOr<std::vector<v1::Task>> ListTasks(
      const std::string& server, std::optional<absl::Duration> min_age,
      std::optional<absl::Duration> min_idle, const v1::TaskFilter& filter = {},
      const std::string& order_by = "");
  // StopTasks: the deadline is the timeout plus the grace (`request.timeout`, else 5s).
  [[nodiscard]] absl::StatusOr<v1::StopTasksResponse> StopTasks(
      const v1::StopTasksRequest& request);
  [[nodiscard]] absl::StatusOr<v1::StopTaskResponse> StopTask(
      const std::string& server, std::uint64_t id, std::optional<absl::Duration> timeout);
  [[nodiscard]] absl::Status RemoveTask(const std::string& server, std::uint64_t id);
  [[nodiscard]] absl::StatusOr<v1::Process> GetProcess();
  // ListAuditRecords returns the newest `limit` audit records (fewer if the target keeps
  // fewer), newest first, following next_page_token as needed.
  [[nodiscard]] absl::StatusOr<std::vector<v1::AuditRecord>> ListAuditRecords(std::uint32_t limit);
  // CheckHealth: the grpc.health.v1 status of `service` ("" = overall).
  [[nodiscard]] absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
      const std::string& service);

  // EventStream: an open WatchEvents call. Next blocks for the next event; nullopt when the
  // stream ended, after which Finish gives the final status (OK if cancelled through the
  // CancelGroup).
  class EventStream {
   public:
    ~EventStream();
    std::optional<v1::Event> Next();
    [[nodiscard]] absl::Status Finish();

   private:
    friend class TargetClient;
    EventStream(TargetClient* client, std::unique_ptr<grpc::ClientContext> context);
    TargetClient* client_;
    std::unique_ptr<grpc::ClientContext> context_;
    std::unique_ptr<grpc::ClientReader<v1::Event>> reader_;
  };

  // Watch checks the target (and `server`, if not empty) with a unary call bounded by the
  // timeout, then opens the event stream (no deadline) and waits for the server to accept it.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<EventStream>> Watch(const std::string& server);

 private:
  // Context creates a registered call context with the token and a deadline of timeout + extra
  // (no deadline when `extra` is infinite).
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration extra = absl::ZeroDuration());
  void Release(grpc::ClientContext* context);
  // Failure turns a failed call's status into the status weftctl reports. NOT_FOUND keeps the
  // server's message, which names the object, and adds " on TARGET"; other failures read
  // "cannot ACTION on TARGET: why". A call that never got through (the channel is not
  // connected) gives an unreachable status. `deadline` is the call's, for the message.
  absl::Status Failure(const grpc::Status& status, absl::string_view action,
                       absl::Duration deadline);

  // Unary makes one call: `call(context, response)`; `action` says what it does, for messages,
  // e.g. `stop server "web"`.
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(absl::string_view action, Call call,
                                 absl::Duration extra = absl::ZeroDuration());

  Target target_;
  const ClientConfig& config_;
  CancelGroup* cancel_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> control_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace weft::cli
