// EventHub: one bounded broadcast ring, subscribers with a cursor and a credit, drops counted
// and said where they happen.
#include "control/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "weft/base/deadline.h"
#include "weft/base/sync.h"

namespace weft::control {
namespace {

NamedEvent Event(const std::string& server, TaskId id) {
  ServerEvent event;
  event.kind = ServerEvent::Kind::kTaskAdded;
  event.task_id = id;
  return NamedEvent{server, event};
}

// Recorder: a sink that keeps what it is handed. With `auto_ready` it gives its credit back at
// once (a reader keeping up); otherwise the test does, with subscription->Ready().
class Recorder final : public EventSink {
 public:
  explicit Recorder(bool auto_ready = false) : auto_ready_(auto_ready) {}

  void Deliver(absl::Span<const Delivery> deliveries) override {
    std::shared_ptr<Subscription> subscription;
    {
      MutexLock lock(&mu_);
      deliveries_.insert(deliveries_.end(), deliveries.begin(), deliveries.end());
      batches_.push_back(deliveries.size());
      subscription = subscription_;
    }
    changed_.SignalAll();
    if (auto_ready_) subscription->Ready();
  }
  void End() override {
    {
      MutexLock lock(&mu_);
      ++ends_;
    }
    changed_.SignalAll();
  }

  // Attach subscribes it to `hub` and gives the first credit.
  std::shared_ptr<Subscription> Attach(EventHub& hub, const std::string& filter = "") {
    std::shared_ptr<Subscription> subscription = hub.Subscribe(filter, this).value();
    {
      MutexLock lock(&mu_);
      subscription_ = subscription;
    }
    subscription->Ready();
    return subscription;
  }

  // WaitFor waits (10 s at most) until `n` deliveries arrived; returns them.
  std::vector<Delivery> WaitFor(std::size_t n) {
    MutexLock lock(&mu_);
    changed_.AwaitUntil(
        &mu_,
        [&] {
          mu_.AssertHeld();
          return deliveries_.size() >= n;
        },
        DeadlineAfter(absl::Seconds(10)));
    return deliveries_;
  }
  // WaitForEvent waits until an event with `id` (or a later one) or a gap past it arrived.
  std::vector<Delivery> WaitForSequence(std::uint64_t sequence) {
    MutexLock lock(&mu_);
    changed_.AwaitUntil(
        &mu_,
        [&] {
          mu_.AssertHeld();
          return !deliveries_.empty() && deliveries_.back().sequence >= sequence;
        },
        DeadlineAfter(absl::Seconds(10)));
    return deliveries_;
  }
  int WaitForEnd() {
    MutexLock lock(&mu_);
    changed_.AwaitUntil(
        &mu_,
        [&] {
          mu_.AssertHeld();
          return ends_ > 0;
        },
        DeadlineAfter(absl::Seconds(10)));
    return ends_;
  }
  std::vector<Delivery> deliveries() {
    MutexLock lock(&mu_);
    return deliveries_;
  }
  // batches: the size of each Deliver call's batch, in order.
  std::vector<std::size_t> batches() {
    MutexLock lock(&mu_);
    return batches_;
  }

