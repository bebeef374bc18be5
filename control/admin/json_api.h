// The admin endpoint's JSON API: control plane calls made on its in-process channel for an HTTP
// request, answered in the proto3 JSON mapping (the schema gRPC clients get).
#pragma once

#include <grpcpp/client_context.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control::admin {

// JsonReply: an HTTP status and a JSON body.
struct JsonReply {
  int http_status = 200;
  std::string body;
};

// ControlCall: a control plane call made for one admin request.
struct ControlCall {
  // A stub on the control plane's in-process channel (stubs are thread-safe). Borrowed.
  v1::Control::Stub* stub = nullptr;
  // The request's Authorization header value, forwarded as gRPC metadata; empty = none.
  std::string authorization;
  // The call's deadline from now.
  std::chrono::milliseconds timeout{5000};
};

// CallControl runs one unary Control method (e.g. &v1::Control::Stub::ListTasks) as `call`
// says: the request's Authorization header as metadata, `call.timeout` as the deadline.
template <typename Request, typename Response>
grpc::Status CallControl(const ControlCall& call,
                         grpc::Status (v1::Control::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                         const Request& request, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + call.timeout);
  if (!call.authorization.empty()) context.AddMetadata("authorization", call.authorization);
  return (call.stub->*method)(&context, request, response);
}

// ListServersJson calls ListServers with `page_size` (decimal text, empty = default) and
// `page_token`. A malformed page_size gives 400 without a call.
JsonReply ListServersJson(const ControlCall& call, const std::string& page_size,
                          const std::string& page_token);

// GetProcessJson calls GetProcess.
JsonReply GetProcessJson(const ControlCall& call);

// ListTasksJson calls ListTasks for `server`, paged as ListServersJson.
JsonReply ListTasksJson(const ControlCall& call, const std::string& server,
                        const std::string& page_size, const std::string& page_token);

// ToJson renders `message` in the proto3 JSON mapping with every field present (zeros
// included), so dashboards need no defaults.
std::string ToJson(const google::protobuf::Message& message);

// ErrorJson: {"error": {"code": HTTP, "status": "NOT_FOUND", "message": "..."}}, with the HTTP
// status HttpStatusFor(status.code()).
JsonReply ErrorJson(const absl::Status& status);

// HttpStatusFor maps a canonical code to an HTTP status as Google's JSON APIs do (NOT_FOUND 404,
// INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, FAILED_PRECONDITION 400,
// UNAVAILABLE 503, DEADLINE_EXCEEDED 504, RESOURCE_EXHAUSTED 429, others 500).
int HttpStatusFor(absl::StatusCode code);

}  // namespace weft::control::admin
