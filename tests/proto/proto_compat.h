// BreakingChanges: the wire- and JSON-breaking differences between a released descriptor of a
// .proto file and the current one, in the spirit of buf's WIRE_JSON rules: every message, enum
// value, field and method of the baseline must still exist with the same number, name, type,
// label, oneof and streaming. New messages, fields, values and methods are allowed.
#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <string>
#include <vector>

namespace weft::testing {

// BreakingChanges returns one line per breaking difference, empty when `current` is a
// compatible evolution of `baseline`.
std::vector<std::string> BreakingChanges(const google::protobuf::FileDescriptorProto& baseline,
                                         const google::protobuf::FileDescriptorProto& current);

}  // namespace weft::testing