 private:
  const bool auto_ready_;
  Mutex mu_;
  CondVar changed_;
  std::shared_ptr<Subscription> subscription_ ABSL_GUARDED_BY(mu_);
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::size_t> batches_ ABSL_GUARDED_BY(mu_);
  int ends_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(EventHubTest, AReaderGetsEveryEventInOrderWithConsecutiveSequences) {
  EventHub hub(/*capacity=*/64, /*max_subscribers=*/4);
  Recorder reader(/*auto_ready=*/true);
  auto subscription = reader.Attach(hub);
  for (TaskId id = 1; id <= 20; ++id) hub.Publish(Event("a", id));
  const std::vector<Delivery> got = reader.WaitFor(20);
  ASSERT_EQ(got.size(), 20u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NE(got[i].proto, nullptr);
    EXPECT_EQ(got[i].proto->task_id(), i + 1);
    EXPECT_EQ(got[i].sequence, i + 1);
    ASSERT_NE(got[i].proto, nullptr) << "rendered once by the hub";
    EXPECT_EQ(got[i].proto->task_id(), i + 1);
  }
  hub.Unsubscribe(subscription);
}

TEST(EventHubTest, ASubscriberThatFellBehindTheRingIsToldWhereAndHowMany) {
  EventHub hub(/*capacity=*/4, /*max_subscribers=*/4);
  Recorder slow;
  auto subscription = slow.Attach(hub);
  hub.Publish(Event("a", 1));
  ASSERT_EQ(slow.WaitFor(1).size(), 1u);  // Its credit is spent: nothing more until Ready.
  for (TaskId id = 2; id <= 11; ++id) hub.Publish(Event("a", id));
  // The ring keeps the last 4 (8..11): 2..7 are lost. One credit brings all four.
  subscription->Ready();
  std::vector<Delivery> got = slow.WaitFor(5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(slow.batches(), (std::vector<std::size_t>{1, 4}));
  for (TaskId id = 8; id <= 11; ++id) {
    const Delivery& delivery = got[id - 7];
    ASSERT_NE(delivery.proto, nullptr);
    EXPECT_EQ(delivery.proto->task_id(), id);
    EXPECT_EQ(delivery.sequence, id);
    EXPECT_EQ(delivery.dropped, id == 8 ? 6u : 0u) << "the gap (2..7) comes with event 8";
    EXPECT_EQ(delivery.more, id < 11) << "more follows event " << id;
  }
  hub.Publish(Event("a", 12));
  subscription->Ready();
  got = slow.WaitFor(got.size() + 1);
  EXPECT_EQ(got.back().proto->task_id(), 12u);
  EXPECT_EQ(got.back().sequence, 12u);
  hub.Unsubscribe(subscription);
}

TEST(EventHubTest, AStalledSubscriberCostsAReaderNothing) {
  EventHub hub(/*capacity=*/8, /*max_subscribers=*/4);
  Recorder stalled;  // Never gives its credit back after the first event.
  Recorder reader(/*auto_ready=*/true);
  auto stalled_subscription = stalled.Attach(hub);
  auto reader_subscription = reader.Attach(hub);
  for (TaskId id = 1; id <= 1000; ++id) hub.Publish(Event("a", id));
  // The reader may be lapped too when the delivery thread lags behind 1000 quick publishes;
  // what it must get is everything it is owed, ending with the last event.
  const std::vector<Delivery> got = reader.WaitForSequence(1000);
  std::uint64_t accounted = 0;
  std::uint64_t previous = 0;
  for (const Delivery& delivery : got) {
    EXPECT_GT(delivery.sequence, previous);
    previous = delivery.sequence;
    ASSERT_NE(delivery.proto, nullptr);
    accounted += 1 + delivery.dropped;
  }
  EXPECT_EQ(accounted, 1000u);
  EXPECT_EQ(got.back().proto->task_id(), 1000u);
  EXPECT_EQ(stalled.batches().size(), 1u) << "one batch, then nothing without its credit";
  EXPECT_LE(stalled.deliveries().size(), EventHub::kMaxBatch);
  hub.Unsubscribe(stalled_subscription);
  hub.Unsubscribe(reader_subscription);
}

TEST(EventHubTest, SubscribersThatNeverGiveTheirCreditBackDoNotHoldTheOthersUp) {
  // More of them than deliveries may be in flight: those that stall stop counting.
  constexpr int kStalled = 100;
  EventHub hub(/*capacity=*/8, /*max_subscribers=*/kStalled + 1);
  std::vector<std::unique_ptr<Recorder>> stalled;
  std::vector<std::shared_ptr<Subscription>> subscriptions;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(std::make_unique<Recorder>());
    subscriptions.push_back(stalled.back()->Attach(hub));
  }
  Recorder reader(/*auto_ready=*/true);
  subscriptions.push_back(reader.Attach(hub));
  hub.Publish(Event("a", 1));
  hub.Publish(Event("a", 2));
  EXPECT_EQ(reader.WaitFor(2).size(), 2u);
  for (auto& recorder : stalled) {
    EXPECT_GE(recorder->WaitFor(1).size(), 1u);
    EXPECT_EQ(recorder->batches().size(), 1u);
  }
  for (const auto& subscription : subscriptions) hub.Unsubscribe(subscription);
}

TEST(EventHubTest, UnderASpentCpuQuotaEveryReaderIsStillServedAndToldWhatItLost) {
  // Throttled, the hub hands out a few batches a turn among all of them, the stalled ones'
  // included;
  // turns go on while some reader has credit and something to read, with nothing more published.
  constexpr int kStalled = 3;
  constexpr int kReaders = 3;
  constexpr TaskId kEvents = 3 * EventHub::kMaxBatch + 5;
  EventHub hub(/*capacity=*/256, /*max_subscribers=*/kStalled + kReaders,
               EventHub::DeliveryPriority::kNormal, [](absl::Time) { return true; });
  std::vector<std::unique_ptr<Recorder>> recorders;
  std::vector<std::shared_ptr<Subscription>> subscriptions;
  for (int i = 0; i < kStalled + kReaders; ++i) {
    recorders.push_back(std::make_unique<Recorder>(/*auto_ready=*/i >= kStalled));
    subscriptions.push_back(recorders.back()->Attach(hub));
  }
  for (TaskId id = 1; id <= kEvents; ++id) hub.Publish(Event("a", id));
  for (int i = kStalled; i < kStalled + kReaders; ++i) {
    const std::vector<Delivery> got = recorders[i]->WaitForSequence(kEvents);
    ASSERT_FALSE(got.empty()) << "reader " << i;
    EXPECT_EQ(got.back().sequence, kEvents) << "reader " << i;
    // Every event up to the last was either delivered, in order, or counted as lost.
    std::uint64_t accounted = 0;
    for (const Delivery& delivery : got) {
      accounted += 1 + delivery.dropped;
      EXPECT_EQ(delivery.sequence, accounted);
      ASSERT_NE(delivery.proto, nullptr);
      EXPECT_EQ(delivery.proto->task_id(), delivery.sequence);
    }
    for (std::size_t batch : recorders[i]->batches()) EXPECT_LE(batch, EventHub::kMaxBatch);
  }
  for (int i = 0; i < kStalled; ++i) EXPECT_EQ(recorders[i]->batches().size(), 1u);
  for (const auto& subscription : subscriptions) hub.Unsubscribe(subscription);
}

TEST(EventHubTest, AFilteredSubscriberCountsOnlyItsServersEventsAndItsGaps) {
  EventHub hub(/*capacity=*/4, /*max_subscribers=*/4);
  Recorder slow;
  auto subscription = slow.Attach(hub, "b");
  hub.Publish(Event("a", 1));
  hub.Publish(Event("b", 2));
  std::vector<Delivery> got = slow.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].proto->server(), "b");
  EXPECT_EQ(got[0].sequence, 1u);
  // 3 of b among 9 events: the ring (4) keeps a8 b9 a10 b11; b5 is lost.
  const char* servers[] = {"a", "a", "b", "a", "a", "a", "b", "a", "b"};
  for (TaskId id = 3; id <= 11; ++id) hub.Publish(Event(servers[id - 3], id));
  subscription->Ready();
  got = slow.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].dropped, 1u) << "only b's events count";
  EXPECT_EQ(got[1].proto->task_id(), 9u);
  EXPECT_EQ(got[1].sequence, 3u);
  EXPECT_TRUE(got[1].more);
  EXPECT_EQ(got[2].dropped, 0u);
  EXPECT_EQ(got[2].proto->task_id(), 11u);
  EXPECT_EQ(got[2].sequence, 4u);
  EXPECT_FALSE(got[2].more) << "a10 is not b's";
  hub.Unsubscribe(subscription);
}

