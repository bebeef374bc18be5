#include "control/admin/rpc_metrics.h"

#include <grpcpp/server_context.h>
#include <grpcpp/support/interceptor.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "weft/base/log.h"

namespace weft::control::admin {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

// The names of Go's codes.Code String(), indexed by code, as go-grpc-prometheus labels them.
constexpr const char* kCodeNames[] = {
    "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated",
};

// prometheus.DefBuckets, go-grpc-prometheus's default for the handling-time histogram.
const std::vector<double>& HandlingBuckets() {
  static const auto* const buckets =
      new std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

// gRPC's deadline timer counts in milliseconds and may cancel a call up to a millisecond
// before its deadline; a cancellation this close to the deadline is the deadline's.
constexpr std::chrono::milliseconds kDeadlineSlack(10);

const char* TypeName(bool client_streaming, bool server_streaming) {
  if (client_streaming && server_streaming) return "bidi_stream";
  if (client_streaming) return "client_stream";
  if (server_streaming) return "server_stream";
  return "unary";
}

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return TypeName(false, false);
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return TypeName(true, false);
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return TypeName(false, true);
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return TypeName(true, true);
  }
  LOG(FATAL) << "unknown ServerRpcInfo::Type " << static_cast<int>(type);
}

// SplitFullName splits "/pkg.Service/Method" as go-grpc-prometheus does: "unknown" for both
// when there is no second slash.
std::pair<absl::string_view, absl::string_view> SplitFullName(absl::string_view full_name) {
  if (!full_name.empty() && full_name.front() == '/') full_name.remove_prefix(1);
  const size_t slash = full_name.find('/');
  if (slash == absl::string_view::npos) return {"unknown", "unknown"};
  return {full_name.substr(0, slash), full_name.substr(slash + 1)};
}

}  // namespace

RpcMetrics::Method::Method(absl::string_view service, absl::string_view name, const char* type,
                           bool all_codes)
    : service(service),
      name(name),
      type(type),
      all_codes(all_codes),
      handling_seconds(HandlingBuckets()) {}

// MethodInterceptor: times and counts one RPC of one method.
class RpcMetrics::MethodInterceptor final : public grpc::experimental::Interceptor {
 public:
  MethodInterceptor(Method* method, grpc::ServerContextBase* context)
      : method_(method), context_(context), start_(std::chrono::steady_clock::now()) {
    method_->started.fetch_add(1, std::memory_order_relaxed);
  }

  // An RPC torn down without a status counts as Canceled. (The context is not consulted here:
  // the interceptor may be destroyed by the context's own destructor.)
  ~MethodInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(CodeSeenByClient(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  // CodeSeenByClient is `sent`, unless the call was cancelled (the client went away, or its
  // deadline passed) and the client never gets it: then what the client saw, Canceled or
  // DeadlineExceeded. (Handlers answer a cancellation with codes of their choosing; gRPC's own
  // health service says UNKNOWN.)
  grpc::StatusCode CodeSeenByClient(grpc::StatusCode sent) const {
    if (context_ == nullptr || !context_->IsCancelled()) return sent;
    return context_->deadline() <= std::chrono::system_clock::now() + kDeadlineSlack
               ? grpc::StatusCode::DEADLINE_EXCEEDED
               : grpc::StatusCode::CANCELLED;
  }

  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const auto index = static_cast<size_t>(code);
    method_->handled[index < kCodes ? index : static_cast<size_t>(grpc::StatusCode::UNKNOWN)]
        .fetch_add(1, std::memory_order_relaxed);
    method_->handling_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

  Method* const method_;
  grpc::ServerContextBase* const context_;  // gRPC's; outlives this interceptor
  const std::chrono::steady_clock::time_point start_;
  // gRPC runs one RPC's interception points one after another, never concurrently.
  bool recorded_ = false;
};

class RpcMetrics::InterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit InterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (info->method() == nullptr) return nullptr;
    Method* method = metrics_->FindOrAdd(info->method(), TypeName(info->type()),
                                         /*all_codes=*/false);
    return method == nullptr ? nullptr : new MethodInterceptor(method, info->server_context());
  }

 private:
  RpcMetrics* const metrics_;
};

RpcMetrics::RpcMetrics() = default;
RpcMetrics::~RpcMetrics() = default;

RpcMetrics::Method* RpcMetrics::FindOrAdd(absl::string_view full_name, const char* type,
                                          bool all_codes) {
  MutexLock lock(&mu_);
  if (auto it = methods_.find(full_name); it != methods_.end()) return it->second.get();
  if (methods_.size() >= kMaxMethods) {
    LOG_EVERY_N(WARNING, 100) << "gRPC metrics: " << kMaxMethods
                              << " methods tracked already; not counting " << full_name;
    return nullptr;
  }
  const auto [service, name] = SplitFullName(full_name);
  auto method = std::make_unique<Method>(service, name, type, all_codes);
  Method* result = method.get();
  methods_.emplace(std::string(full_name), std::move(method));
  return result;
}

void RpcMetrics::RegisterService(const google::protobuf::ServiceDescriptor& service) {
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor& method = *service.method(i);
    FindOrAdd(absl::StrCat("/", service.full_name(), "/", method.name()),
              TypeName(method.client_streaming(), method.server_streaming()),
              /*all_codes=*/true);
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::NewInterceptorFactory() {
  return std::make_unique<InterceptorFactory>(this);
}

void RpcMetrics::Append(MetricsWriter& writer) const {
  static_assert(std::size(kCodeNames) == kCodes);
  // Methods are never removed, so the pointers outlive the lock, and rendering (the slow part)
  // does not hold up RPCs looking their method up.
  std::vector<const Method*> methods;
  {
    MutexLock lock(&mu_);
    methods.reserve(methods_.size());
    for (const auto& [full_name, method] : methods_) methods.push_back(method.get());
  }
  const auto labels = [](const Method& method) {
    return std::vector<Label>{
        {"grpc_type", method.type}, {"grpc_service", method.service}, {"grpc_method", method.name}};
  };
  writer.Family("grpc_server_started_total", MetricType::kCounter,
                "Total number of RPCs started on the server.");
  for (const Method* method : methods) {
    writer.Sample("grpc_server_started_total", labels(*method),
                  static_cast<double>(method->started.load(std::memory_order_relaxed)));
  }
  writer.Family("grpc_server_handled_total", MetricType::kCounter,
                "Total number of RPCs completed on the server, regardless of success or failure.");
  for (const Method* method : methods) {
    std::vector<Label> with_code = labels(*method);
    with_code.push_back({"grpc_code", ""});
    for (size_t code = 0; code < kCodes; ++code) {
      const std::uint64_t count = method->handled[code].load(std::memory_order_relaxed);
      if (count == 0 && !method->all_codes) continue;
      with_code.back().value = kCodeNames[code];
      writer.Sample("grpc_server_handled_total", with_code, static_cast<double>(count));
    }
  }
  writer.Family("grpc_server_handling_seconds", MetricType::kHistogram,
                "Histogram of response latency (seconds) of gRPC that had been application-level "
                "handled by the server.");
  for (const Method* method : methods) {
    writer.Histogram("grpc_server_handling_seconds", labels(*method),
                     method->handling_seconds.Snapshot());
  }
}

}  // namespace weft::control::admin
