#include "control/audit/audit_interceptor.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/time_util.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/interceptor.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control/audit/audit_record.h"

namespace weft::control::audit {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr absl::string_view kServicePrefix = "/weft.control.v1.Control/";

constexpr std::array<absl::string_view, 7> kAuditedMethods = {
    "RunServer", "StopAccepting", "StopServer", "UpdateServer",
    "StopTask",  "RemoveTask",    "StopTasks"};

// The canonical names of the codes (grpc::StatusCode 0 to 16), as in AuditRecord.code.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char* CodeName(grpc::StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  return index < kCodeNames.size() ? kCodeNames[index] : "UNKNOWN";
}

bool IsRefusal(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED;
}

// TlsSubject: the subject of the client's certificate, or "" without one.
std::string TlsSubject(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::vector<std::string> subjects;
  for (const grpc::string_ref& value : auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    subjects.emplace_back(value.data(), value.size());
  }
  return absl::StrJoin(subjects, "; ");
}

// AuditInterceptor: watches one call; records it when it is audited or refused.
class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(AuditTrail* trail, const Authenticator* auth, const PeerNamer* peer_namer,
                   grpc::ServerContextBase* context, absl::string_view method, bool audited)
      : trail_(trail),
        auth_(auth),
        peer_namer_(peer_namer),
        context_(context),
        audited_(audited),
        start_(std::chrono::steady_clock::now()) {
    record_.set_method(std::string(method));
    *record_.mutable_time() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  }

  // An audited call torn down without a status (the client went away before the handler
  // answered) is recorded as CANCELLED, with what was learnt before. The context is not
  // consulted here: the interceptor may be destroyed by the context's own destructor.
  ~AuditInterceptor() override {
    if (audited_ && !recorded_) Finish(grpc::StatusCode::CANCELLED, "the call was cancelled");
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Every method of the Control service takes a generated protobuf message, which gRPC
      // hands over as a void* to it.
      const auto* request =
          static_cast<const google::protobuf::Message*>(methods->GetRecvMessage());
      if (request != nullptr) {
        if (audited_) {
          Describe(*request);
          LearnCaller();
        } else {
          // Described only if refused; the request may be gone by then.
          request_.reset(request->New());
          request_->CopyFrom(*request);
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (audited_ || IsRefusal(status.error_code())) {
        if (!audited_ && request_ != nullptr) Describe(*request_);
        LearnCaller();
        Finish(status.error_code(), status.error_message());
      }
    }
    methods->Proceed();
  }

 private:
  void Describe(const google::protobuf::Message& request) {
    RequestDescription description = DescribeRequest(request);
    record_.set_resource(std::move(description.resource));
    record_.set_request(std::move(description.arguments));
  }

  // LearnCaller fills in who called, once, from the call's metadata and connection.
  void LearnCaller() {
    if (caller_known_ || context_ == nullptr) return;
    caller_known_ = true;
    if (absl::StatusOr<Caller> caller = auth_->Identify(context_->client_metadata()); caller.ok()) {
      record_.set_caller(caller->name);
      record_.set_role(std::string(RoleName(caller->role)));
    }
    record_.set_tls_subject(TlsSubject(*context_));
    const std::string peer = context_->peer();
    record_.set_peer(*peer_namer_ ? (*peer_namer_)(peer) : peer);
  }

  void Finish(grpc::StatusCode code, const std::string& message) {
    recorded_ = true;
    record_.set_code(CodeName(code));
    if (code != grpc::StatusCode::OK) record_.set_message(message);
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    *record_.mutable_duration() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    trail_->Record(std::move(record_));
  }

  AuditTrail* const trail_;
  const Authenticator* const auth_;
  const PeerNamer* const peer_namer_;
  grpc::ServerContextBase* const context_;  // gRPC's; outlives this interceptor
  const bool audited_;
  const std::chrono::steady_clock::time_point start_;
  // gRPC runs one call's interception points one after another, never concurrently.
  v1::AuditRecord record_;
  std::unique_ptr<google::protobuf::Message> request_;
  bool caller_known_ = false;
  bool recorded_ = false;
};

}  // namespace

bool IsAuditedMethod(absl::string_view method) {
  return std::find(kAuditedMethods.begin(), kAuditedMethods.end(), method) != kAuditedMethods.end();
}

AuditInterceptorFactory::AuditInterceptorFactory(AuditTrail* trail, const Authenticator* auth,
                                                 PeerNamer peer_namer)
    : trail_(trail), auth_(auth), peer_namer_(std::move(peer_namer)) {}

grpc::experimental::Interceptor* AuditInterceptorFactory::CreateServerInterceptor(
    ServerRpcInfo* info) {
  if (info->method() == nullptr) return nullptr;
  absl::string_view method = info->method();
  if (!absl::ConsumePrefix(&method, kServicePrefix)) return nullptr;
  return new AuditInterceptor(trail_, auth_, &peer_namer_, info->server_context(), method,
                              IsAuditedMethod(method));
}

}  // namespace weft::control::audit
