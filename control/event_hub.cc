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

void Subscription::Offer(const std::shared_ptr<const NamedEvent>& event) {
  if (!server_filter_.empty() && event->server != server_filter_) return;
  MutexLock lock(&mu_);
  if (cancelled_) return;
  if (queued_events_ >= capacity_) {
    // Record the gap where it happens; consecutive drops share one gap item.
    if (queue_.empty() || queue_.back().event != nullptr) queue_.push_back(Item{});
    ++queue_.back().dropped;
    return;
  }
  queue_.push_back(Item{event, 0});
  ++queued_events_;
  ready_.Signal();
}

std::optional<Subscription::Delivery> Subscription::Next(Deadline deadline) {
  MutexLock lock(&mu_);
  const bool ready = ready_.AwaitUntil(
      &mu_,
      [this]() {
        mu_.AssertHeld();
        return cancelled_ || !queue_.empty();
      },
      deadline);
  if (!ready || cancelled_) return std::nullopt;
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
  MutexLock lock(&mu_);
  cancelled_ = true;
  ready_.SignalAll();
}

bool Subscription::cancelled() const {
  MutexLock lock(&mu_);
  return cancelled_;
}

EventHub::EventHub(std::size_t capacity, std::size_t max_subscribers)
    : capacity_(capacity), max_subscribers_(max_subscribers) {}

std::shared_ptr<ServerObserver> EventHub::ObserverFor(std::string server) {
  return std::make_shared<NamedObserver>(this, std::move(server));
}

absl::StatusOr<std::shared_ptr<Subscription>> EventHub::Subscribe(std::string server_filter) {
  MutexLock lock(&mu_);
  if (subscribers_.size() >= max_subscribers_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many event watchers (limit ", max_subscribers_, ")"));
  }
  auto subscription = std::make_shared<Subscription>(std::move(server_filter), capacity_);
  subscribers_.push_back(subscription);
  subscriber_count_.store(subscribers_.size());
  return subscription;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  subscription->Cancel();
  MutexLock lock(&mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), subscription),
                     subscribers_.end());
  subscriber_count_.store(subscribers_.size());
}

void EventHub::CancelAll() {
  MutexLock lock(&mu_);
  for (const auto& subscription : subscribers_) subscription->Cancel();
}

void EventHub::Publish(const NamedEvent& event) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  // One copy, made before taking the lock, shared by every subscriber.
  const auto shared = std::make_shared<const NamedEvent>(event);
  MutexLock lock(&mu_);
  for (const auto& subscription : subscribers_) subscription->Offer(shared);
}

std::size_t EventHub::subscriber_count() const { return subscriber_count_.load(); }

}  // namespace weft::control
