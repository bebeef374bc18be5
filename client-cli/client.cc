#include "client-cli/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

constexpr char kUnreachablePayload[] = "type.weft.dev/weftctl.Unreachable";
constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;
constexpr std::size_t kMaxPemFileBytes = 1024 * 1024;
// Tasks and servers are fetched in pages of this size (the server's maximum).
constexpr int kPageSize = 1000;
// A paging loop stops after this many pages: more would mean a server handing out tokens that
// never end.
constexpr int kMaxPages = 100000;
// When StopServer runs without --drain and the server reports no drain_timeout.
constexpr absl::Duration kFallbackDrain = absl::Seconds(30);
constexpr absl::Duration kDefaultStopTaskTimeout = absl::Seconds(5);

// ReadLocalFile reads a small file named by `flag`; errors are usage errors naming both.
absl::StatusOr<std::string> ReadLocalFile(absl::string_view flag, const std::string& path,
                                          std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::string contents;
  struct stat st {};
  absl::Status status;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": not a regular file"));
  }
  char buffer[4096];
  while (status.ok()) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path, ": cannot read: ", std::strerror(errno)));
    } else if (n == 0) {
      break;
    } else if (contents.size() + static_cast<std::size_t>(n) > max_bytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path, ": larger than ", max_bytes, " bytes"));
    } else {
      contents.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

absl::StatusOr<std::string> ReadPem(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> pem = ReadLocalFile(flag, path, kMaxPemFileBytes);
  if (pem.ok() && !absl::StrContains(*pem, "-----BEGIN")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": holds no PEM block"));
  }
  return pem;
}

// Object names a server in an action, e.g. Object("stop", "web") is `stop server "web"`.
std::string Object(absl::string_view verb, absl::string_view server) {
  return absl::StrCat(verb, verb.empty() ? "" : " ", "server \"", absl::CHexEscape(server), "\"");
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration duration) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             absl::ToChronoNanoseconds(duration));
}

}  // namespace

absl::Status MarkUnreachable(absl::Status status) {
  status.SetPayload(kUnreachablePayload, absl::Cord("1"));
  return status;
}

bool IsUnreachable(const absl::Status& status) {
  return status.GetPayload(kUnreachablePayload).has_value();
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsUnreachable(status)) return kExitUnreachable;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitDenied;
    default:
      return kExitFailed;
  }
}

absl::StatusOr<ClientConfig> LoadClientConfig(const GlobalOptions& global) {
  ClientConfig config;
  config.timeout = global.timeout;
  if (!global.token_file.empty()) {
    absl::StatusOr<std::string> contents =
        ReadLocalFile("--token-file", global.token_file, kMaxTokenFileBytes);
    if (!contents.ok()) return contents.status();
    const absl::string_view token = absl::StripAsciiWhitespace(*contents);
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file ", global.token_file, ": holds no token"));
    }
    for (char c : token) {
      if (c < 0x21 || c > 0x7e) {
        // Never quote the token.
        return absl::InvalidArgumentError(
            absl::StrCat("--token-file ", global.token_file,
                         ": the token has a byte outside printable ASCII (0x21-0x7e)"));
      }
    }
    config.token = std::string(token);
  }
  if (global.tls()) {
    grpc::SslCredentialsOptions options;
    if (!global.tls_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadPem("--tls-ca", global.tls_ca);
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = *std::move(ca);
    }
    if (!global.tls_cert.empty()) {
      absl::StatusOr<std::string> cert = ReadPem("--tls-cert", global.tls_cert);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadPem("--tls-key", global.tls_key);
      if (!key.ok()) return key.status();
      options.pem_cert_chain = *std::move(cert);
      options.pem_private_key = *std::move(key);
    }
    config.credentials = grpc::SslCredentials(options);
    config.tls = true;
  } else {
    config.credentials = grpc::InsecureChannelCredentials();
  }
  return config;
}

void CancelGroup::Add(grpc::ClientContext* context) {
  MutexLock lock(&mu_);
  contexts_.push_back(context);
  if (cancelled_) context->TryCancel();
}

void CancelGroup::Remove(grpc::ClientContext* context) {
  MutexLock lock(&mu_);
  contexts_.erase(std::remove(contexts_.begin(), contexts_.end(), context), contexts_.end());
}

