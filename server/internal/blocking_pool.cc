#include "server/internal/blocking_pool.h"

#include <utility>

namespace weft::internal {

BlockingPool::~BlockingPool() {
  std::vector<std::thread> helpers;
  {
    MutexLock lock(&mu_);
    closing_ = true;
    cv_.SignalAll();
    helpers.swap(helpers_);
  }
  for (std::thread& t : helpers) t.join();
}

void BlockingPool::Submit(absl::AnyInvocable<void()> job) {
  MutexLock lock(&mu_);
  jobs_.push_back(std::move(job));
  if (idle_ == 0 && helpers_.size() < max_threads_) {
    helpers_.emplace_back([this] { HelperMain(); });
  } else {
    cv_.Signal();
  }
}

void BlockingPool::HelperMain() {
  MutexLock lock(&mu_);
  while (true) {
    while (jobs_.empty() && !closing_) {
      ++idle_;
      cv_.Wait(&mu_);
      --idle_;
    }
    if (jobs_.empty()) return;
    absl::AnyInvocable<void()> job = std::move(jobs_.front());
    jobs_.erase(jobs_.begin());
    mu_.Unlock();
    job();
    job = nullptr;
    mu_.Lock();
  }
}

}  // namespace weft::internal
