// EventHub: bounded per-subscriber buffers that drop, count and say so.
#include "control/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace weft::control {
namespace {

NamedEvent Event(const std::string& server, TaskId id) {
  ServerEvent event;
  event.kind = ServerEvent::Kind::kTaskAdded;
  event.task_id = id;
  return NamedEvent{server, event};
}

// NextNow: events are published synchronously, so what was published is there already.
std::optional<Subscription::Delivery> NextNow(Subscription& subscription) {
  return subscription.TryNext();
}

TEST(EventHubTest, ASlowSubscriberLosesEventsAndIsToldWhereAndHowMany) {
  EventHub hub(/*capacity=*/3, /*max_subscribers=*/4);
  auto subscription = hub.Subscribe("").value();
  for (TaskId id = 1; id <= 10; ++id) hub.Publish(Event("a", id));
  hub.Publish(Event("a", 11));  // Still dropped: the buffer is full until read.
  for (TaskId id = 1; id <= 3; ++id) {
    auto delivery = NextNow(*subscription);
    ASSERT_TRUE(delivery.has_value() && delivery->event.has_value());
    EXPECT_EQ(delivery->event->event.task_id, id);
    EXPECT_EQ(delivery->sequence, id);
  }
  auto gap = NextNow(*subscription);
  ASSERT_TRUE(gap.has_value());
  EXPECT_FALSE(gap->event.has_value());
  EXPECT_EQ(gap->dropped, 8u);
  EXPECT_EQ(gap->sequence, 11u);
  hub.Publish(Event("a", 12));
  auto next = NextNow(*subscription);
  ASSERT_TRUE(next.has_value() && next->event.has_value());
  EXPECT_EQ(next->event->event.task_id, 12u);
  EXPECT_EQ(next->sequence, 12u);
}

TEST(EventHubTest, OneSlowSubscriberDoesNotCostAnotherAnything) {
  EventHub hub(/*capacity=*/2, /*max_subscribers=*/4);
  auto slow = hub.Subscribe("").value();
  auto fast = hub.Subscribe("").value();
  for (TaskId id = 1; id <= 6; ++id) {
    hub.Publish(Event("a", id));
    auto delivery = NextNow(*fast);
    ASSERT_TRUE(delivery.has_value() && delivery->event.has_value());
    EXPECT_EQ(delivery->event->event.task_id, id);
  }
  EXPECT_EQ(NextNow(*slow)->event->event.task_id, 1u);
}

TEST(EventHubTest, FiltersByServerName) {
  EventHub hub(8, 4);
  auto subscription = hub.Subscribe("b").value();
  hub.Publish(Event("a", 1));
  hub.Publish(Event("b", 2));
  auto delivery = NextNow(*subscription);
  ASSERT_TRUE(delivery.has_value() && delivery->event.has_value());
  EXPECT_EQ(delivery->event->server, "b");
  EXPECT_EQ(delivery->sequence, 1u);
}

TEST(EventHubTest, AnEmptyTryNextArmsTheListenerWhichTheNextEventCallsOnce) {
  EventHub hub(8, 4);
  auto subscription = hub.Subscribe("").value();
  int calls = 0;
  subscription->SetListener([&] { ++calls; });
  hub.Publish(Event("a", 1));
  EXPECT_EQ(calls, 0) << "not armed: nobody asked";
  ASSERT_TRUE(subscription->TryNext().has_value());
  EXPECT_FALSE(subscription->TryNext().has_value());  // Arms.
  hub.Publish(Event("a", 2));
  hub.Publish(Event("a", 3));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(subscription->TryNext()->event->event.task_id, 2u);
  EXPECT_EQ(subscription->TryNext()->event->event.task_id, 3u);
  subscription->ClearListener();
}

TEST(EventHubTest, CancelCallsAnArmedListenerAndTryNextThenSaysEnded) {
  EventHub hub(8, 4);
  auto subscription = hub.Subscribe("").value();
  int calls = 0;
  subscription->SetListener([&] { ++calls; });
  EXPECT_FALSE(subscription->TryNext().has_value());
  hub.CancelAll();
  EXPECT_EQ(calls, 1);
  std::optional<Subscription::Delivery> end = subscription->TryNext();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ended);
  EXPECT_TRUE(subscription->TryNext()->ended) << "the end is final";
  subscription->ClearListener();
}

TEST(EventHubTest, ClearListenerWaitsForARunningCallAndNoCallFollows) {
  EventHub hub(8, 4);
  auto subscription = hub.Subscribe("").value();
  Notification in_listener;
  Notification release;
  std::atomic<int> calls{0};
  subscription->SetListener([&] {
    ++calls;
    in_listener.Notify();
    ASSERT_TRUE(release.WaitForNotificationWithTimeout(absl::Seconds(10)));
  });
  EXPECT_FALSE(subscription->TryNext().has_value());
  std::thread publisher([&] { hub.Publish(Event("a", 1)); });
  ASSERT_TRUE(in_listener.WaitForNotificationWithTimeout(absl::Seconds(10)));
  Notification cleared;
  std::thread clearer([&] {
    subscription->ClearListener();
    cleared.Notify();
  });
  EXPECT_FALSE(cleared.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  release.Notify();
  EXPECT_TRUE(cleared.WaitForNotificationWithTimeout(absl::Seconds(10)));
  publisher.join();
  clearer.join();
  EXPECT_TRUE(subscription->TryNext().has_value());
  EXPECT_FALSE(subscription->TryNext().has_value());
  hub.Publish(Event("a", 2));
  EXPECT_EQ(calls.load(), 1);
}

TEST(EventHubTest, SubscribersBeyondTheLimitAreRefused) {
  EventHub hub(8, 1);
  auto first = hub.Subscribe("").value();
  EXPECT_EQ(hub.Subscribe("").status().code(), absl::StatusCode::kResourceExhausted);
  hub.Unsubscribe(first);
  EXPECT_EQ(hub.subscriber_count(), 0u);
  EXPECT_TRUE(hub.Subscribe("").ok());
}

}  // namespace
}  // namespace weft::control