void CancelGroup::CancelAll() {
  MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool CancelGroup::cancelled() const {
  MutexLock lock(&mu_);
  return cancelled_;
}

TargetClient::TargetClient(Target target, const ClientConfig& config, CancelGroup* cancel)
    : target_(std::move(target)), config_(config), cancel_(cancel) {
  grpc::ChannelArguments args;
  // `top` reconnects within a second or so of a weftd restart. Not GRPC_ARG_MIN_RECONNECT_
  // BACKOFF_MS: gRPC uses it as the minimum connect timeout, and a small one fails slow (TLS)
  // handshakes; the call deadline (--timeout) is what bounds connecting.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  channel_ = grpc::CreateCustomChannel(target_.channel_target, config_.credentials, args);
  control_ = v1::Control::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> TargetClient::Context(absl::Duration extra) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (extra != absl::InfiniteDuration()) {
    context->set_deadline(DeadlineAfter(config_.timeout + extra));
  }
  if (!config_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", config_.token));
  }
  if (cancel_ != nullptr) cancel_->Add(context.get());
  return context;
}

void TargetClient::Release(grpc::ClientContext* context) {
  if (cancel_ != nullptr) cancel_->Remove(context);
}

absl::Status TargetClient::Failure(const grpc::Status& status, absl::string_view action,
                                   absl::Duration deadline) {
  const std::string& name = target_.name;
  const std::string& message = status.error_message();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kCancelled && cancel_ != nullptr && cancel_->cancelled()) {
    return absl::CancelledError(absl::StrCat("interrupted while talking to ", name));
  }
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
    // The server's own UNAVAILABLE (e.g. RunServer: address in use) and a slow call arrive on a
    // connected channel; anything else means weftctl never got through.
    if (channel_->GetState(false) != GRPC_CHANNEL_READY) {
      const std::string why =
          code == absl::StatusCode::kDeadlineExceeded
              ? absl::StrCat("no connection within ", absl::FormatDuration(config_.timeout))
              : message;
      return MarkUnreachable(absl::Status(code, absl::StrCat("cannot reach ", name, ": ", why)));
    }
    if (code == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(
          absl::StrCat("cannot ", action, " on ", name, ": no answer within ",
                       absl::FormatDuration(deadline), " (raise --timeout)"));
    }
  }
  if (code == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat(message, " on ", name));
  }
  std::string why = message;
  if (code == absl::StatusCode::kUnauthenticated) {
    why = absl::StrCat(
        "unauthenticated: ", message,
        config_.token.empty() ? "; pass --token-file FILE or set WEFT_TOKEN_FILE" : "");
  } else if (code == absl::StatusCode::kPermissionDenied) {
    why = absl::StrCat("permission denied: ", message);
  }
  return absl::Status(code, absl::StrCat("cannot ", action, " on ", name, ": ", why));
}

template <typename Response, typename Call>
absl::StatusOr<Response> TargetClient::Unary(absl::string_view action, Call call,
                                             absl::Duration extra) {
  std::unique_ptr<grpc::ClientContext> context = Context(extra);
  Response response;
  const grpc::Status status = call(context.get(), &response);
  Release(context.get());
  if (!status.ok()) return Failure(status, action, config_.timeout + extra);
  return response;
}

absl::StatusOr<std::vector<v1::Server>> TargetClient::ListServers() {
  std::vector<v1::Server> servers;
  v1::ListServersRequest request;
  request.set_page_size(kPageSize);
  absl::flat_hash_set<std::string> tokens;
  for (int page = 0; page < kMaxPages; ++page) {
    absl::StatusOr<v1::ListServersResponse> response = Unary<v1::ListServersResponse>(
        "list servers", [&](grpc::ClientContext* c, v1::ListServersResponse* r) {
          return control_->ListServers(c, request, r);
        });
    if (!response.ok()) return response.status();
    for (v1::Server& server : *response->mutable_servers()) servers.push_back(std::move(server));
    if (response->next_page_token().empty()) return servers;
    if (!tokens.insert(response->next_page_token()).second) break;
    request.set_page_token(response->next_page_token());
  }
  return absl::InternalError(
      absl::StrCat("ListServers on ", target_.name, " returned a page token twice"));
}

absl::StatusOr<v1::Server> TargetClient::GetServer(const std::string& name) {
  v1::GetServerRequest request;
  request.set_name(name);
  return Unary<v1::Server>(Object("get", name), [&](grpc::ClientContext* c, v1::Server* r) {
    return control_->GetServer(c, request, r);
  });
}

absl::StatusOr<v1::Process> TargetClient::GetProcess() {
  return Unary<v1::Process>("get the process", [&](grpc::ClientContext* c, v1::Process* r) {
    return control_->GetProcess(c, v1::GetProcessRequest(), r);
  });
}

