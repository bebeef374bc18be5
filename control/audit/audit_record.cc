#include "control/audit/audit_record.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "weft/base/json.h"
#include "weft/base/log.h"

namespace weft::control::audit {
namespace {

using google::protobuf::FieldDescriptor;

// Utf8SequenceLength returns the length of the valid UTF-8 sequence at the start of `s`
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto continuation = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // Overlong.
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // Surrogate.
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // Overlong.
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // Above U+10FFFF.
    return 4;
  }
  return 0;
}

void SanitizeUtf8(std::string* text) {
  std::string_view rest = *text;
  std::string clean;
  bool changed = false;
  while (!rest.empty()) {
    const std::size_t length = Utf8SequenceLength(rest);
    if (length == 0) {
      clean.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      rest.remove_prefix(1);
      changed = true;
    } else {
      clean.append(rest.substr(0, length));
      rest.remove_prefix(length);
    }
  }
  if (changed) *text = std::move(clean);
}

google::protobuf::util::JsonPrintOptions PrintOptions() {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  return options;
}

// RequestToJson renders a request as JSON. A request may hold what the JSON mapping cannot
// express (a Duration beyond 10,000 years, which handlers refuse as INVALID_ARGUMENT): its
// arguments are then given in text format, as {"text_format": "..."}.
std::string RequestToJson(const google::protobuf::Message& request) {
  std::string json;
  if (google::protobuf::util::MessageToJsonString(request, &json, PrintOptions()).ok()) {
    return json;
  }
  return JsonDump(Json{{"text_format", request.ShortDebugString()}});
}

// StringField returns the message's singular string field `name`, or nullptr.
const FieldDescriptor* StringField(const google::protobuf::Message& message, const char* name) {
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  return field != nullptr && !field->is_repeated() && field->type() == FieldDescriptor::TYPE_STRING
             ? field
             : nullptr;
}

}  // namespace

std::string AuditRecordToJson(const v1::AuditRecord& record) {
  std::string json;
  // Fails only for an out-of-range time or duration, which AuditInterceptor never makes.
  const auto status = google::protobuf::util::MessageToJsonString(record, &json, PrintOptions());
  CHECK(status.ok()) << "cannot render an audit record as JSON: " << status;
  return json;
}

void SanitizeRecord(v1::AuditRecord& record) {
  for (std::string* text :
       {record.mutable_method(), record.mutable_resource(), record.mutable_caller(),
        record.mutable_role(), record.mutable_tls_subject(), record.mutable_peer(),
        record.mutable_code(), record.mutable_message(), record.mutable_request()}) {
    SanitizeUtf8(text);
  }
}

RequestDescription DescribeRequest(const google::protobuf::Message& request) {
  const google::protobuf::Reflection& reflection = *request.GetReflection();
  std::unique_ptr<google::protobuf::Message> arguments(request.New());
  arguments->CopyFrom(request);
  RequestDescription description;
  std::string server;
  for (const char* name : {"name", "server"}) {
    if (const FieldDescriptor* field = StringField(request, name); field != nullptr) {
      server = reflection.GetString(request, field);
      reflection.ClearField(arguments.get(), field);
    }
  }
  if (!server.empty()) description.resource = absl::StrCat("servers/", server);
  const FieldDescriptor* task_id = request.GetDescriptor()->FindFieldByName("task_id");
  if (task_id != nullptr && !task_id->is_repeated() &&
      task_id->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
    if (!server.empty()) {
      absl::StrAppend(&description.resource, "/tasks/", reflection.GetUInt64(request, task_id));
      reflection.ClearField(arguments.get(), task_id);
    }
  }
  description.arguments = RequestToJson(*arguments);
  return description;
}

}  // namespace weft::control::audit