TEST(EventHubTest, ASubscriberGetsOnlyWhatWasPublishedAfterItSubscribed) {
  EventHub hub(/*capacity=*/8, /*max_subscribers=*/4);
  Recorder first(/*auto_ready=*/true);
  auto first_subscription = first.Attach(hub);
  hub.Publish(Event("a", 1));
  hub.Publish(Event("a", 2));
  ASSERT_EQ(first.WaitFor(2).size(), 2u);
  Recorder second(/*auto_ready=*/true);
  auto second_subscription = second.Attach(hub);
  hub.Publish(Event("a", 3));
  const std::vector<Delivery> got = second.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].proto->task_id(), 3u);
  EXPECT_EQ(got[0].sequence, 1u) << "sequences count from the subscription";
  hub.Unsubscribe(first_subscription);
  hub.Unsubscribe(second_subscription);
}

TEST(EventHubTest, ConcurrentPublishersLoseNothingWithinCapacityAndKeepEachOnesOrder) {
  constexpr int kPublishers = 4;
  constexpr TaskId kEach = 500;
  EventHub hub(/*capacity=*/kPublishers * kEach, /*max_subscribers=*/4);
  Recorder reader(/*auto_ready=*/true);
  auto subscription = reader.Attach(hub);
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&hub, p] {
      const std::string server = std::string(1, static_cast<char>('a' + p));
      for (TaskId id = 1; id <= kEach; ++id) hub.Publish(Event(server, id));
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  const std::vector<Delivery> got = reader.WaitFor(kPublishers * kEach);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kPublishers * kEach));
  TaskId last[kPublishers] = {};
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NE(got[i].proto, nullptr) << "nothing dropped within capacity";
    EXPECT_EQ(got[i].sequence, i + 1);
    const int p = got[i].proto->server()[0] - 'a';
    EXPECT_EQ(got[i].proto->task_id(), last[p] + 1) << "a publisher's events in its order";
    last[p] = got[i].proto->task_id();
  }
  hub.Unsubscribe(subscription);
}

