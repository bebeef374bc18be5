// CursorCache: keys, expiry by an injected clock, eviction of the oldest when full.
#include "control/tasks/cursor_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace weft::control {
namespace {

// FakeClock: a clock tests move by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  CursorCache::Clock AsClock() {
    return [this] { return now; };
  }
};

std::shared_ptr<const TaskCursor> Cursor(std::string server, std::vector<TaskId> ids = {3, 1, 2}) {
  auto cursor = std::make_shared<TaskCursor>();
  cursor->server = std::move(server);
  cursor->ids = std::move(ids);
  return cursor;
}

TEST(CursorCacheTest, FindReturnsWhatAddStoredUntilItsLifetimeEnds) {
  FakeClock clock;
  CursorCache cache(4, 100, absl::Minutes(10), clock.AsClock());
  const std::uint64_t key = cache.Add(Cursor("a"));
  EXPECT_NE(key, 0u);
  clock.now += absl::Minutes(10) - absl::Nanoseconds(1);
  const std::shared_ptr<const TaskCursor> found = cache.Find(key);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->server, "a");
  EXPECT_EQ(found->ids, (std::vector<TaskId>{3, 1, 2}));
  clock.now += absl::Nanoseconds(1);
  EXPECT_EQ(cache.Find(key), nullptr) << "expired at exactly its lifetime";
  EXPECT_NE(found->server, "") << "a cursor already found outlives its expiry";
}

TEST(CursorCacheTest, UnknownKeysFindNothing) {
  FakeClock clock;
  CursorCache cache(4, 100, absl::Minutes(10), clock.AsClock());
  EXPECT_EQ(cache.Find(0), nullptr);
  const std::uint64_t key = cache.Add(Cursor("a"));
  EXPECT_EQ(cache.Find(key + 1), nullptr);
}

TEST(CursorCacheTest, AFullCacheEvictsItsOldestCursor) {
  FakeClock clock;
  CursorCache cache(2, 100, absl::Minutes(10), clock.AsClock());
  const std::uint64_t first = cache.Add(Cursor("first"));
  clock.now += absl::Seconds(1);
  const std::uint64_t second = cache.Add(Cursor("second"));
  const std::uint64_t third = cache.Add(Cursor("third"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(first), nullptr);
  ASSERT_NE(cache.Find(second), nullptr);
  ASSERT_NE(cache.Find(third), nullptr);
  EXPECT_EQ(cache.Find(third)->server, "third");
}

TEST(CursorCacheTest, AddDropsExpiredCursorsSoTheyHoldNoMemory) {
  FakeClock clock;
  CursorCache cache(8, 100, absl::Minutes(10), clock.AsClock());
  cache.Add(Cursor("old"));
  cache.Add(Cursor("old"));
  clock.now += absl::Minutes(11);
  const std::uint64_t fresh = cache.Add(Cursor("fresh"));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.Find(fresh), nullptr);
}

TEST(CursorCacheTest, IdsBeyondTheBoundEvictTheOldestCursors) {
  FakeClock clock;
  CursorCache cache(8, 10, absl::Minutes(10), clock.AsClock());
  const std::uint64_t first = cache.Add(Cursor("first", std::vector<TaskId>(4, 1)));
  const std::uint64_t second = cache.Add(Cursor("second", std::vector<TaskId>(4, 2)));
  EXPECT_EQ(cache.ids_held(), 8u);
  const std::uint64_t third = cache.Add(Cursor("third", std::vector<TaskId>(4, 3)));
  EXPECT_EQ(cache.Find(first), nullptr);
  EXPECT_NE(cache.Find(second), nullptr);
  EXPECT_NE(cache.Find(third), nullptr);
  EXPECT_EQ(cache.ids_held(), 8u);
  const std::uint64_t huge = cache.Add(Cursor("huge", std::vector<TaskId>(50, 4)));
  EXPECT_NE(cache.Find(huge), nullptr) << "a cursor beyond the bound is held alone";
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.ids_held(), 50u);
}

}  // namespace
}  // namespace weft::control
