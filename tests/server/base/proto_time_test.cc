#include "weft/base/proto_time.h"

#include <limits>

#include "gtest/gtest.h"

namespace weft {
namespace {

TEST(ProtoTimeTest, TimesRoundTripToTheNanosecond) {
  for (const absl::Time time :
       {absl::UnixEpoch(), absl::FromUnixNanos(1'700'000'000'123'456'789), absl::FromUnixNanos(-1),
        absl::FromUnixSeconds(-86400) + absl::Nanoseconds(5)}) {
    const google::protobuf::Timestamp proto = TimeToProto(time);
    EXPECT_GE(proto.nanos(), 0);
    EXPECT_LT(proto.nanos(), 1'000'000'000);
    EXPECT_EQ(TimeFromProto(proto), time);
  }
  const google::protobuf::Timestamp proto = TimeToProto(absl::FromUnixNanos(3'000'000'007));
  EXPECT_EQ(proto.seconds(), 3);
  EXPECT_EQ(proto.nanos(), 7);
}

TEST(ProtoTimeTest, DurationsRoundTripWithTheSignOnBothFields) {
  for (const absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(1500), absl::Hours(-3),
                                 -absl::Nanoseconds(1'000'000'001), absl::Nanoseconds(1)}) {
    EXPECT_EQ(DurationFromProto(DurationToProto(d)), d);
  }
  const google::protobuf::Duration negative = DurationToProto(-absl::Milliseconds(1500));
  EXPECT_EQ(negative.seconds(), -1);
  EXPECT_EQ(negative.nanos(), -500'000'000);
}

TEST(ProtoTimeTest, ValuesBeyondInt64NanosecondsSaturate) {
  google::protobuf::Duration huge;
  huge.set_seconds(std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(DurationFromProto(huge), absl::InfiniteDuration());
  huge.set_seconds(std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(DurationFromProto(huge), -absl::InfiniteDuration());
  google::protobuf::Timestamp far;
  far.set_seconds(253402300799);  // 9999-12-31.
  EXPECT_EQ(TimeFromProto(far), absl::InfiniteFuture());
  far.set_seconds(-62135596800);  // 0001-01-01.
  EXPECT_EQ(TimeFromProto(far), absl::InfinitePast());
  EXPECT_GT(DurationToProto(absl::InfiniteDuration()).seconds(), 9'000'000'000);
}

}  // namespace
}  // namespace weft
