#include "server/internal/fiber_scheduler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include <boost/context/fiber.hpp>

#include "absl/strings/str_cat.h"
#include "server/internal/deadline_heap.h"
#include "server/internal/fiber.h"
#include "server/internal/fiber_poller.h"
#include "server/internal/fiber_switch.h"
#include "server/internal/stack_pool.h"
#include "server/internal/task_control.h"
#include "weft/base/log.h"

namespace weft::internal {
namespace {

thread_local FiberScheduler* tls_scheduler = nullptr;
thread_local Fiber* tls_fiber = nullptr;

}  // namespace

// FiberScheduler: one thread, one epoll, the fibers spawned on it. Spawn and Unpark are
// thread-safe; everything else runs on the scheduler thread.
class FiberScheduler {
 public:
  FiberScheduler(FiberSchedulerGroup* group, StackPool* stacks) : group_(group), stacks_(stacks) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~FiberScheduler() {
    exit_.store(true, std::memory_order_release);
    poller_.Notify();
    thread_.join();
  }

  FiberSchedulerGroup* group() const { return group_; }
  std::size_t load() const { return live_.load(std::memory_order_relaxed); }

  absl::Status Spawn(absl::AnyInvocable<void()> fn) {
    auto fiber = std::make_unique<Fiber>(this, std::move(fn));
    Fiber* f = fiber.get();
    try {
      f->context.Create(PooledStack(stacks_), [f](boost::context::fiber&& scheduler) {
        return Body(f, std::move(scheduler));
      });
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot map a ", stacks_->usable(), "-byte fiber stack: ",
                       "out of memory or vm.max_map_count reached"));
    }
    live_.fetch_add(1, std::memory_order_relaxed);
    fiber.release();  // Owned by the scheduler from here: freed in Finish.
    Unpark(f);
    return absl::OkStatus();
  }

  void Unpark(Fiber* f) {
    if (tls_scheduler == this) {
      MakeReadyIfParked(f);
      return;
    }
    bool notify;
    {
      MutexLock lock(&remote_mu_);
      if (f->remote_queued) return;
      f->remote_queued = true;
      notify = remote_ready_.empty();
      remote_ready_.push_back(f);
      remote_pending_.store(true, std::memory_order_release);
    }
    if (notify) poller_.Notify();
  }

  // Park suspends the running fiber `f` (on this thread) until woken.
  WakeReason Park(Fiber* f, Deadline deadline) {
    f->state = Fiber::State::kParked;
    if (deadline != kNoDeadline) {
      timers_.Set(f, deadline);
    } else if (f->heap_index != kNotInHeap) {
      timers_.Remove(f);
    }
    f->context.Suspend(context_);
    return f->reason;
  }

  void Yield(Fiber* f) {
    f->state = Fiber::State::kReady;
    ready_.push_back(f);
    f->context.Suspend(context_);
  }

  // poller: this scheduler's epoll, for the waits of its fibers (on this thread).
  FiberPoller& poller() { return poller_; }

 private:
  static boost::context::fiber Body(Fiber* f, boost::context::fiber&& scheduler) {
    f->context.Enter(std::move(scheduler));
    {
      absl::AnyInvocable<void()> fn = std::move(f->fn);
      try {
        fn();
      } catch (...) {
        LOG(FATAL) << "an exception escaped a fiber's task boundary";
      }
    }
    return f->context.Exit(f->scheduler->context_);
  }

  void Resume(Fiber* f) {
    f->state = Fiber::State::kRunning;
    tls_fiber = f;
    ExchangeCurrentTask(f->current_task);
    f->context.Resume();
    f->current_task = ExchangeCurrentTask(nullptr);
    tls_fiber = nullptr;
    if (f->context.ended()) Finish(f);
  }

  void Finish(Fiber* f) {
    if (f->heap_index != kNotInHeap) timers_.Remove(f);
    poller_.Forget(f);
    {
      MutexLock lock(&remote_mu_);
      if (f->remote_queued) {
        remote_ready_.erase(std::find(remote_ready_.begin(), remote_ready_.end(), f));
      }
    }
    f->context.Destroy();
    delete f;
    live_.fetch_sub(1, std::memory_order_relaxed);
  }

  void MakeReadyIfParked(Fiber* f, WakeReason reason = WakeReason::kWoken) {
    if (f->state != Fiber::State::kParked) return;
    f->state = Fiber::State::kReady;
    f->reason = reason;
    ready_.push_back(f);
  }

  // DrainRemote takes the wake-ups posted by other threads. It runs once per loop turn and
  // takes the lock only when some are pending: a wake-up posted after the check comes with a
  // Notify, which ends the next poll at once.
  void DrainRemote() {
    if (!remote_pending_.load(std::memory_order_acquire)) return;
    {
      MutexLock lock(&remote_mu_);
      remote_taken_.swap(remote_ready_);
      for (Fiber* f : remote_taken_) f->remote_queued = false;
      remote_pending_.store(false, std::memory_order_relaxed);
    }
    for (Fiber* f : remote_taken_) MakeReadyIfParked(f);
    remote_taken_.clear();
  }

  void Loop() {
    tls_scheduler = this;
    context_.Bind();
    FiberPoller::Events events;
    while (true) {
      const bool exit = exit_.load(std::memory_order_acquire);
      DrainRemote();
      // Only the fibers ready now: one that yields runs again after the next poll.
      for (std::size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
        Fiber* f = ready_.front();
        ready_.pop_front();
        Resume(f);
      }
      if (exit && live_.load(std::memory_order_relaxed) == 0) break;
      const int timeout = ready_.empty() ? timers_.TimeoutMs() : 0;
      const auto ready = [this](Fiber* f) { MakeReadyIfParked(f, WakeReason::kReady); };
      if (!poller_.Poll(timeout, events, ready)) continue;
      FireTimers();
    }
    tls_scheduler = nullptr;
  }

  // FireTimers makes the fibers whose deadline has passed ready.
  void FireTimers() {
    if (timers_.empty()) return;
    const Deadline now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.front()->park_deadline <= now) {
      Fiber* f = timers_.front();
      timers_.Remove(f);
      MakeReadyIfParked(f, WakeReason::kTimeout);
    }
  }

  FiberSchedulerGroup* const group_;
  StackPool* const stacks_;
  FiberPoller poller_;
  std::atomic<std::size_t> live_{0};  // Fibers spawned and not yet finished.

  // Scheduler thread only.
  std::deque<Fiber*> ready_;
  DeadlineHeap timers_;
  std::vector<Fiber*> remote_taken_;
  [[no_unique_address]] SchedulerContext context_;  // Empty outside TSan builds.

  Mutex remote_mu_;
  std::vector<Fiber*> remote_ready_ ABSL_GUARDED_BY(remote_mu_);
  // remote_ready_ is not empty (written under remote_mu_, read without it by DrainRemote).
  std::atomic<bool> remote_pending_{false};
  std::atomic<bool> exit_{false};  // The destructor asked the loop to end.


  std::thread thread_;
};

