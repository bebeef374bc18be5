// Internal header: do not include from outside the weft library and its tests.
//
// StackPool: the fiber stacks of a scheduler group, guard-paged and reused. Allocate and
// Release are inline: a fiber's start and end take one of each.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <new>
#include <vector>

#include <boost/context/stack_context.hpp>

#include "weft/base/sync.h"

namespace weft::internal {

// kMinStackSize: the smallest usable stack a fiber gets, whatever was asked for.
inline constexpr std::size_t kMinStackSize = 16 * 1024;

// kMaxPooledStacks: freed stacks kept for reuse: a new connection then costs no mmap/mprotect
// and no munmap (whose TLB shoot-down interrupts every other core).
inline constexpr std::size_t kMaxPooledStacks = 256;

// StackPool: guard-paged stacks of one size. Thread-safe (fibers are created by whoever calls
// AddTask; their stacks are freed on the scheduler thread). Owns the stacks it keeps; a stack it
// hands out belongs to the caller until Release.
class StackPool {
 public:
  // The usable size of each stack is `usable` (at least kMinStackSize), times
  // kSanitizerStackFactor, rounded up to whole pages.
  explicit StackPool(std::size_t usable);
  // Unmaps the stacks kept (a stack still handed out stays mapped).
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Allocate maps usable_ bytes plus one PROT_NONE guard page below them: an overflow faults
  // (SIGSEGV) at the guard instead of overwriting the next mapping. Throws std::bad_alloc.
  boost::context::stack_context Allocate() {
    {
      MutexLock lock(&mu_);
      if (!free_.empty()) {
        boost::context::stack_context s = free_.back();
        free_.pop_back();
        return s;
      }
    }
    const std::size_t total = usable_ + PageSize();
    void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    if (::mprotect(base, PageSize(), PROT_NONE) != 0) {
      ::munmap(base, total);
      throw std::bad_alloc();
    }
    boost::context::stack_context s;
    s.size = usable_;
    s.sp = static_cast<char*>(base) + total;
    return s;
  }

  // Release takes back a stack from Allocate: kept for reuse, or unmapped when kMaxPooledStacks
  // are kept already.
  void Release(boost::context::stack_context& s) {
    {
      MutexLock lock(&mu_);
      if (free_.size() < kMaxPooledStacks) {
        free_.push_back(s);
        return;
      }
    }
    Unmap(s);
  }

  // usable: the usable bytes of each stack.
  std::size_t usable() const { return usable_; }

 private:
  static std::size_t PageSize() {
    static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return page;
  }

  void Unmap(const boost::context::stack_context& s) {
    ::munmap(static_cast<char*>(s.sp) - s.size - PageSize(), s.size + PageSize());
  }

  const std::size_t usable_;
  Mutex mu_;
  std::vector<boost::context::stack_context> free_ ABSL_GUARDED_BY(mu_);
};

// PooledStack: Boost.Context's StackAllocator concept over a StackPool, which it does not own
// and which must outlive it. Thread-safe, as the pool is.
class PooledStack {
 public:
  explicit PooledStack(StackPool* pool) : pool_(pool) {}
  // allocate: StackPool::Allocate.
  boost::context::stack_context allocate() { return pool_->Allocate(); }
  // deallocate: StackPool::Release.
  void deallocate(boost::context::stack_context& s) noexcept { pool_->Release(s); }

 private:
  StackPool* pool_;
};

}  // namespace weft::internal
