#include "control/event_hub.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "control/cpu_throttle.h"
#include "control/proto_conversion.h"
#include "weft/base/deadline.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

// The delivery thread runs under SCHED_IDLE (or, where that is refused, at nice 19): it gets
// the CPU only when nothing else wants it, so that under a saturated core the data plane and the
// unary control calls keep it and watchers fall behind instead — which the ring turns into drop
// counts. (Nice 19 alone still took ~1.5 % of a contended core, and what that CPU's writes cost
// on gRPC's threads about 4.5 times as much again: see bench/RESULTS.md.)
constexpr int kDeliveryNice = 19;
// Batches in flight at once (see EventHub), and when one stops counting.
constexpr std::size_t kMaxInFlight = 32;

// KeptWhenThrottled: the events an operator acts on, a few per stop or state change, which a
// CPU quota running out (an incident) must not shed: state changes, stuck tasks, drain progress.
bool KeptWhenThrottled(const ServerEvent& event) {
  switch (event.kind) {
    case ServerEvent::Kind::kStateChanged:
    case ServerEvent::Kind::kTaskStuck:
    case ServerEvent::Kind::kDrainProgress:
      return true;
    case ServerEvent::Kind::kTaskAdded:
    case ServerEvent::Kind::kTaskStarted:
    case ServerEvent::Kind::kTaskFinished:
    case ServerEvent::Kind::kTaskRemoved:
    case ServerEvent::Kind::kConnectionRefused:
      return false;
  }
  return true;
}
constexpr absl::Duration kStalledAfter = absl::Milliseconds(100);
// While events keep coming, neither publishing nor a sink's Ready wakes the delivery thread (a
// futex wake and a context switch per event or per write, on the data plane's CPU): it takes
// what came every kGatherFor, and a sink keeping up gets a batch per turn. The first event, or
// credit, after a quiet turn wakes it at once. (Woken per credit, one watcher cost a saturated
// data plane 5.6 % of its connection rate; bench/RESULTS.md.)
constexpr absl::Duration kGatherFor = absl::Milliseconds(20);
// While the process's CPU quota runs out (see EventHub), a turn every CFS period (100 ms by
// default) instead: each turn that delivers costs gRPC's threads a socket write and its reply.
constexpr absl::Duration kThrottledGatherFor = absl::Milliseconds(100);

class NamedObserver final : public ServerObserver {
 public:
  NamedObserver(EventHub* hub, std::string server) : hub_(hub), server_(std::move(server)) {}
  void OnEvent(const ServerEvent& event) override { hub_->Publish(NamedEvent{server_, event}); }

 private:
  EventHub* const hub_;
  const std::string server_;
};

// LowerPriority puts the calling thread under SCHED_IDLE, or at kDeliveryNice if refused.
void LowerPriority() {
  const sched_param param{};
  const int error = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
  if (error == 0) return;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kDeliveryNice) != 0) {
    LOG(WARNING) << "event hub: cannot lower the delivery thread's priority: "
                 << std::strerror(errno);
    return;
  }
  LOG(WARNING) << "event hub: SCHED_IDLE refused (" << std::strerror(error)
               << "); the delivery thread runs at nice " << kDeliveryNice;
}

}  // namespace

Subscription::Subscription(EventHub* hub, EventSink* sink, std::string server_filter,
                           std::uint64_t start, std::uint64_t domain_start)
    : hub_(hub),
      server_filter_(std::move(server_filter)),
      domain_start_(domain_start),
      cursor_(start + 1),
      domain_last_(domain_start),
      sink_(sink) {}

void Subscription::Ready() { hub_->Serve(shared_from_this(), /*ready=*/true); }

void Subscription::Cancel() {
  cancelled_.store(true);
  hub_->Serve(shared_from_this(), /*ready=*/false);
}

