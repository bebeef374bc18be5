// EventHub: fans server events out to WatchEvents subscribers through one bounded broadcast
// ring, so that publishing costs a data-plane thread O(1) whatever the number of subscribers,
// and a slow subscriber loses events (and is told how many) instead of slowing servers or the
// other subscribers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.pb.h"
#include "weft/server_observer.h"

namespace weft::control {

// NamedEvent: a server event tagged with its server's name.
struct NamedEvent {
  std::string server;
  ServerEvent event;
};

// Delivery: what a subscriber is handed — an event, and the gap of events it lost just before
// it, if any.
struct Delivery {
  // The event's position in this subscriber's stream: 1, 2, ... counting dropped events too.
  std::uint64_t sequence = 0;
  // Events lost just before this one (pushed out of the ring unread), at positions
  // sequence - dropped .. sequence - 1; 0 for none. The sink reports the gap before the event.
  std::uint64_t dropped = 0;
  // The event rendered once for every subscriber (EventToProto; `sequence` unset), shared by
  // them (never copied per subscriber).
  std::shared_ptr<const v1::Event> proto{};
  // More is already there for this subscriber: the next delivery of its batch, or one that
  // follows as soon as the sink gives its credit back; the sink may hold this one back to send
  // them together.
  bool more = false;
};

// EventSink: the consumer of one subscription (a WatchReactor, a test's recorder). Its calls
// come from the hub's delivery thread, one at a time, never with a hub lock held, and must not
// block: every subscriber shares that thread.
class EventSink {
 public:
  // Deliver hands over this subscription's next deliveries, in order: at least one, at most
  // EventHub::kMaxBatch (the span is valid during the call only). Nothing more is delivered
  // until the sink calls Subscription::Ready (the sink's credit: one batch at a time, so a sink
  // that stops calling Ready costs the hub nothing but its place in the ring and one batch).
  virtual void Deliver(absl::Span<const Delivery> deliveries) = 0;
  // End: the subscription was cancelled (Subscription::Cancel, EventHub::CancelAll); nothing
  // follows. Called once, whether or not a Deliver awaits its Ready.
  virtual void End() = 0;

 protected:
  ~EventSink() = default;
};

class EventHub;

// EventSlot: one event in the hub's queues (EventHub's internals).
struct EventSlot {
  std::uint64_t sequence = 0;         // Global: every event published while someone listens.
  std::uint64_t server_sequence = 0;  // The server's own.
  NamedEvent event;
  std::shared_ptr<const v1::Event> proto;  // Null until first delivered.
};

// EventRing: a circular buffer of event slots (EventHub's internals): the events published
// and not yet taken, and the ring subscribers read. Its slots are allocated once and reused, so
// that neither publishing (on a connection's thread) nor taking events into the ring allocates:
// a std::deque of shared events allocated per event, and the data plane paid for that memory
// traffic (bench/RESULTS.md). Beyond its capacity the oldest slot is overwritten. Not
// thread-safe.
class EventRing {
 public:
  explicit EventRing(std::size_t capacity) : slots_(capacity) {}
  // Push copies `event` into the next slot (its string buffers reused).
  void Push(std::uint64_t sequence, std::uint64_t server_sequence, const NamedEvent& event);
  // Take moves `from`'s event into the next slot, leaving `from` with the slot's old contents
  // (buffers swapped, nothing allocated); the slot's rendering is cleared.
  void Take(EventSlot& from);
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // At(0) is the oldest; At(size() - 1) the newest.
  EventSlot& At(std::size_t i) {
    const std::size_t index = head_ + i;
    return slots_[index < slots_.size() ? index : index - slots_.size()];
  }
  void Clear() { head_ = size_ = 0; }
  void Swap(EventRing& other) noexcept;

 private:
  // Next returns the slot after the newest, which becomes the newest (the oldest's, when full).
  EventSlot& Next();

  std::vector<EventSlot> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Subscription: one subscriber's cursor into the hub's ring. Thread-safe. Created by
// EventHub::Subscribe; refers to its hub, which must outlive every call on it.
class Subscription : public std::enable_shared_from_this<Subscription> {
 public:
  // Ready gives the sink its credit: the next batch (or the first, after Subscribe) goes out
  // as soon as there is one — while events keep coming, at the delivery thread's next turn
  // (within 20 ms). Call once per Deliver, after it; never blocks beyond a short lock and
  // never calls the sink.
  void Ready() ABSL_LOCKS_EXCLUDED(sink_mu_);
  // Cancel ends the subscription: the sink's End follows (unless it is detached first).
  void Cancel() ABSL_LOCKS_EXCLUDED(sink_mu_);

  // Private: made by EventHub::Subscribe (public for std::make_shared).
  Subscription(EventHub* hub, EventSink* sink, std::string server_filter, std::uint64_t start,
               std::uint64_t domain_start);

