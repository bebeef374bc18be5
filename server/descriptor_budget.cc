#include "weft/descriptor_budget.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "weft/base/log.h"
#include "weft/descriptor_limit.h"

namespace weft {

bool DescriptorBudget::TryAcquire() {
  std::size_t used = in_use_.load(std::memory_order_relaxed);
  do {
    if (used >= capacity()) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!in_use_.compare_exchange_weak(used, used + 1, std::memory_order_relaxed));
  return true;
}

void DescriptorBudget::Release() {
  const std::size_t before = in_use_.fetch_sub(1, std::memory_order_relaxed);
  CHECK_GT(before, 0u) << "DescriptorBudget released more than acquired";
}

absl::StatusOr<DescriptorBudgetPlan> SizeDescriptorBudget(std::uint64_t reserve,
                                                          std::uint64_t min_listener_descriptors,
                                                          std::uint64_t held_by_connections) {
  absl::StatusOr<std::uint64_t> open = CountOpenDescriptors();
  if (!open.ok()) return open.status();
  DescriptorBudgetPlan plan;
  plan.limit = SoftDescriptorLimit();
  plan.open = *open - std::min(held_by_connections, *open);
  plan.reserve = reserve;
  const std::uint64_t needed = plan.open + plan.reserve + min_listener_descriptors;
  if (plan.limit < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "RLIMIT_NOFILE ", plan.limit, " is too low: ", plan.open,
        " descriptors are open at start, ", plan.reserve,
        " are reserved for the control plane and internal use, and listeners need at "
        "least ",
        min_listener_descriptors, "; raise the limit (ulimit -n, LimitNOFILE=) to at least ",
        needed, " or lower the reserve"));
  }
  plan.listeners = plan.limit - plan.open - plan.reserve;
  return plan;
}

}  // namespace weft
