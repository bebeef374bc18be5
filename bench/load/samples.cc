#include "bench/load/samples.h"

#include <algorithm>
#include <cmath>

namespace weft::bench {

LatencySamples::LatencySamples(std::size_t cap) : cap_(cap) {}

void LatencySamples::Add(std::int64_t nanoseconds) {
  const std::uint64_t value =
      nanoseconds < 0 ? 0 : std::min<std::uint64_t>(nanoseconds, UINT32_MAX);
  ++count_;
  sum_ += value;
  max_ = std::max(max_, value);
  sorted_ = false;
  if (kept_.size() < cap_) {
    kept_.push_back(static_cast<std::uint32_t>(value));
    return;
  }
  // Algorithm R: the i-th sample replaces a kept one with probability cap/i.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const std::uint64_t slot = rng_ % count_;
  if (slot < cap_) kept_[slot] = static_cast<std::uint32_t>(value);
}

double LatencySamples::PercentileMicros(double q) {
  if (kept_.empty()) return 0;
  if (!sorted_) {
    std::sort(kept_.begin(), kept_.end());
    sorted_ = true;
  }
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank.
  std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(kept_.size())));
  if (rank > 0) --rank;
  rank = std::min(rank, kept_.size() - 1);
  return static_cast<double>(kept_[rank]) / 1000.0;
}

double LatencySamples::MeanMicros() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_ / count_) / 1000.0;
}

}  // namespace weft::bench