 private:
  friend class EventHub;

  // Next returns the next delivery for this subscriber from `ring` (ordered by global
  // sequence), rendering its event's proto if no one did yet, or false with nothing to
  // deliver. Delivery thread only.
  bool Next(EventRing& ring, Delivery* delivery);
  // CallDeliver and CallEnd call the sink unless it was detached; false if it was.
  bool CallDeliver(absl::Span<const Delivery> deliveries) ABSL_LOCKS_EXCLUDED(sink_mu_);
  bool CallEnd() ABSL_LOCKS_EXCLUDED(sink_mu_);
  // Detach waits for a running sink call to return; the sink is never called again.
  void Detach() ABSL_LOCKS_EXCLUDED(sink_mu_);
  bool detached() const ABSL_LOCKS_EXCLUDED(sink_mu_);

  EventHub* const hub_;
  const std::string server_filter_;  // Empty = every server.
  // Sequence domain: the hub's global sequence without a filter, the server's own with one —
  // so a gap counts only the events this subscriber would have been sent.
  const std::uint64_t domain_start_;  // The domain's sequence when it subscribed.
  std::atomic<bool> cancelled_{false};

  // Delivery thread only.
  std::uint64_t cursor_;          // The next global sequence to look at.
  std::uint64_t domain_last_;     // Last domain sequence delivered or counted as dropped.
  bool ended_ = false;            // End was called, or the sink was found detached.
  bool awaiting_ready_ = false;   // Delivered; its Ready has not come back yet.
  bool counted_ = false;          // That delivery counts against the hub's deliveries in flight.
  std::uint64_t deliveries_ = 0;  // Deliveries so far (identifies the one in flight).

  mutable Mutex sink_mu_;  // Held through a sink call: Detach waits for it.
  EventSink* sink_ ABSL_GUARDED_BY(sink_mu_);
};

// EventHub: thread-safe. Publishing appends the event once to a bounded queue and wakes the
// hub's delivery thread at most once per batch (while events keep coming, that thread takes
// them, and the credits given back, every few milliseconds without being woken: no wake-up per
// event or per write on the data plane's CPU). That thread (started by the constructor,
// joined by the destructor, at the lowest CPU priority (SCHED_IDLE) so that it only takes what
// the data plane leaves) moves events into a ring of the last `capacity`, renders each to its
// proto once (when first delivered), and hands each subscriber with credit its next deliveries
// (up to kMaxBatch at once), in turn. A subscriber that falls more than `capacity` events behind
// is told how many it lost.
//
// What a batch costs beyond that thread (gRPC's writes, their completions, the gateway's relay)
// runs at normal priority on other threads; so that it stays proportional to the CPU the
// delivery thread gets, at most kMaxInFlight batches (of up to kMaxBatch events each) are in
// flight at once. One whose Ready has not come back after kStalledAfter (a watcher that stopped
// reading) stops counting. Under a CPU quota there is no idle CPU to protect, and those writes
// come out of the data plane's share. So while the process's cgroup is being throttled (its quota
// ran out within the last second, CpuThrottleWatch), the delivery thread takes a turn every
// 100 ms, keeps only the newest kThrottledEventsPerTurn task events of those published since the
// last one (and every state change, stuck task and drain progress), and hands out
// kThrottledBatchesPerTurn batches per turn, in turn: watchers lose most task events (their
// streams say how many), and with many watchers each waits its turn (with 1,000, about 100 s
// between batches; the unary calls stay fast), bench/RESULTS.md, `--server-quota`.
class EventHub {
 public:
  // DeliveryPriority: the delivery thread's scheduling. kIdle (SCHED_IDLE, or nice 19 where
  // that is refused) in production; kNormal for tests that must not wait on a busy machine.
  enum class DeliveryPriority { kIdle, kNormal };
  // Deliveries handed to a sink at once (one credit): while events flow, a subscriber's credit
  // comes back at the delivery thread's next turn, so a watcher keeping up gets up to
  // kMaxBatch events per turn.
  static constexpr std::size_t kMaxBatch = 32;
  // While the process's CPU quota runs out: batches handed out per turn (one turn every 100 ms),
  // and task events kept per turn, the newest (as many as those batches can carry). Under a 25 %
  // quota, 1,000 watchers served up to 32 batches a turn every 20 ms cost the data plane 6-9 % of
  // its connection rate, 4 batches every 100 ms 6 %, one 3-4 % (bench/RESULTS.md).
  static constexpr std::size_t kThrottledBatchesPerTurn = 1;
  static constexpr std::size_t kThrottledEventsPerTurn = kThrottledBatchesPerTurn * kMaxBatch;

  // Throttled: whether the process's CPU quota is running out at `now`; called on the delivery
  // thread, once a turn.
  using Throttled = std::function<bool(absl::Time now)>;
  // ThisProcessThrottled: this process's cgroup, as CpuThrottleWatch reads it.
  static Throttled ThisProcessThrottled();