// --- FiberWaiter ------------------------------------------------------------------------------

absl::Status FiberWaiter::Wait(int fd, IoInterest interest, Deadline deadline) {
  CHECK_EQ(CurrentFiber(), fiber_) << "a fiber's waiter was used outside its fiber";
  FiberScheduler* scheduler = fiber_->scheduler;
  FiberPoller& poller = scheduler->poller();
  while (true) {
    const TaskControl* task = CurrentTask();
    if (task != nullptr && task->shutdown_requested()) {
      return absl::CancelledError("task is shutting down");
    }
    if (deadline != kNoDeadline && std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError("I/O deadline passed");
    }
    if (poller.TakeEdge(fiber_, fd, interest)) return absl::OkStatus();
    if (absl::Status s = poller.Watch(fiber_, fd, interest); !s.ok()) return s;
    const WakeReason reason = scheduler->Park(fiber_, deadline);
    poller.Unwatch(fd);
    if (reason == WakeReason::kReady) return absl::OkStatus();
  }
}

// Every registration of the fiber is dropped, not only `fd`'s, so that a reused descriptor number
// is registered afresh. No EPOLL_CTL_DEL: close() removes the registration, and one that survives
// (a dup()ed socket) is harmless — events are keyed by descriptor slot and reach only a fiber
// parked on that slot, as a spurious wake-up.
void FiberWaiter::ForgetDescriptor(int /*fd*/) {
  if (CurrentFiber() != fiber_) return;
  fiber_->scheduler->poller().Forget(fiber_);
}

