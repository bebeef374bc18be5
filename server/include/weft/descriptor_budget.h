// DescriptorBudget: a process-wide account of the file descriptors that listeners may spend on
// connections, so that a flood is shed by an admission decision (counted, with a reason) before
// the process reaches EMFILE — and the rest of the process (a control plane, log files, the
// runtime's own descriptors) keeps the reserve the budget leaves it.
//
// Every manager spends exactly one descriptor per connection (its socket): thread-based
// managers wake blocked I/O with a signal, the fiber manager with its scheduler's epoll. So one
// unit of the budget is one connection.
//
// Sizing: SizeDescriptorBudget below derives the capacity from RLIMIT_NOFILE, the descriptors
// already open and a reserve. weftd does it at start-up (see config.proto, `descriptors`).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace weft {

// DescriptorBudget: thread-safe (lock-free); shared by the servers that draw from it
// (ServerOptions::descriptor_budget), which must not outlive it (hold it by shared_ptr).
class DescriptorBudget {
 public:
  // kUnsized: the capacity of a budget not sized yet: everything is admitted.
  static constexpr std::size_t kUnsized = SIZE_MAX;

  // `capacity`: descriptors the holders may have open at once; 0 admits nothing.
  explicit DescriptorBudget(std::size_t capacity = kUnsized) : capacity_(capacity) {}
  DescriptorBudget(const DescriptorBudget&) = delete;
  DescriptorBudget& operator=(const DescriptorBudget&) = delete;

  // TryAcquire takes one descriptor from the budget; false (and nothing taken) when all
  // `capacity` are in use.
  [[nodiscard]] bool TryAcquire();
  // Release gives back one descriptor taken by TryAcquire. Releasing more than was taken is a
  // bug (CHECK-fails).
  void Release();

  // Resize sets the capacity (e.g. once a process has measured what its start-up used).
  // Descriptors already taken stay taken: in_use may exceed the new capacity until they are
  // released.
  void Resize(std::size_t capacity) { capacity_.store(capacity, std::memory_order_relaxed); }

  std::size_t capacity() const { return capacity_.load(std::memory_order_relaxed); }
  std::size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // refusals counts TryAcquire calls that returned false.
  std::uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> capacity_;
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::uint64_t> refusals_{0};
};

// DescriptorBudgetPlan: how a process's descriptor limit is divided.
struct DescriptorBudgetPlan {
  std::uint64_t limit = 0;      // Soft RLIMIT_NOFILE, in descriptors.
  std::uint64_t open = 0;       // Descriptors open when the plan was made, not counting
                                // those of connections already in the budget.
  std::uint64_t reserve = 0;    // Kept back from listeners for everything else.
  std::uint64_t listeners = 0;  // limit - open - reserve: the budget's capacity.
};

// SizeDescriptorBudget divides the current soft RLIMIT_NOFILE: the descriptors open now (counted
// in /proc/self/fd), less `held_by_connections` (connections already holding budget, which stay
// in the listeners' share), stay where they are; `reserve` more are kept back; the rest — at
// least `min_listener_descriptors` — becomes the listeners' budget. Errors: FAILED_PRECONDITION
// when the limit leaves fewer than `min_listener_descriptors` for listeners (the message gives
// every figure, so an operator can raise the limit or lower the reserve); INTERNAL when the open
// descriptors cannot be read (the limit is SoftDescriptorLimit()). Thread-safe; call it at start-up, before the process
// opens descriptors that it does not count in `reserve`.
absl::StatusOr<DescriptorBudgetPlan> SizeDescriptorBudget(std::uint64_t reserve,
                                                          std::uint64_t min_listener_descriptors,
                                                          std::uint64_t held_by_connections = 0);

}  // namespace weft