  // `capacity`: events kept for subscribers (> 0); `max_subscribers`: beyond it Subscribe fails.
  EventHub(std::size_t capacity, std::size_t max_subscribers,
           DeliveryPriority priority = DeliveryPriority::kIdle,
           Throttled throttled = ThisProcessThrottled());
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;
  // Stops and joins the delivery thread. Every subscription must be unsubscribed by then.
  ~EventHub();

  // ObserverFor returns an observer that publishes a server's events under `server` name.
  // The observer refers to the hub: the hub must outlive the servers using it.
  std::shared_ptr<ServerObserver> ObserverFor(std::string server);

  // Subscribe adds a subscriber that will be sent, through `sink`, the events of
  // `server_filter` (every server when empty) published from now on, once the sink calls
  // Ready. `sink` must stay valid until Unsubscribe returns. RESOURCE_EXHAUSTED beyond
  // max_subscribers.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(std::string server_filter,
                                                          EventSink* sink) ABSL_LOCKS_EXCLUDED(mu_);
  // Unsubscribe removes it: once it returns its sink is never called again. Removing it again
  // does nothing. Must not be called from the sink's Deliver or End.
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription) ABSL_LOCKS_EXCLUDED(mu_);
  // CancelAll cancels every subscription (shutdown): each sink's End follows.
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);

  // Publish: O(1) in the number of subscribers; never blocks beyond a short lock.
  void Publish(const NamedEvent& event) ABSL_LOCKS_EXCLUDED(mu_);

  std::size_t subscriber_count() const;

 private:
  friend class Subscription;
  // ToServe: a subscription that gave its credit back (`ready`) or was cancelled.
  struct ToServe {
    std::shared_ptr<Subscription> subscription;
    bool ready;
  };
  // InFlight: a delivery counted against kMaxInFlight, until its Ready or kStalledAfter.
  struct InFlight {
    std::shared_ptr<Subscription> subscription;
    std::uint64_t delivery;
    absl::Time since;
  };

  // Serve queues `subscription` for the delivery thread.
  void Serve(std::shared_ptr<Subscription> subscription, bool ready) ABSL_LOCKS_EXCLUDED(mu_);
  void Loop(DeliveryPriority priority) ABSL_LOCKS_EXCLUDED(mu_);
  // Take moves what the delivery thread was handed into its own state: events into the ring,
  // credits and cancellations into runnable_ (or End). Delivery thread only.
  // While `throttled`, only the newest kThrottledEventsPerTurn task events, and the rare kinds,
  // enter the ring.
  void Take(EventRing& events, std::vector<ToServe>& to_serve, bool throttled);
  // ServeRunnable hands out deliveries while fewer than kMaxInFlight are in flight, up to the
  // turn's budget; true if subscribers with credit are left for the next turn's.
  bool ServeRunnable(absl::Time now, bool throttled);
  // ServeOne gives `subscription` its next delivery (true), or parks it until events arrive.
  bool ServeOne(const std::shared_ptr<Subscription>& subscription, absl::Time now);

  const std::size_t max_subscribers_;

  mutable Mutex mu_;
  CondVar wake_;
  // Published, not yet taken by the delivery thread; the oldest are dropped beyond capacity.
  EventRing pending_ ABSL_GUARDED_BY(mu_);
  std::uint64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::uint64_t> server_published_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscription>> subscriptions_ ABSL_GUARDED_BY(mu_);
  // Made ready or cancelled since the delivery thread last looked.
  std::vector<ToServe> to_serve_ ABSL_GUARDED_BY(mu_);
  bool loop_waits_ ABSL_GUARDED_BY(mu_) = false;  // The next Publish or Serve signals wake_.
  // The delivery thread gathers events for a while (a timed wait): Publish does not signal.
  bool loop_gathers_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // subscriptions_.size(), readable without the lock: publishing with no watcher costs one load.
  std::atomic<std::size_t> subscriber_count_{0};

  // Delivery thread only: the last `capacity` events, ordered by sequence (with gaps where
  // pending events were dropped); subscribers with credit, in turn (runnable_), and those with
  // nothing to send until the next event (parked_); the deliveries in flight, oldest first.
  EventRing ring_;
  EventRing taken_;  // Swapped with pending_ (empty) to take the events published.
  std::deque<std::shared_ptr<Subscription>> runnable_;
  std::vector<std::shared_ptr<Subscription>> parked_;
  std::deque<InFlight> in_flight_;
  std::size_t counted_in_flight_ = 0;
  const Throttled throttled_;
  std::vector<Delivery> batch_;  // ServeOne's, kept for its capacity.

  std::thread thread_;  // Last: started once the fields above exist.
};

}  // namespace weft::control
