// Conversions from Weft's library types to the weft.control.v1 messages.
#pragma once

#include <string>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/event_hub.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "weft/base/proto_time.h"
#include "weft/control/v1/control.pb.h"
#include "weft/task.h"

namespace weft::control {

// ServerToProto describes a managed server as it is now.
v1::Server ServerToProto(const ManagedServer& server);
// ServerToProto with the figures of `stats`, taken from server.server->stats() by the caller
// (who also reads what the message does not carry, such as the connection durations).
v1::Server ServerToProto(const ManagedServer& server, const ServerStats& stats);

// TaskToProto describes a task of `server`.
v1::Task TaskToProto(const TaskInfo& task, const std::string& server);

// EventToProto renders an event (sequence set by the caller).
v1::Event EventToProto(const NamedEvent& event);

// ProcessToProto describes the process of `snapshot` (ProcessInfo::Snapshot), running
// `version`; `peer` is set only when the snapshot has one.
v1::Process ProcessToProto(const ProcessSnapshot& snapshot, absl::string_view version);

// DurationFromProto validates a request duration (the plain conversions, TimeToProto and
// friends, are in weft/base/proto_time.h): INVALID_ARGUMENT naming `field` if it is
// malformed (seconds and nanos of different signs, nanos out of range), negative, or above
// `max`.
absl::StatusOr<absl::Duration> DurationFromProto(const google::protobuf::Duration& duration,
                                                 const char* field, absl::Duration max);

}  // namespace weft::control
