// TimeToProto, DurationToProto, TimeFromProto, DurationFromProto: absl::Time / absl::Duration
// <-> google.protobuf.Timestamp / Duration, through protobuf's TimeUtil.
//
// Part of weft::base: any Weft component may include it. Values beyond what an int64 count of
// nanoseconds holds (about 292 years either side of 1970 or of zero) saturate: to the
// largest/smallest proto value on the way out, to an infinite absl value on the way in.
// Validating what a peer sent (sign, range) is the caller's business. Thread-safe: no state.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace weft {

google::protobuf::Timestamp TimeToProto(absl::Time time);
google::protobuf::Duration DurationToProto(absl::Duration duration);
absl::Time TimeFromProto(const google::protobuf::Timestamp& timestamp);
absl::Duration DurationFromProto(const google::protobuf::Duration& duration);

}  // namespace weft
