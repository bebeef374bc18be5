// Histogram: a distribution in fixed buckets, as Prometheus histograms expose it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace weft::base {

// HistogramSnapshot: a histogram's values at one moment.
struct HistogramSnapshot {
  // The buckets' inclusive upper bounds, strictly increasing; the implicit last bucket is +Inf.
  std::vector<double> upper_bounds;
  // Observations per bucket (not cumulative): upper_bounds.size() + 1 entries, the last one
  // counting observations above every bound.
  std::vector<std::uint64_t> counts;
  // The sum of the observed values.
  double sum = 0;
  // Observations in all (the sum of `counts`).
  std::uint64_t count = 0;
};

// Histogram: counts observations in fixed buckets. Thread-safe and lock-free: Observe is two
// relaxed atomic additions, so it may be called from data-plane hot paths. A snapshot taken
// while Observe runs elsewhere may see the observation's bucket but not yet its sum; `count` is
// always the sum of the buckets the snapshot saw.
class Histogram {
 public:
  // Requires: `upper_bounds` is strictly increasing and finite (CHECK).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Observe adds `value` to the first bucket whose bound is >= value (the +Inf bucket if none).
  void Observe(double value);

  HistogramSnapshot Snapshot() const;

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  const std::vector<double> upper_bounds_;
  const std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// kDurationBucketsSeconds: bucket bounds for durations from a millisecond to an hour, in seconds:
// 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600.
const std::vector<double>& DurationBucketsSeconds();

}  // namespace weft::base
