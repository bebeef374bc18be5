#include "weft/base/proto_time.h"

#include <google/protobuf/util/time_util.h>

#include <cstdint>
#include <limits>

namespace weft {
namespace {

using google::protobuf::util::TimeUtil;

// The whole seconds an int64 count of nanoseconds holds without overflow, less a margin for a
// `nanos` field anywhere in int32's range (about ±2.1 s).
constexpr std::int64_t kMaxNanosecondSeconds =
    std::numeric_limits<std::int64_t>::max() / 1000000000 - 3;

}  // namespace

google::protobuf::Timestamp TimeToProto(absl::Time time) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

google::protobuf::Duration DurationToProto(absl::Duration duration) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(duration));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() >= kMaxNanosecondSeconds) return absl::InfiniteFuture();
  if (timestamp.seconds() <= -kMaxNanosecondSeconds) return absl::InfinitePast();
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(timestamp));
}

absl::Duration DurationFromProto(const google::protobuf::Duration& duration) {
  if (duration.seconds() >= kMaxNanosecondSeconds) return absl::InfiniteDuration();
  if (duration.seconds() <= -kMaxNanosecondSeconds) return -absl::InfiniteDuration();
  return absl::Nanoseconds(TimeUtil::DurationToNanoseconds(duration));
}

}  // namespace weft