bool Subscription::Next(EventRing& ring, Delivery* delivery) {
  // The first slot at or after the cursor that this subscriber wants, from `i` on.
  auto next_match = [&](std::size_t i) {
    while (i < ring.size() && !server_filter_.empty() &&
           ring.At(i).event.server != server_filter_) {
      ++i;
    }
    return i;
  };
  // The slots are ordered by sequence: binary search for the cursor. (Not std::ranges::
  // partition_point over an iota view: Debian's clang 14 cannot build libstdc++ 12's ranges.)
  std::size_t low = 0;
  std::size_t high = ring.size();
  while (low < high) {
    const std::size_t middle = low + (high - low) / 2;
    if (ring.At(middle).sequence < cursor_) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  const std::size_t i = next_match(low);
  if (i == ring.size()) {
    if (!ring.empty()) cursor_ = std::max(cursor_, ring.At(ring.size() - 1).sequence + 1);
    return false;
  }
  EventSlot& slot = ring.At(i);
  // Rendered when first delivered, then shared by every subscriber's delivery (under a burst
  // most events are pushed out of the ring unread, and never rendered).
  if (slot.proto == nullptr) {
    slot.proto = std::make_shared<const v1::Event>(EventToProto(slot.event));
  }
  const std::uint64_t domain = server_filter_.empty() ? slot.sequence : slot.server_sequence;
  // Lost before this one (pushed out of the ring, or of the publish queue, unread): told in the
  // same delivery, so that a subscriber slower than the publishers still gets events.
  *delivery = Delivery{.sequence = domain - domain_start_,
                       .dropped = domain - 1 - domain_last_,
                       .proto = slot.proto,
                       .more = next_match(i + 1) != ring.size()};
  domain_last_ = domain;
  cursor_ = slot.sequence + 1;
  return true;
}

bool Subscription::CallDeliver(absl::Span<const Delivery> deliveries) {
  MutexLock lock(&sink_mu_);
  if (sink_ == nullptr) return false;
  sink_->Deliver(deliveries);
  return true;
}

bool Subscription::CallEnd() {
  MutexLock lock(&sink_mu_);
  if (sink_ == nullptr) return false;
  sink_->End();
  return true;
}

void Subscription::Detach() {
  MutexLock lock(&sink_mu_);
  sink_ = nullptr;
}

bool Subscription::detached() const {
  MutexLock lock(&sink_mu_);
  return sink_ == nullptr;
}

EventSlot& EventRing::Next() {
  // Full, the next slot is the oldest's: overwritten.
  EventSlot& slot = At(size_ == slots_.size() ? 0 : size_);
  if (size_ == slots_.size()) {
    head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
  } else {
    ++size_;
  }
  return slot;
}

void EventRing::Push(std::uint64_t sequence, std::uint64_t server_sequence,
                     const NamedEvent& event) {
  EventSlot& slot = Next();
  slot.sequence = sequence;
  slot.server_sequence = server_sequence;
  slot.event = event;
}

void EventRing::Take(EventSlot& from) {
  EventSlot& slot = Next();
  slot.sequence = from.sequence;
  slot.server_sequence = from.server_sequence;
  std::swap(slot.event, from.event);
  slot.proto.reset();
}

void EventRing::Swap(EventRing& other) noexcept {
  slots_.swap(other.slots_);
  std::swap(head_, other.head_);
  std::swap(size_, other.size_);
}

EventHub::EventHub(std::size_t capacity, std::size_t max_subscribers, DeliveryPriority priority,
                   Throttled throttled)
    : max_subscribers_(max_subscribers),
      pending_(capacity),
      ring_(capacity),
      taken_(capacity),
      throttled_(std::move(throttled)),
      thread_([this, priority] { Loop(priority); }) {
  CHECK_GT(capacity, 0u);
}

EventHub::~EventHub() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  thread_.join();
}

EventHub::Throttled EventHub::ThisProcessThrottled() {
  return [watch = std::make_shared<CpuThrottleWatch>()](absl::Time now) {
    return watch->Throttled(now);
  };
}

std::shared_ptr<ServerObserver> EventHub::ObserverFor(std::string server) {
  return std::make_shared<NamedObserver>(this, std::move(server));
}

