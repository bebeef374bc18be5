#include "weft/base/serial_delivery.h"

#include <utility>

namespace weft {

std::uint64_t SerialDelivery::Post(Callback callback) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(callback));
  return ++posted_;
}

void SerialDelivery::AwaitDelivered(std::uint64_t sequence) {
  MutexLock lock(&mu_);
  delivered_cv_.Await(&mu_, [this, sequence]() {
    mu_.AssertHeld();
    return delivered_ >= sequence;
  });
}

void SerialDelivery::Flush() {
  mu_.Lock();
  if (delivering_) {
    if (deliverer_ != std::this_thread::get_id()) {
      const std::uint64_t target = posted_;
      delivered_cv_.Await(&mu_, [this, target]() {
        mu_.AssertHeld();
        return delivered_ >= target;
      });
    }
    mu_.Unlock();
    return;
  }
  delivering_ = true;
  deliverer_ = std::this_thread::get_id();
  while (!queue_.empty()) {
    Callback callback = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    std::move(callback)();
    mu_.Lock();
    ++delivered_;
    delivered_cv_.SignalAll();
  }
  delivering_ = false;
  deliverer_ = std::thread::id();
  mu_.Unlock();
}

}  // namespace weft
