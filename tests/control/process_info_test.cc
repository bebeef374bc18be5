// ProcessInfo: what it records at construction, its setters, and snapshots under concurrent
// writers.
#include "control/process_info.h"

#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace weft::control {
namespace {

TEST(ProcessInfoTest, StartsAsAFreshServingProcessOfThisPid) {
  const absl::Time before = absl::Now();
  ProcessInfo info;
  const absl::Time after = absl::Now();
  const ProcessSnapshot snapshot = info.Snapshot();
  EXPECT_EQ(snapshot.pid, ::getpid());
  EXPECT_EQ(info.pid(), ::getpid());
  EXPECT_GE(snapshot.start_time, before);
  EXPECT_LE(snapshot.start_time, after);
  EXPECT_EQ(snapshot.start_time, info.start_time());
  EXPECT_EQ(snapshot.generation, 1u);
  EXPECT_FALSE(snapshot.draining);
  EXPECT_FALSE(snapshot.peer.has_value());
}

TEST(ProcessInfoTest, SnapshotShowsWhatTheSettersRecorded) {
  ProcessInfo info;
  info.set_generation(7);
  info.set_draining(true);
  const absl::Time peer_start = absl::FromUnixSeconds(1'700'000'000);
  info.set_peer(ProcessPeer{.role = ProcessPeer::kSuccessor,
                            .pid = 4242,
                            .start_time = peer_start,
                            .generation = 8,
                            .draining = false});
  ProcessSnapshot snapshot = info.Snapshot();
  EXPECT_EQ(snapshot.generation, 7u);
  EXPECT_TRUE(snapshot.draining);
  ASSERT_TRUE(snapshot.peer.has_value());
  EXPECT_EQ(snapshot.peer->role, ProcessPeer::kSuccessor);
  EXPECT_EQ(snapshot.peer->pid, 4242);
  EXPECT_EQ(snapshot.peer->start_time, peer_start);
  EXPECT_EQ(snapshot.peer->generation, 8u);
  EXPECT_FALSE(snapshot.peer->draining);

  info.set_draining(false);
  info.clear_peer();
  snapshot = info.Snapshot();
  EXPECT_FALSE(snapshot.draining);
  EXPECT_FALSE(snapshot.peer.has_value());
  EXPECT_EQ(snapshot.generation, 7u) << "clearing the peer leaves the generation";
}

TEST(ProcessInfoTest, SetPeerReplacesTheEarlierPeer) {
  ProcessInfo info;
  info.set_peer(ProcessPeer{.role = ProcessPeer::kPredecessor, .pid = 10, .generation = 1});
  info.set_peer(
      ProcessPeer{.role = ProcessPeer::kPredecessor, .pid = 10, .generation = 1, .draining = true});
  const ProcessSnapshot snapshot = info.Snapshot();
  ASSERT_TRUE(snapshot.peer.has_value());
  EXPECT_TRUE(snapshot.peer->draining);
}

TEST(ProcessInfoDeathTest, GenerationZeroIsABug) {
  ProcessInfo info;
  EXPECT_DEATH(info.set_generation(0), "generation starts at 1");
}

// A writer changes the generation and the peer while a reader takes snapshots: the reader never
// sees one set_peer's fields torn apart (and under TSan the locking is checked too).
TEST(ProcessInfoTest, SnapshotsAreConsistentUnderConcurrentWriters) {
  ProcessInfo info;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (std::uint64_t generation = 2; generation < 5000; ++generation) {
      info.set_generation(generation);
      info.set_peer(ProcessPeer{.role = ProcessPeer::kPredecessor,
                                .pid = static_cast<pid_t>(generation),
                                .generation = generation - 1,
                                .draining = true});
      info.set_draining(generation % 2 == 0);
    }
    stop.store(true);
  });
  std::uint64_t last_generation = 1;
  while (!stop.load()) {
    const ProcessSnapshot snapshot = info.Snapshot();
    EXPECT_GE(snapshot.generation, last_generation) << "generations only grow here";
    last_generation = snapshot.generation;
    if (snapshot.peer.has_value()) {
      EXPECT_EQ(snapshot.peer->generation + 1, static_cast<std::uint64_t>(snapshot.peer->pid))
          << "one set_peer's fields are written together";
    }
  }
  writer.join();
  EXPECT_EQ(info.Snapshot().generation, 4999u);
}

}  // namespace
}  // namespace weft::control