absl::StatusOr<std::shared_ptr<Subscription>> EventHub::Subscribe(std::string server_filter,
                                                                  EventSink* sink) {
  MutexLock lock(&mu_);
  if (subscriptions_.size() >= max_subscribers_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many event watchers (limit ", max_subscribers_, ")"));
  }
  std::uint64_t domain_start = published_;
  if (!server_filter.empty()) {
    auto it = server_published_.find(server_filter);
    domain_start = it == server_published_.end() ? 0 : it->second;
  }
  auto subscription = std::make_shared<Subscription>(this, sink, std::move(server_filter),
                                                     published_, domain_start);
  subscriptions_.push_back(subscription);
  subscriber_count_.store(subscriptions_.size());
  return subscription;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  subscription->Detach();
  MutexLock lock(&mu_);
  subscriptions_.erase(std::remove(subscriptions_.begin(), subscriptions_.end(), subscription),
                       subscriptions_.end());
  subscriber_count_.store(subscriptions_.size());
}

void EventHub::CancelAll() {
  bool wake = false;
  {
    MutexLock lock(&mu_);
    for (const auto& subscription : subscriptions_) {
      subscription->cancelled_.store(true);
      to_serve_.push_back(ToServe{subscription, /*ready=*/false});
    }
    wake = std::exchange(loop_waits_, false);
  }
  if (wake) wake_.Signal();
}

void EventHub::Serve(std::shared_ptr<Subscription> subscription, bool ready) {
  bool wake = false;
  {
    MutexLock lock(&mu_);
    to_serve_.push_back(ToServe{std::move(subscription), ready});
    if (!loop_gathers_) wake = std::exchange(loop_waits_, false);
  }
  if (wake) wake_.Signal();
}

void EventHub::Publish(const NamedEvent& event) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  bool wake = false;
  {
    MutexLock lock(&mu_);
    ++published_;
    const std::uint64_t server_sequence = ++server_published_[event.server];
    // Beyond capacity the oldest would be pushed out of the ring anyway: drop it here. Its
    // sequence stays taken, so the subscribers see the gap.
    pending_.Push(published_, server_sequence, event);
    if (!loop_gathers_) wake = std::exchange(loop_waits_, false);
  }
  if (wake) wake_.Signal();
}

std::size_t EventHub::subscriber_count() const { return subscriber_count_.load(); }

bool EventHub::ServeOne(const std::shared_ptr<Subscription>& subscription, absl::Time now) {
  if (subscription->ended_ || subscription->awaiting_ready_) return false;  // Queued twice.
  if (subscription->cancelled_.load()) {
    subscription->ended_ = true;
    subscription->CallEnd();
    return false;
  }
  batch_.clear();
  Delivery delivery;
  while (batch_.size() < kMaxBatch && subscription->Next(ring_, &delivery)) {
    batch_.push_back(std::move(delivery));
  }
  if (batch_.empty()) {
    parked_.push_back(subscription);
    return false;
  }
  const bool delivered = subscription->CallDeliver(batch_);
  batch_.clear();  // The sink copied what it keeps: the renderings stay the ring's.
  if (!delivered) {
    subscription->ended_ = true;
    return false;
  }
  subscription->awaiting_ready_ = true;
  subscription->counted_ = true;
  ++counted_in_flight_;
  in_flight_.push_back(InFlight{subscription, ++subscription->deliveries_, now});
  return true;
}

