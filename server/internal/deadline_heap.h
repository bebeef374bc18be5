// Internal header: do not include from outside the weft library and its tests.
//
// DeadlineHeap: the timers of a fiber scheduler, its parked fibers ordered by deadline. Inline:
// the scheduler consults it on every park and every turn of its loop.
#pragma once

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "server/internal/fiber.h"
#include "weft/base/deadline.h"

namespace weft::internal {

// DeadlineHeap: a binary min-heap of fibers by park_deadline; each fiber is in it at most once
// (its position in heap_index, kNotInHeap when absent), so the heap never outgrows the fibers.
// Holds the fibers without owning them; confined to the scheduler thread.
class DeadlineHeap {
 public:
  // empty: whether no fiber has a deadline.
  bool empty() const { return timers_.empty(); }

  // front: the fiber with the earliest deadline. Requires: !empty().
  Fiber* front() const { return timers_.front(); }

  // TimeoutMs: the epoll_wait timeout until the earliest deadline: -1 (none), 0 (passed) or the
  // milliseconds left, rounded up.
  int TimeoutMs() const {
    if (timers_.empty()) return -1;
    const auto left = timers_.front()->park_deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
  }

  // Set puts `f` in the heap at `deadline`, or moves it there if it is in already.
  void Set(Fiber* f, Deadline deadline) {
    f->park_deadline = deadline;
    if (f->heap_index == kNotInHeap) {
      f->heap_index = timers_.size();
      timers_.push_back(f);
    }
    SiftUp(f->heap_index);
    SiftDown(f->heap_index);
  }

  // Remove takes `f` out of the heap. Requires: `f` is in it.
  void Remove(Fiber* f) {
    const std::size_t i = f->heap_index;
    f->heap_index = kNotInHeap;
    Fiber* last = timers_.back();
    timers_.pop_back();
    if (last == f) return;
    timers_[i] = last;
    last->heap_index = i;
    SiftUp(i);
    SiftDown(last->heap_index);
  }

 private:
  void SiftUp(std::size_t i) {
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (timers_[parent]->park_deadline <= timers_[i]->park_deadline) break;
      Swap(i, parent);
      i = parent;
    }
  }

  void SiftDown(std::size_t i) {
    while (true) {
      std::size_t smallest = i;
      for (std::size_t child = 2 * i + 1; child <= 2 * i + 2 && child < timers_.size(); ++child) {
        if (timers_[child]->park_deadline < timers_[smallest]->park_deadline) smallest = child;
      }
      if (smallest == i) return;
      Swap(i, smallest);
      i = smallest;
    }
  }

  void Swap(std::size_t a, std::size_t b) {
    std::swap(timers_[a], timers_[b]);
    timers_[a]->heap_index = a;
    timers_[b]->heap_index = b;
  }

  std::vector<Fiber*> timers_;
};

}  // namespace weft::internal
