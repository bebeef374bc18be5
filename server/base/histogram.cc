#include "weft/base/histogram.h"

#include <algorithm>
#include <cmath>

#include "weft/base/log.h"

namespace weft::base {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<std::uint64_t>[upper_bounds_.size() + 1]) {
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    CHECK(std::isfinite(upper_bounds_[i])) << "histogram bound " << i << " is not finite";
    CHECK(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i])
        << "histogram bounds must be strictly increasing";
  }
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  counts_[bucket - upper_bounds_.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  snapshot.counts.reserve(upper_bounds_.size() + 1);
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    snapshot.counts.push_back(counts_[i].load(std::memory_order_relaxed));
    snapshot.count += snapshot.counts.back();
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

const std::vector<double>& DurationBucketsSeconds() {
  static const std::vector<double> kBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                               5,     10,    30,   60,   300, 900, 3600};
  return kBuckets;
}

}  // namespace weft::base