void EventHub::Take(EventRing& events, std::vector<ToServe>& to_serve, bool throttled) {
  const std::size_t newest = throttled && events.size() > kThrottledEventsPerTurn
                                 ? events.size() - kThrottledEventsPerTurn
                                 : 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i >= newest || KeptWhenThrottled(events.At(i).event.event)) ring_.Take(events.At(i));
  }
  for (ToServe& entry : to_serve) {
    Subscription& subscription = *entry.subscription;
    if (entry.ready) {
      subscription.awaiting_ready_ = false;
      if (subscription.counted_) {
        subscription.counted_ = false;
        --counted_in_flight_;
      }
    }
    if (subscription.ended_) continue;
    if (subscription.cancelled_.load()) {
      // At once, even with a delivery in flight: the sink orders End after it.
      subscription.ended_ = true;
      subscription.CallEnd();
      continue;
    }
    if (!subscription.awaiting_ready_) runnable_.push_back(std::move(entry.subscription));
  }
  if (!events.empty()) {
    // Parked subscribers (with credit, nothing to send until now) take their turn.
    runnable_.insert(runnable_.end(), std::make_move_iterator(parked_.begin()),
                     std::make_move_iterator(parked_.end()));
    parked_.clear();
  } else if (parked_.size() > 2 * subscriber_count() + 64) {
    // Subscribers that left while parked: drop them without waiting for the next event.
    parked_.erase(
        std::remove_if(parked_.begin(), parked_.end(), [](const auto& s) { return s->detached(); }),
        parked_.end());
  }
}

bool EventHub::ServeRunnable(absl::Time now, bool throttled) {
  // Deliveries that completed, or stalled, no longer count.
  while (!in_flight_.empty()) {
    const InFlight& oldest = in_flight_.front();
    Subscription& subscription = *oldest.subscription;
    const bool counted = subscription.counted_ && subscription.deliveries_ == oldest.delivery;
    if (counted && now - oldest.since < kStalledAfter) break;
    if (counted) {
      subscription.counted_ = false;
      --counted_in_flight_;
    }
    in_flight_.pop_front();
  }
  std::size_t budget =
      throttled ? kThrottledBatchesPerTurn : std::numeric_limits<std::size_t>::max();
  while (!runnable_.empty() && counted_in_flight_ < kMaxInFlight && budget > 0) {
    std::shared_ptr<Subscription> subscription = std::move(runnable_.front());
    runnable_.pop_front();
    if (ServeOne(subscription, now)) --budget;
  }
  return budget == 0 && !runnable_.empty();
}

void EventHub::Loop(DeliveryPriority priority) {
  pthread_setname_np(pthread_self(), "weft-events");  // For top -H, perf and /proc.
  if (priority == DeliveryPriority::kIdle) LowerPriority();
  // After a turn that took events more are likely: for kGatherFor from the next wait's start
  // (so that a thread starved past the window still sleeps it), publishing and credits given
  // back do not wake this thread, which takes what came when the time is up.
  bool took_events = false;
  bool throttled = false;     // At the last turn.
  bool budget_spent = false;  // Subscribers with credit wait for the next turn's budget.
  absl::Time gather_until = absl::InfinitePast();
  while (true) {
    std::vector<ToServe> to_serve;
    {
      MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      if (took_events || budget_spent) {
        gather_until = now + (throttled ? kThrottledGatherFor : kGatherFor);
      }
      loop_waits_ = true;
      loop_gathers_ = now < gather_until;
      auto has_work = [this]() {
        mu_.AssertHeld();
        return stopping_ || (!loop_gathers_ && (!to_serve_.empty() || !pending_.empty()));
      };
      absl::Time deadline = absl::InfiniteFuture();
      // Held back by the deliveries in flight: until a Ready, or until the oldest stalls.
      if (!runnable_.empty() && !in_flight_.empty()) {
        deadline = in_flight_.front().since + kStalledAfter;
      }
      if (loop_gathers_) deadline = std::min(deadline, gather_until);
      if (deadline == absl::InfiniteFuture()) {
        wake_.Await(&mu_, has_work);
      } else {
        wake_.AwaitUntil(&mu_, has_work, DeadlineAfter(deadline - absl::Now()));
      }
      loop_waits_ = false;
      loop_gathers_ = false;
      if (stopping_) break;
      taken_.Swap(pending_);
      to_serve.swap(to_serve_);
    }
    took_events = !taken_.empty();
    const absl::Time turn = absl::Now();
    throttled = throttled_(turn);
    Take(taken_, to_serve, throttled);
    taken_.Clear();
    budget_spent = ServeRunnable(turn, throttled);
  }
}

}  // namespace weft::control