// --- Free functions ---------------------------------------------------------------------------

Fiber* CurrentFiber() { return tls_fiber; }

WakeReason ParkCurrentFiber(Deadline deadline) {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "ParkCurrentFiber outside a fiber";
  return f->scheduler->Park(f, deadline);
}

void UnparkFiber(Fiber* fiber) { fiber->scheduler->Unpark(fiber); }

void YieldCurrentFiber() {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "YieldCurrentFiber outside a fiber";
  f->scheduler->Yield(f);
}

TaskWaiter& CurrentFiberWaiter() {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "CurrentFiberWaiter outside a fiber";
  return f->waiter;
}

void SubmitBlockingWork(absl::AnyInvocable<void()> job) {
  Fiber* f = tls_fiber;
  CHECK(f != nullptr) << "SubmitBlockingWork outside a fiber";
  f->scheduler->group()->SubmitBlocking(std::move(job));
}

// --- FiberSchedulerGroup ----------------------------------------------------------------------

FiberSchedulerGroup::FiberSchedulerGroup(FiberGroupOptions options)
    : stack_size_(std::max(options.stack_size, kMinStackSize)),
      stacks_(std::make_unique<StackPool>(options.stack_size)),
      blocking_(std::max<std::size_t>(options.blocking_threads, 1)) {
  CHECK_GE(options.threads, 1u);
  schedulers_.reserve(options.threads);
  for (std::size_t i = 0; i < options.threads; ++i) {
    schedulers_.push_back(std::make_unique<FiberScheduler>(this, stacks_.get()));
  }
}

FiberSchedulerGroup::~FiberSchedulerGroup() {
  schedulers_.clear();  // Each joins its thread once its fibers have ended.
}

absl::Status FiberSchedulerGroup::Spawn(absl::AnyInvocable<void()> fn) {
  FiberScheduler* best = schedulers_.front().get();
  for (const auto& s : schedulers_) {
    if (s->load() < best->load()) best = s.get();
  }
  return best->Spawn(std::move(fn));
}

void FiberSchedulerGroup::SubmitBlocking(absl::AnyInvocable<void()> job) {
  blocking_.Submit(std::move(job));
}

// --- FiberAwareCondVar ------------------------------------------------------------------------

bool FiberAwareCondVar::WaitUntil(Mutex* mu, Deadline deadline) {
  Fiber* self = tls_fiber;
  if (self == nullptr) return cv_.WaitUntil(mu, deadline);
  fibers_.push_back(self);
  mu->Unlock();
  // A SignalAll between the unlock and the park is not lost: a wake-up from another thread is
  // queued and only processed after this fiber has switched out; none can come from this one.
  const WakeReason reason = self->scheduler->Park(self, deadline);
  mu->Lock();
  auto it = std::find(fibers_.begin(), fibers_.end(), self);
  if (it != fibers_.end()) fibers_.erase(it);
  return reason != WakeReason::kTimeout;
}

void FiberAwareCondVar::SignalAll(Mutex* /*mu*/) {
  for (Fiber* f : fibers_) UnparkFiber(f);
  fibers_.clear();
  cv_.SignalAll();
}

}  // namespace weft::internal
