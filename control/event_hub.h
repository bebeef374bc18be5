// EventHub: fans server events out to WatchEvents subscribers, each through a bounded buffer,
// so that a slow subscriber loses events (and is told how many) instead of slowing servers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/base/sync.h"
#include "weft/server_observer.h"

namespace weft::control {

// NamedEvent: a server event tagged with its server's name.
struct NamedEvent {
  std::string server;
  ServerEvent event;
};

class EventHub;

// Subscription: one subscriber's buffer. The consumer takes deliveries with TryNext and, when
// there is none, is called back (its listener) once one arrives — no thread waits and nothing
// polls. Offer (through the hub) runs on data-plane threads; Cancel on any. Thread-safe.
class Subscription {
 public:
  // Delivery: what TryNext hands out — an event, how many were dropped before the next one, or
  // the end of the subscription.
  struct Delivery {
    std::uint64_t sequence = 0;  // 1, 2, ... counting dropped events too.
    std::uint64_t dropped = 0;   // > 0: a gap of this many events; `event` is unset.
    std::optional<NamedEvent> event{};
    bool ended = false;  // Cancelled: nothing else will come; the other fields unset.
  };
  using Listener = absl::AnyInvocable<void()>;

  Subscription(std::string server_filter, std::size_t capacity);

  // SetListener installs the consumer's callback. It is called, with no lock held and on
  // whichever thread published or cancelled, once after each TryNext that returned nullopt, as
  // soon as a delivery is available or the subscription is cancelled. It must not block.
  void SetListener(Listener listener) ABSL_LOCKS_EXCLUDED(mu_);

  // ClearListener removes the listener and waits until no call of it is running; after it
  // returns the listener is never called again (and what it refers to may be destroyed).
  // Must not be called from the listener.
  void ClearListener() ABSL_LOCKS_EXCLUDED(mu_);

  // TryNext returns the next delivery (an `ended` one once cancelled), or nullopt when none is
  // buffered — which arms the listener.
  std::optional<Delivery> TryNext() ABSL_LOCKS_EXCLUDED(mu_);

  // Cancel ends the subscription: buffered events are discarded, the next TryNext says ended.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class EventHub;
  // Offer enqueues `event` if it matches the filter; never blocks beyond a short lock.
  void Offer(const std::shared_ptr<const NamedEvent>& event) ABSL_LOCKS_EXCLUDED(mu_);

  // TakeArmedLocked disarms the listener and returns it (null when not armed or none is set);
  // the caller must call it after unlocking, then ListenerReturned.
  std::shared_ptr<Listener> TakeArmedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CallListener(const std::shared_ptr<Listener>& listener) ABSL_LOCKS_EXCLUDED(mu_);

  // Item: an event, or a gap of `dropped` events at this point of the stream. Events are shared
  // by every subscriber's queue (one copy per event, not one per subscriber): with many
  // subscribers that fell behind, full queues cost a pointer per event, and publishing on a
  // data-plane thread allocates once, not once per subscriber.
  struct Item {
    std::shared_ptr<const NamedEvent> event;
    std::uint64_t dropped = 0;
  };

  const std::string server_filter_;  // Empty = every server.
  const std::size_t capacity_;
  mutable Mutex mu_;
  CondVar listener_returned_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;  // Items holding an event.
  std::uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Listener> listener_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;      // A TryNext found nothing: call the listener.
  int listener_calls_ ABSL_GUARDED_BY(mu_) = 0;  // Calls of the listener running now.
};

// EventHub: thread-safe.
class EventHub {
 public:
  // `capacity`: events buffered per subscriber; `max_subscribers`: beyond it Subscribe fails.
  EventHub(std::size_t capacity, std::size_t max_subscribers);

  // ObserverFor returns an observer that publishes a server's events under `server` name.
  // The observer refers to the hub: the hub must outlive the servers using it.
  std::shared_ptr<ServerObserver> ObserverFor(std::string server);

  // Subscribe adds a subscriber; RESOURCE_EXHAUSTED beyond max_subscribers.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(std::string server_filter)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Unsubscribe removes and cancels it.
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription) ABSL_LOCKS_EXCLUDED(mu_);
  // CancelAll cancels every subscription (shutdown).
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);

  void Publish(const NamedEvent& event) ABSL_LOCKS_EXCLUDED(mu_);

  std::size_t subscriber_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using SubscriberList = std::vector<std::shared_ptr<Subscription>>;
  // Snapshot returns the current subscribers; they are offered events and cancelled outside
  // the hub's lock.
  std::shared_ptr<const SubscriberList> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::size_t capacity_;
  const std::size_t max_subscribers_;
  mutable Mutex mu_;
  // Copy-on-write: Subscribe and Unsubscribe replace the list; Publish holds a snapshot.
  std::shared_ptr<const SubscriberList> subscribers_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const SubscriberList>();
  // subscribers_->size(), readable without the lock: publishing with no watcher costs one load.
  std::atomic<std::size_t> subscriber_count_{0};
};

}  // namespace weft::control