TEST(EventHubTest, ACreditBringsAtMostABatchAndTheRestFollowsTheNextCredit) {
  constexpr TaskId kEvents = EventHub::kMaxBatch + 8;
  EventHub hub(/*capacity=*/64, /*max_subscribers=*/4);
  Recorder slow;
  auto subscription = slow.Attach(hub);
  hub.Publish(Event("a", 1));
  ASSERT_EQ(slow.WaitFor(1).size(), 1u);  // Its credit is spent.
  for (TaskId id = 2; id <= kEvents + 1; ++id) hub.Publish(Event("a", id));
  subscription->Ready();
  std::vector<Delivery> got = slow.WaitFor(1 + EventHub::kMaxBatch);
  ASSERT_EQ(got.size(), 1 + EventHub::kMaxBatch) << "not beyond one batch without a credit";
  EXPECT_TRUE(got.back().more) << "8 more are waiting";
  subscription->Ready();
  got = slow.WaitFor(kEvents + 1);
  ASSERT_EQ(got.size(), kEvents + 1);
  EXPECT_EQ(slow.batches(), (std::vector<std::size_t>{1, EventHub::kMaxBatch, 8}));
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence, i + 1);
    EXPECT_EQ(got[i].dropped, 0u);
    // Event 1 went out alone, before the others were published.
    EXPECT_EQ(got[i].more, i != 0 && i + 1 < got.size()) << "event " << i + 1;
  }
  hub.Unsubscribe(subscription);
}

TEST(EventHubTest, CancelAllEndsEverySubscriptionEvenOneAwaitingItsCredit) {
  EventHub hub(8, 4);
  Recorder idle;
  Recorder busy;
  auto idle_subscription = idle.Attach(hub);
  auto busy_subscription = busy.Attach(hub, "b");
  hub.Publish(Event("b", 1));
  ASSERT_EQ(busy.WaitFor(1).size(), 1u);  // Its credit is spent.
  hub.CancelAll();
  EXPECT_EQ(idle.WaitForEnd(), 1);
  EXPECT_EQ(busy.WaitForEnd(), 1);
  hub.Publish(Event("b", 2));
  busy_subscription->Ready();
  idle_subscription->Cancel();
  // Nothing follows an end: a last event through the same thread shows it is all done.
  Recorder witness(/*auto_ready=*/true);
  auto witness_subscription = witness.Attach(hub);
  hub.Publish(Event("b", 3));
  ASSERT_EQ(witness.WaitFor(1).size(), 1u);
  EXPECT_EQ(busy.deliveries().size(), 1u);
  EXPECT_EQ(idle.WaitForEnd(), 1);
  hub.Unsubscribe(idle_subscription);
  hub.Unsubscribe(busy_subscription);
  hub.Unsubscribe(witness_subscription);
}

