#include "control/event_hub.h"

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace weft::control {
namespace {

class NamedObserver final : public ServerObserver {
 public:
  NamedObserver(EventHub* hub, std::string server) : hub_(hub), server_(std::move(server)) {}
  void OnEvent(const ServerEvent& event) override { hub_->Publish(NamedEvent{server_, event}); }

 private:
  EventHub* const hub_;
  const std::string server_;
};

}  // namespace

Subscription::Subscription(std::string server_filter, std::size_t capacity)
    : server_filter_(std::move(server_filter)), capacity_(capacity) {}

void Subscription::SetListener(Listener listener) {
  MutexLock lock(&mu_);
  listener_ = std::make_shared<Listener>(std::move(listener));
}

void Subscription::ClearListener() {
  MutexLock lock(&mu_);
  listener_.reset();
  armed_ = false;
  listener_returned_.Await(&mu_, [this]() {
    mu_.AssertHeld();
    return listener_calls_ == 0;
  });
}

std::shared_ptr<Subscription::Listener> Subscription::TakeArmedLocked() {
  if (!armed_ || listener_ == nullptr) return nullptr;
  armed_ = false;
  ++listener_calls_;
  return listener_;
}

void Subscription::CallListener(const std::shared_ptr<Listener>& listener) {
  if (listener == nullptr) return;
  (*listener)();
  MutexLock lock(&mu_);
  --listener_calls_;
  listener_returned_.SignalAll();
}

void Subscription::Offer(const std::shared_ptr<const NamedEvent>& event) {
  if (!server_filter_.empty() && event->server != server_filter_) return;
  std::shared_ptr<Listener> listener;
  {
    MutexLock lock(&mu_);
    if (cancelled_) return;
    if (queued_events_ >= capacity_) {
      // Record the gap where it happens; consecutive drops share one gap item.
      if (queue_.empty() || queue_.back().event != nullptr) queue_.push_back(Item{});
      ++queue_.back().dropped;
    } else {
      queue_.push_back(Item{event, 0});
      ++queued_events_;
    }
    listener = TakeArmedLocked();
  }
  CallListener(listener);
}

std::optional<Subscription::Delivery> Subscription::TryNext() {
  MutexLock lock(&mu_);
  if (cancelled_) return Delivery{.ended = true};
  if (queue_.empty()) {
    armed_ = true;
    return std::nullopt;
  }
  Item item = std::move(queue_.front());
  queue_.pop_front();
  Delivery delivery;
  if (item.event != nullptr) {
    --queued_events_;
    delivery.sequence = ++sequence_;
    delivery.event = *item.event;
  } else {
    sequence_ += item.dropped;
    delivery.sequence = sequence_;
    delivery.dropped = item.dropped;
  }
  return delivery;
}

void Subscription::Cancel() {
  std::shared_ptr<Listener> listener;
  {
    MutexLock lock(&mu_);
    cancelled_ = true;
    queue_.clear();
    queued_events_ = 0;
    listener = TakeArmedLocked();
  }
  CallListener(listener);
}

EventHub::EventHub(std::size_t capacity, std::size_t max_subscribers)
    : capacity_(capacity), max_subscribers_(max_subscribers) {}

std::shared_ptr<ServerObserver> EventHub::ObserverFor(std::string server) {
  return std::make_shared<NamedObserver>(this, std::move(server));
}

absl::StatusOr<std::shared_ptr<Subscription>> EventHub::Subscribe(std::string server_filter) {
  MutexLock lock(&mu_);
  if (subscribers_->size() >= max_subscribers_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many event watchers (limit ", max_subscribers_, ")"));
  }
  auto subscription = std::make_shared<Subscription>(std::move(server_filter), capacity_);
  auto next = std::make_shared<SubscriberList>(*subscribers_);
  next->push_back(subscription);
  subscribers_ = std::move(next);
  subscriber_count_.store(subscribers_->size());
  return subscription;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  subscription->Cancel();
  MutexLock lock(&mu_);
  auto next = std::make_shared<SubscriberList>(*subscribers_);
  next->erase(std::remove(next->begin(), next->end(), subscription), next->end());
  subscribers_ = std::move(next);
  subscriber_count_.store(subscribers_->size());
}

std::shared_ptr<const EventHub::SubscriberList> EventHub::Snapshot() const {
  MutexLock lock(&mu_);
  return subscribers_;
}

void EventHub::CancelAll() {
  // Named: the loop must hold the snapshot (a temporary would die before the loop body runs).
  const std::shared_ptr<const SubscriberList> subscribers = Snapshot();
  for (const auto& subscription : *subscribers) subscription->Cancel();
}

void EventHub::Publish(const NamedEvent& event) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  // One copy, made before taking the lock, shared by every subscriber.
  const auto shared = std::make_shared<const NamedEvent>(event);
  const std::shared_ptr<const SubscriberList> subscribers = Snapshot();  // Held by the loop.
  for (const auto& subscription : *subscribers) subscription->Offer(shared);
}

std::size_t EventHub::subscriber_count() const { return subscriber_count_.load(); }

}  // namespace weft::control