absl::StatusOr<std::vector<v1::AuditRecord>> TargetClient::ListAuditRecords(
    std::uint32_t limit) {
  std::vector<v1::AuditRecord> records;
  v1::ListAuditRecordsRequest request;
  absl::flat_hash_set<std::string> tokens;
  while (records.size() < limit) {
    request.set_page_size(static_cast<std::int32_t>(
        std::min<std::size_t>(limit - records.size(), static_cast<std::size_t>(kPageSize))));
    absl::StatusOr<v1::ListAuditRecordsResponse> response = Unary<v1::ListAuditRecordsResponse>(
        "list the audit records", [&](grpc::ClientContext* c, v1::ListAuditRecordsResponse* r) {
          return control_->ListAuditRecords(c, request, r);
        });
    if (!response.ok()) return response.status();
    for (v1::AuditRecord& record : *response->mutable_records()) {
      if (records.size() < limit) records.push_back(std::move(record));
    }
    if (response->next_page_token().empty()) break;
    if (!tokens.insert(response->next_page_token()).second) {
      return absl::InternalError(
          absl::StrCat("ListAuditRecords on ", target_.name, " returned a page token twice"));
    }
    request.set_page_token(response->next_page_token());
  }
  return records;
}

absl::StatusOr<v1::Server> TargetClient::RunServer(const std::string& name) {
  v1::RunServerRequest request;
  request.set_name(name);
  return Unary<v1::Server>(Object("run", name), [&](grpc::ClientContext* c, v1::Server* r) {
    return control_->RunServer(c, request, r);
  });
}

absl::StatusOr<v1::Server> TargetClient::StopAccepting(const std::string& name) {
  v1::StopAcceptingRequest request;
  request.set_name(name);
  return Unary<v1::Server>(Object("stop accepting on", name),
                           [&](grpc::ClientContext* c, v1::Server* r) {
                             return control_->StopAccepting(c, request, r);
                           });
}

absl::StatusOr<v1::StopServerResponse> TargetClient::StopServer(
    const std::string& name, std::optional<absl::Duration> drain) {
  v1::StopServerRequest request;
  request.set_name(name);
  absl::Duration extra = kFallbackDrain;
  if (drain.has_value()) {
    *request.mutable_drain_timeout() = DurationToProto(*drain);
    extra = *drain;
  } else {
    // The call may take the server's configured drain: learn it to set the deadline.
    absl::StatusOr<v1::Server> server = GetServer(name);
    if (!server.ok()) return server.status();
    if (server->has_drain_timeout()) extra = DurationFromProto(server->drain_timeout());
  }
  return Unary<v1::StopServerResponse>(
      Object("stop", name),
      [&](grpc::ClientContext* c, v1::StopServerResponse* r) {
        return control_->StopServer(c, request, r);
      },
      extra);
}

absl::StatusOr<v1::Server> TargetClient::UpdateMaxConnections(const std::string& name,
                                                              std::uint32_t max_connections) {
  v1::UpdateServerRequest request;
  request.set_name(name);
  request.set_max_connections(max_connections);
  return Unary<v1::Server>(Object("update", name), [&](grpc::ClientContext* c, v1::Server* r) {
    return control_->UpdateServer(c, request, r);
  });
}

absl::StatusOr<std::vector<v1::Task>> TargetClient::ListTasks(
    const std::string& server, std::optional<absl::Duration> min_age,
    std::optional<absl::Duration> min_idle, const v1::TaskFilter& filter,
    const std::string& order_by) {
  std::vector<v1::Task> tasks;
  v1::ListTasksRequest request;
  request.set_server(server);
  request.set_page_size(kPageSize);
  if (filter.ByteSizeLong() > 0) *request.mutable_filter() = filter;
  request.set_order_by(order_by);
  if (min_age.has_value()) *request.mutable_min_age() = DurationToProto(*min_age);
  if (min_idle.has_value()) *request.mutable_min_idle() = DurationToProto(*min_idle);
  absl::flat_hash_set<std::string> tokens;
  for (int page = 0; page < kMaxPages; ++page) {
    absl::StatusOr<v1::ListTasksResponse> response = Unary<v1::ListTasksResponse>(
        Object("list the tasks of", server), [&](grpc::ClientContext* c, v1::ListTasksResponse* r) {
          return control_->ListTasks(c, request, r);
        });
    if (!response.ok()) return response.status();
    for (v1::Task& task : *response->mutable_tasks()) tasks.push_back(std::move(task));
    if (response->next_page_token().empty()) return tasks;
    if (!tokens.insert(response->next_page_token()).second) break;
    request.set_page_token(response->next_page_token());
  }
  return absl::InternalError(
      absl::StrCat("ListTasks on ", target_.name, " returned a page token twice"));
}

