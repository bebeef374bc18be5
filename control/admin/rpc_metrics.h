// RpcMetrics: the go-grpc-prometheus server metrics of a gRPC server, from an interceptor.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/strings/string_view.h"
#include "control/admin/metrics_writer.h"
#include "weft/base/histogram.h"
#include "weft/base/sync.h"

namespace weft::control::admin {

// RpcMetrics counts the RPCs of the gRPC servers it intercepts and renders them as
// go-grpc-prometheus does, so existing dashboards chart them unchanged:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}             counter
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}   counter
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}          histogram
// grpc_type is unary, client_stream, server_stream or bidi_stream; "/pkg.Service/Method" gives
// grpc_service "pkg.Service" and grpc_method "Method"; grpc_code is the Go name of the code
// (OK, Canceled, Unknown, InvalidArgument, ..., Unauthenticated). The handling-time buckets are
// Prometheus's default ones (5 ms to 10 s), from the RPC's arrival to its status being sent.
//
// A method shows up once it is first called, as in go-grpc-prometheus without
// InitializeMetrics; RegisterService makes every method of a service show up at once with
// zeros (started, handled for every code, an empty histogram), as InitializeMetrics does, so
// rate() and increase() see the first call. At most kMaxMethods methods are tracked; RPCs of
// further methods are not counted (and a warning logged), so a server cannot be made to grow
// the exposition without bound.
//
// An RPC the client cancelled counts as Canceled, and one whose deadline passed as
// DeadlineExceeded, whatever status the handler then returned: the client saw that code.
//
// Thread-safe: the interceptors record from gRPC's threads while Append renders. Recording
// an RPC is a lookup under a mutex plus a few relaxed atomic additions.
class RpcMetrics {
 public:
  static constexpr size_t kMaxMethods = 256;

  RpcMetrics();
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;
  ~RpcMetrics();

  // RegisterService pre-registers every method of `service` (see the class comment); call it
  // before the server serves: a method already called keeps showing only the codes it saw.
  // Calling it again for the same service changes nothing.
  void RegisterService(const google::protobuf::ServiceDescriptor& service);

  // NewInterceptorFactory returns a factory for
  // ServerBuilder::experimental().SetInterceptorCreators. The factory and its interceptors
  // refer to this object, which must outlive every server built with them.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // Append renders the three families (nothing if no method is known), methods in order of
  // their full names.
  void Append(MetricsWriter& writer) const;

 private:
  class InterceptorFactory;
  class MethodInterceptor;

  // kCodes: grpc::StatusCode values 0 (OK) to 16 (UNAUTHENTICATED).
  static constexpr size_t kCodes = 17;

  // Method: the counters of one method. Never removed, so a pointer to it stays valid for
  // this object's lifetime.
  struct Method {
    Method(absl::string_view service, absl::string_view name, const char* type, bool all_codes);

    const std::string service;
    const std::string name;
    const char* const type;  // grpc_type, a string literal.
    // Every code is rendered, zeros included (pre-registered); otherwise only codes seen.
    const bool all_codes;
    std::atomic<std::uint64_t> started{0};
    std::array<std::atomic<std::uint64_t>, kCodes> handled{};
    weft::base::Histogram handling_seconds;
  };

  // FindOrAdd returns the method named `full_name` ("/pkg.Service/Method"), adding it if
  // there is room; nullptr when kMaxMethods are tracked already.
  Method* FindOrAdd(absl::string_view full_name, const char* type, bool all_codes)
      ABSL_LOCKS_EXCLUDED(mu_);

  // weft::Mutex, not absl::Mutex: TSan can see it (weft/base/sync.h).
  mutable Mutex mu_;
  absl::btree_map<std::string, std::unique_ptr<Method>> methods_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::control::admin
