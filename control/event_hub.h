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

// Subscription: one subscriber's buffer. Next is called by the subscriber's thread; Publish
// (through the hub) by data-plane threads; Cancel by anyone. Thread-safe.
class Subscription {
 public:
  // Delivery: what Next hands out — an event, or how many were dropped before the next one.
  struct Delivery {
    std::uint64_t sequence = 0;   // 1, 2, ... counting dropped events too.
    std::uint64_t dropped = 0;    // > 0: a gap of this many events; `event` is unset.
    std::optional<NamedEvent> event;
  };

  Subscription(std::string server_filter, std::size_t capacity);

  // Next waits until an event (or a drop notice) is available, `deadline` passes, or the
  // subscription is cancelled; returns nullopt in the latter two cases.
  std::optional<Delivery> Next(Deadline deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Cancel wakes Next for good.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

  bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class EventHub;
  // Offer enqueues `event` if it matches the filter; never blocks beyond a short lock.
  void Offer(const std::shared_ptr<const NamedEvent>& event) ABSL_LOCKS_EXCLUDED(mu_);

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
  CondVar ready_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;  // Items holding an event.
  std::uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
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
  const std::size_t capacity_;
  const std::size_t max_subscribers_;
  // Lock order: EventHub::mu_ before Subscription::mu_.
  mutable Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subscribers_ ABSL_GUARDED_BY(mu_);
  // subscribers_.size(), readable without the lock: publishing with no watcher costs one load.
  std::atomic<std::size_t> subscriber_count_{0};
};

}  // namespace weft::control
