// Audit records as text: the JSON line a record is logged and filed as, and the resource and
// arguments of a request.
#pragma once

#include <google/protobuf/message.h>

#include <string>

#include "weft/control/v1/control.pb.h"

namespace weft::control::audit {

// AuditRecordToJson renders `record` as one line of JSON, without a newline: the proto3 JSON
// mapping of AuditRecord with its proto field names ("tls_subject", not "tlsSubject"), fields
// at their defaults omitted. Every string is JSON-escaped, so hostile text (quotes,
// backslashes, control bytes, newlines) cannot end the line or forge a field. Requires: the
// record's strings are valid UTF-8 (see SanitizeRecord). Thread-safe.
std::string AuditRecordToJson(const v1::AuditRecord& record);

// SanitizeRecord replaces every byte sequence of the record's strings that is not valid UTF-8
// with U+FFFD, so that the record serializes (proto3 strings must be UTF-8) and renders.
void SanitizeRecord(v1::AuditRecord& record);

// RequestDescription: what a control request acts on and with what.
struct RequestDescription {
  // "servers/NAME" for a request whose `name` or `server` field is set; with a `task_id` field
  // too, "servers/NAME/tasks/ID"; empty otherwise.
  std::string resource;
  // The request without those fields, in the proto3 JSON mapping with proto field names; "{}"
  // when nothing else is set.
  std::string arguments;
};

// DescribeRequest describes a request of the Control service (any message, by its field
// names, so methods added later are described without a change here). Thread-safe.
RequestDescription DescribeRequest(const google::protobuf::Message& request);

}  // namespace weft::control::audit
