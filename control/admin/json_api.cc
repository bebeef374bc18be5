#include "control/admin/json_api.h"

#include <google/protobuf/util/json_util.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control/status_conversion.h"
#include "nlohmann/json.hpp"
#include "weft/base/log.h"

namespace weft::control::admin {
namespace {

// ParsePageSize: empty = 0 (the server's default); the server checks the range.
absl::StatusOr<std::int32_t> ParsePageSize(const std::string& text) {
  std::int32_t value = 0;
  if (!text.empty() && !absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pageSize must be a decimal integer, got \"", text.substr(0, 32), "\""));
  }
  return value;
}

// Reply calls `method` and answers its response, or its error, in JSON.
template <typename Request, typename Response>
JsonReply Reply(const ControlCall& call,
                grpc::Status (v1::Control::Stub::*method)(grpc::ClientContext*, const Request&,
                                                          Response*),
                const Request& request) {
  Response response;
  const grpc::Status status = CallControl(call, method, request, &response);
  if (!status.ok()) return ErrorJson(FromGrpcStatus(status));
  return JsonReply{200, ToJson(response)};
}

}  // namespace

JsonReply ListServersJson(const ControlCall& call, const std::string& page_size,
                          const std::string& page_token) {
  absl::StatusOr<std::int32_t> size = ParsePageSize(page_size);
  if (!size.ok()) return ErrorJson(size.status());
  v1::ListServersRequest request;
  request.set_page_size(*size);
  request.set_page_token(page_token);
  return Reply(call, &v1::Control::Stub::ListServers, request);
}

JsonReply GetProcessJson(const ControlCall& call) {
  return Reply(call, &v1::Control::Stub::GetProcess, v1::GetProcessRequest());
}

JsonReply ListTasksJson(const ControlCall& call, const std::string& server,
                        const std::string& page_size, const std::string& page_token) {
  absl::StatusOr<std::int32_t> size = ParsePageSize(page_size);
  if (!size.ok()) return ErrorJson(size.status());
  v1::ListTasksRequest request;
  request.set_server(server);
  request.set_page_size(*size);
  request.set_page_token(page_token);
  return Reply(call, &v1::Control::Stub::ListTasks, request);
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing a valid message only fails on a broken descriptor pool: a bug.
  CHECK(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
  return json;
}

JsonReply ErrorJson(const absl::Status& status) {
  const int http = HttpStatusFor(status.code());
  const nlohmann::json body = {{"error",
                                {{"code", http},
                                 {"status", absl::StatusCodeToString(status.code())},
                                 {"message", std::string(status.message())}}}};
  // Replace invalid UTF-8 (a message quoting client bytes) rather than throw.
  return JsonReply{http, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace weft::control::admin
