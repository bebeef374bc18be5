#include "server/internal/stack_pool.h"

#include <algorithm>

#include "server/internal/fiber_switch.h"

namespace weft::internal {

StackPool::StackPool(std::size_t usable)
    : usable_((std::max(usable, kMinStackSize) * kSanitizerStackFactor + PageSize() - 1) /
              PageSize() * PageSize()) {}

StackPool::~StackPool() {
  for (const boost::context::stack_context& s : free_) Unmap(s);
}

}  // namespace weft::internal