// Blocker: a sink whose Deliver blocks until released, to catch Unsubscribe returning early.
class Blocker final : public EventSink {
 public:
  void Deliver(absl::Span<const Delivery>) override {
    ++calls;
    in_deliver.Notify();
    EXPECT_TRUE(release.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  void End() override {}
  std::atomic<int> calls{0};
  absl::Notification in_deliver;
  absl::Notification release;
};

TEST(EventHubTest, UnsubscribeWaitsForARunningDeliverAndNoCallFollows) {
  EventHub hub(8, 4);
  Blocker blocker;
  auto subscription = hub.Subscribe("", &blocker).value();
  subscription->Ready();
  hub.Publish(Event("a", 1));
  ASSERT_TRUE(blocker.in_deliver.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::Notification unsubscribed;
  std::thread unsubscriber([&] {
    hub.Unsubscribe(subscription);
    unsubscribed.Notify();
  });
  EXPECT_FALSE(unsubscribed.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  blocker.release.Notify();
  EXPECT_TRUE(unsubscribed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  unsubscriber.join();
  subscription->Ready();
  hub.Publish(Event("a", 2));
  Recorder witness(/*auto_ready=*/true);
  auto witness_subscription = witness.Attach(hub);
  hub.Publish(Event("a", 3));
  ASSERT_EQ(witness.WaitFor(1).size(), 1u);
  EXPECT_EQ(blocker.calls.load(), 1);
  hub.Unsubscribe(witness_subscription);
}

TEST(EventHubTest, UnderASpentCpuQuotaOnlyTheNewestTaskEventsAndEveryStateChangeAreKept) {
  EventHub hub(/*capacity=*/512, /*max_subscribers=*/4, EventHub::DeliveryPriority::kNormal,
               [](absl::Time) { return true; });
  // The blocker, served first, holds the delivery thread while the burst is published, so that
  // the next turn finds all of it.
  Blocker blocker;
  auto blocker_subscription = hub.Subscribe("", &blocker).value();
  blocker_subscription->Ready();
  Recorder reader(/*auto_ready=*/true);
  auto reader_subscription = reader.Attach(hub);
  hub.Publish(Event("a", 1));
  ASSERT_TRUE(blocker.in_deliver.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // The burst: a state change, then task events.
  hub.Publish(NamedEvent{"a", ServerEvent{.kind = ServerEvent::Kind::kStateChanged,
                                          .state = ServerState::kNotAccepting}});
  constexpr TaskId kBurst = 300;
  static_assert(kBurst > EventHub::kThrottledEventsPerTurn);
  for (TaskId id = 3; id <= 2 + kBurst; ++id) hub.Publish(Event("a", id));
  blocker.release.Notify();

  const std::vector<Delivery> got = reader.WaitForSequence(2 + kBurst);
  ASSERT_EQ(got.size(), 2 + EventHub::kThrottledEventsPerTurn);
  EXPECT_EQ(got[0].sequence, 1u);
  EXPECT_EQ(got[0].dropped, 0u);
  // The state change is kept, older as it is than the task events kept.
  EXPECT_EQ(got[1].sequence, 2u);
  EXPECT_EQ(got[1].dropped, 0u);
  ASSERT_NE(got[1].proto, nullptr);
  EXPECT_EQ(got[1].proto->type(), v1::EVENT_TYPE_SERVER_STATE_CHANGED);
  // Of the task events only the newest kThrottledEventsPerTurn; the reader is told what it lost.
  constexpr std::uint64_t kFirstKept = 2 + kBurst - EventHub::kThrottledEventsPerTurn + 1;
  EXPECT_EQ(got[2].sequence, kFirstKept);
  EXPECT_EQ(got[2].dropped, kFirstKept - 3);
  ASSERT_NE(got[2].proto, nullptr);
  EXPECT_EQ(got[2].proto->task_id(), kFirstKept);
  for (std::size_t i = 3; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence, got[i - 1].sequence + 1);
    EXPECT_EQ(got[i].dropped, 0u);
  }
  hub.Unsubscribe(reader_subscription);
  hub.Unsubscribe(blocker_subscription);
}

TEST(EventHubTest, SubscribersBeyondTheLimitAreRefused) {
  EventHub hub(8, 1);
  Recorder sink;
  auto first = hub.Subscribe("", &sink).value();
  EXPECT_EQ(hub.Subscribe("", &sink).status().code(), absl::StatusCode::kResourceExhausted);
  hub.Unsubscribe(first);
  EXPECT_EQ(hub.subscriber_count(), 0u);
  auto again = hub.Subscribe("", &sink);
  ASSERT_TRUE(again.ok());
  hub.Unsubscribe(*again);
}

}  // namespace
}  // namespace weft::control