absl::StatusOr<v1::StopTaskResponse> TargetClient::StopTask(const std::string& server,
                                                            std::uint64_t id,
                                                            std::optional<absl::Duration> timeout) {
  v1::StopTaskRequest request;
  request.set_server(server);
  request.set_task_id(id);
  if (timeout.has_value()) *request.mutable_timeout() = DurationToProto(*timeout);
  return Unary<v1::StopTaskResponse>(
      absl::StrCat("stop task ", id, " of ", Object("", server)),
      [&](grpc::ClientContext* c, v1::StopTaskResponse* r) {
        return control_->StopTask(c, request, r);
      },
      timeout.value_or(kDefaultStopTaskTimeout));
}

absl::StatusOr<v1::StopTasksResponse> TargetClient::StopTasks(const v1::StopTasksRequest& request) {
  return Unary<v1::StopTasksResponse>(
      absl::StrCat(request.dry_run() ? "select" : "stop", " tasks of ",
                   Object("", request.server())),
      [&](grpc::ClientContext* c, v1::StopTasksResponse* r) {
        return control_->StopTasks(c, request, r);
      },
      request.has_timeout() ? DurationFromProto(request.timeout()) : kDefaultStopTaskTimeout);
}

absl::Status TargetClient::RemoveTask(const std::string& server, std::uint64_t id) {
  v1::RemoveTaskRequest request;
  request.set_server(server);
  request.set_task_id(id);
  return Unary<v1::RemoveTaskResponse>(absl::StrCat("remove task ", id, " of ", Object("", server)),
                                       [&](grpc::ClientContext* c, v1::RemoveTaskResponse* r) {
                                         return control_->RemoveTask(c, request, r);
                                       })
      .status();
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> TargetClient::CheckHealth(
    const std::string& service) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> response =
      Unary<grpc::health::v1::HealthCheckResponse>(
          service.empty() ? std::string("check health") : Object("check the health of", service),
          [&](grpc::ClientContext* c, grpc::health::v1::HealthCheckResponse* r) {
            return health_->Check(c, request, r);
          });
  if (!response.ok()) {
    if (absl::IsNotFound(response.status())) {
      return absl::NotFoundError(absl::StrCat("server \"", absl::CHexEscape(service),
                                              "\" not found on ", target_.name,
                                              " (it has no health status)"));
    }
    return response.status();
  }
  return response->status();
}

TargetClient::EventStream::EventStream(TargetClient* client,
                                       std::unique_ptr<grpc::ClientContext> context)
    : client_(client), context_(std::move(context)) {}

TargetClient::EventStream::~EventStream() {
  if (reader_ != nullptr) {
    context_->TryCancel();
    v1::Event ignored;
    while (reader_->Read(&ignored)) {
    }
    (void)reader_->Finish();
  }
  client_->Release(context_.get());
}

std::optional<v1::Event> TargetClient::EventStream::Next() {
  v1::Event event;
  if (reader_ == nullptr || !reader_->Read(&event)) return std::nullopt;
  return event;
}

absl::Status TargetClient::EventStream::Finish() {
  if (reader_ == nullptr) return absl::FailedPreconditionError("stream already finished");
  v1::Event ignored;
  while (reader_->Read(&ignored)) {
  }
  const grpc::Status status = reader_->Finish();
  reader_.reset();
  const std::string& name = client_->target_.name;
  if (client_->cancel_ != nullptr && client_->cancel_->cancelled()) return absl::OkStatus();
  if (status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the event stream from ", name, " ended (weftd is stopping)"));
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return MarkUnreachable(absl::UnavailableError(
        absl::StrCat("lost the event stream from ", name, ": ", status.error_message())));
  }
  return client_->Failure(status, "watch events", absl::InfiniteDuration());
}

absl::StatusOr<std::unique_ptr<TargetClient::EventStream>> TargetClient::Watch(
    const std::string& server) {
  // A unary call first: its deadline bounds connecting, and it reports NOT_FOUND and
  // authentication errors with the usual messages.
  if (!server.empty()) {
    if (absl::Status status = GetServer(server).status(); !status.ok()) return status;
  } else {
    v1::ListServersRequest request;
    request.set_page_size(1);
    absl::Status status =
        Unary<v1::ListServersResponse>("list servers", [&](grpc::ClientContext* c,
                                                           v1::ListServersResponse* r) {
          return control_->ListServers(c, request, r);
        }).status();
    if (!status.ok()) return status;
  }
  v1::WatchEventsRequest request;
  request.set_server(server);
  auto stream =
      std::unique_ptr<EventStream>(new EventStream(this, Context(absl::InfiniteDuration())));
  stream->reader_ = control_->WatchEvents(stream->context_.get(), request);
  // The server sends its headers once subscribed; after this, no event is missed.
  stream->reader_->WaitForInitialMetadata();
  return stream;
}

}  // namespace weft::cli
