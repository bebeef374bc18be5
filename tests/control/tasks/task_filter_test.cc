// TaskFilter and Network: parsing, validation and matching, CIDR edge cases included.
#include "control/tasks/task_filter.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "weft/base/proto_time.h"

namespace weft::control {
namespace {

using ::testing::HasSubstr;

Network MustParse(const std::string& text) {
  absl::StatusOr<Network> network = Network::Parse(text);
  EXPECT_TRUE(network.ok()) << text << ": " << network.status();
  return network.ok() ? *network : *Network::Parse("0.0.0.0/0");
}

TEST(NetworkTest, AnIpv4BlockContainsExactlyItsAddresses) {
  const Network net = MustParse("10.0.0.0/8");
  EXPECT_TRUE(net.ContainsPeer("10.0.0.0:1"));
  EXPECT_TRUE(net.ContainsPeer("10.255.255.255:65535"));
  EXPECT_FALSE(net.ContainsPeer("11.0.0.0:1"));
  EXPECT_FALSE(net.ContainsPeer("9.255.255.255:1"));
}

TEST(NetworkTest, APrefixNotOnAByteBoundaryComparesOnlyItsBits) {
  const Network net = MustParse("192.168.0.0/23");
  EXPECT_TRUE(net.ContainsPeer("192.168.0.1:80"));
  EXPECT_TRUE(net.ContainsPeer("192.168.1.255:80"));
  EXPECT_FALSE(net.ContainsPeer("192.168.2.0:80"));
  const Network pair = MustParse("10.0.0.0/31");
  EXPECT_TRUE(pair.ContainsPeer("10.0.0.1:1"));
  EXPECT_FALSE(pair.ContainsPeer("10.0.0.2:1"));
}

TEST(NetworkTest, ASingleAddressIsAHostRoute) {
  const Network v4 = MustParse("127.0.0.1");
  EXPECT_TRUE(v4.ContainsPeer("127.0.0.1:5000"));
  EXPECT_FALSE(v4.ContainsPeer("127.0.0.2:5000"));
  const Network v6 = MustParse("::1");
  EXPECT_TRUE(v6.ContainsPeer("[::1]:5000"));
  EXPECT_FALSE(v6.ContainsPeer("[::2]:5000"));
  EXPECT_TRUE(MustParse("10.1.2.3/32").ContainsPeer("10.1.2.3:1"));
  EXPECT_FALSE(MustParse("10.1.2.3/32").ContainsPeer("10.1.2.4:1"));
}

TEST(NetworkTest, ZeroLengthPrefixesContainEveryAddressOfTheirFamilyOnly) {
  const Network all_v4 = MustParse("0.0.0.0/0");
  EXPECT_TRUE(all_v4.ContainsPeer("1.2.3.4:5"));
  EXPECT_TRUE(all_v4.ContainsPeer("255.255.255.255:5"));
  EXPECT_FALSE(all_v4.ContainsPeer("[::1]:5"));
  const Network all_v6 = MustParse("::/0");
  EXPECT_TRUE(all_v6.ContainsPeer("[fd00::1]:5"));
  EXPECT_FALSE(all_v6.ContainsPeer("1.2.3.4:5"));
}

TEST(NetworkTest, Ipv6BlocksAndIpv4MappedPeers) {
  const Network ula = MustParse("fd00::/8");
  EXPECT_TRUE(ula.ContainsPeer("[fdff:1::1]:443"));
  EXPECT_FALSE(ula.ContainsPeer("[fe80::1]:443"));
  EXPECT_TRUE(MustParse("2001:db8::/127").ContainsPeer("[2001:db8::1]:1"));
  EXPECT_FALSE(MustParse("2001:db8::/127").ContainsPeer("[2001:db8::2]:1"));
  // An IPv4-mapped peer counts as its IPv4 address.
  EXPECT_TRUE(MustParse("10.0.0.0/8").ContainsPeer("[::ffff:10.1.2.3]:80"));
  EXPECT_FALSE(ula.ContainsPeer("[::ffff:10.1.2.3]:80"));
}

TEST(NetworkTest, PeersThatAreNotIpEndpointsMatchNothing) {
  const Network all = MustParse("0.0.0.0/0");
  EXPECT_FALSE(all.ContainsPeer(""));
  EXPECT_FALSE(all.ContainsPeer("pipe"));
  EXPECT_FALSE(all.ContainsPeer("localhost:80"));
  EXPECT_FALSE(MustParse("::/0").ContainsPeer("[::1:80"));
}

TEST(NetworkTest, ParseRefusesMalformedBlocks) {
  for (const char* text :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "fd00::/129", "10.0.0.0/-1", "10.0.0.0/+8",
        "10.0.0.0/8x", "10.0.0.0/0008", "10.0.0/8", "256.0.0.0/8", "example.com", "10.0.0.0 /8",
        "::ffff:10.0.0.0/104", "::ffff:10.0.0.1"}) {
    absl::StatusOr<Network> network = Network::Parse(text);
    EXPECT_EQ(network.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << text << "\"";
  }
}

TEST(NetworkTest, ParseRefusesHostBitsBeyondThePrefix) {
  absl::StatusOr<Network> network = Network::Parse("10.0.0.1/8");
  EXPECT_EQ(network.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(network.status().message(), HasSubstr("beyond the prefix"));
  EXPECT_FALSE(Network::Parse("fd00::1/8").ok());
  EXPECT_TRUE(Network::Parse("10.0.0.0/08").ok()) << "a leading zero is still a number";
}

TaskInfo Task(TaskState state, std::string peer, absl::Duration age, absl::Duration idle,
              std::uint64_t bytes_in, std::uint64_t bytes_out, bool stuck = false) {
  TaskInfo task;
  task.id = 1;
  task.state = state;
  task.peer = std::move(peer);
  task.age = age;
  task.idle = idle;
  task.bytes_in = bytes_in;
  task.bytes_out = bytes_out;
  task.stuck = stuck;
  return task;
}

TaskFilter MustFilter(const v1::TaskFilter& proto) {
  absl::StatusOr<TaskFilter> filter = TaskFilter::FromProto(proto);
  EXPECT_TRUE(filter.ok()) << filter.status();
  return filter.ok() ? *filter : *TaskFilter::FromProto(v1::TaskFilter());
}

TEST(TaskFilterTest, AnEmptyFilterSelectsEveryTask) {
  const TaskFilter filter = MustFilter(v1::TaskFilter());
  EXPECT_TRUE(filter.empty());
  EXPECT_TRUE(filter.Matches(
      Task(TaskState::kQueued, "pipe", absl::ZeroDuration(), absl::ZeroDuration(), 0, 0)));
}

TEST(TaskFilterTest, EveryConditionMustHold) {
  v1::TaskFilter proto;
  proto.add_states(v1::TASK_STATE_RUNNING);
  proto.add_states(v1::TASK_STATE_STOPPING);
  proto.set_peer("10.0.0.0/8");
  *proto.mutable_min_idle() = DurationToProto(absl::Seconds(60));
  *proto.mutable_min_age() = DurationToProto(absl::Seconds(120));
  proto.set_min_bytes(10);
  proto.set_max_bytes(20);
  const TaskFilter filter = MustFilter(proto);
  EXPECT_FALSE(filter.empty());
  const TaskInfo match =
      Task(TaskState::kRunning, "10.1.1.1:80", absl::Seconds(120), absl::Seconds(60), 4, 6);
  EXPECT_TRUE(filter.Matches(match)) << "bounds are inclusive; bytes count in and out";
  TaskInfo other = match;
  other.state = TaskState::kQueued;
  EXPECT_FALSE(filter.Matches(other));
  other = match;
  other.state = TaskState::kStopping;
  EXPECT_TRUE(filter.Matches(other));
  other = match;
  other.peer = "11.1.1.1:80";
  EXPECT_FALSE(filter.Matches(other));
  other = match;
  other.idle = absl::Seconds(59);
  EXPECT_FALSE(filter.Matches(other));
  other = match;
  other.age = absl::Seconds(119);
  EXPECT_FALSE(filter.Matches(other));
  other = match;
  other.bytes_out = 3;
  EXPECT_FALSE(filter.Matches(other)) << "9 bytes < min_bytes";
  other = match;
  other.bytes_in = 15;
  EXPECT_FALSE(filter.Matches(other)) << "21 bytes > max_bytes";
}

TEST(TaskFilterTest, MaxBytesZeroSelectsConnectionsThatNeverMovedAByte) {
  v1::TaskFilter proto;
  proto.set_max_bytes(0);
  const TaskFilter filter = MustFilter(proto);
  EXPECT_FALSE(filter.empty());
  EXPECT_TRUE(filter.Matches(
      Task(TaskState::kRunning, "", absl::ZeroDuration(), absl::ZeroDuration(), 0, 0)));
  EXPECT_FALSE(filter.Matches(
      Task(TaskState::kRunning, "", absl::ZeroDuration(), absl::ZeroDuration(), 0, 1)));
}

TEST(TaskFilterTest, StuckOnlySelectsStuckTasks) {
  v1::TaskFilter proto;
  proto.set_stuck_only(true);
  const TaskFilter filter = MustFilter(proto);
  EXPECT_TRUE(filter.Matches(Task(TaskState::kStopping, "", absl::ZeroDuration(),
                                  absl::ZeroDuration(), 0, 0, /*stuck=*/true)));
  EXPECT_FALSE(filter.Matches(
      Task(TaskState::kStopping, "", absl::ZeroDuration(), absl::ZeroDuration(), 0, 0)));
}

TEST(TaskFilterTest, AddMinAgeAndIdleKeepTheTighterBound) {
  v1::TaskFilter proto;
  *proto.mutable_min_age() = DurationToProto(absl::Seconds(10));
  TaskFilter filter = MustFilter(proto);
  filter.AddMinAge(absl::Seconds(5));
  filter.AddMinIdle(absl::Seconds(7));
  EXPECT_FALSE(
      filter.Matches(Task(TaskState::kRunning, "", absl::Seconds(9), absl::Seconds(7), 0, 0)));
  EXPECT_TRUE(
      filter.Matches(Task(TaskState::kRunning, "", absl::Seconds(10), absl::Seconds(7), 0, 0)));
  EXPECT_FALSE(
      filter.Matches(Task(TaskState::kRunning, "", absl::Seconds(10), absl::Seconds(6), 0, 0)));
}

TEST(TaskFilterTest, FromProtoNamesTheFieldItRefuses) {
  v1::TaskFilter state;
  state.add_states(v1::TASK_STATE_UNSPECIFIED);
  EXPECT_THAT(TaskFilter::FromProto(state).status().message(), HasSubstr("filter.states"));
  v1::TaskFilter peer;
  peer.set_peer("10.0.0.1/8");
  EXPECT_THAT(TaskFilter::FromProto(peer, "x.").status().message(), HasSubstr("x.peer"));
  v1::TaskFilter idle;
  idle.mutable_min_idle()->set_seconds(-1);
  EXPECT_THAT(TaskFilter::FromProto(idle).status().message(), HasSubstr("filter.min_idle"));
  v1::TaskFilter age;
  age.mutable_min_age()->set_seconds(1);
  age.mutable_min_age()->set_nanos(-1);
  EXPECT_THAT(TaskFilter::FromProto(age).status().message(), HasSubstr("filter.min_age"));
  v1::TaskFilter bytes;
  bytes.set_min_bytes(5);
  bytes.set_max_bytes(4);
  EXPECT_THAT(TaskFilter::FromProto(bytes).status().message(), HasSubstr("filter.max_bytes"));
  for (const v1::TaskFilter* proto : {&state, &peer, &idle, &age, &bytes}) {
    EXPECT_EQ(TaskFilter::FromProto(*proto).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace weft::control
