// Internal header: do not include from outside the weft library and its tests.
//
// BlockingPool: the helper threads of a fiber scheduler group, which run the blocking work that
// fibers hand off (RunBlocking) so that their scheduler threads never block.
#pragma once

#include <cstddef>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "weft/base/sync.h"

namespace weft::internal {

// BlockingPool: thread-safe. Starts its helper threads on demand; the destructor lets them run
// every job submitted, then joins them. Owns the jobs until they have run.
class BlockingPool {
 public:
  // At most `max_threads` (≥ 1) helper threads run at a time.
  explicit BlockingPool(std::size_t max_threads) : max_threads_(max_threads) {}
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Submit runs `job` on a helper thread: an idle one, or a new one while fewer than
  // max_threads run; otherwise it waits its turn.
  void Submit(absl::AnyInvocable<void()> job) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void HelperMain() ABSL_LOCKS_EXCLUDED(mu_);

  const std::size_t max_threads_;
  Mutex mu_;
  CondVar cv_;
  std::vector<absl::AnyInvocable<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  std::size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> helpers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::internal
