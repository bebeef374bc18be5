// LatencySamples: latencies recorded during a measurement window, kept exactly up to a cap and
// reservoir-sampled beyond it, so memory stays bounded however long a run is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::bench {

// Thread-compatible.
class LatencySamples {
 public:
  // `cap` samples are kept (4 bytes each); beyond it each new sample replaces a random one.
  explicit LatencySamples(std::size_t cap = 8 << 20);

  // Add records one latency in nanoseconds (values above ~4.29 s are clamped).
  void Add(std::int64_t nanoseconds);

  // count returns how many samples were added (not how many are kept).
  std::uint64_t count() const { return count_; }

  // PercentileMicros returns the q-quantile (0 ≤ q ≤ 1) in microseconds, 0 if empty. Sorts the
  // kept samples on first use after an Add.
  double PercentileMicros(double q);
  double MaxMicros() const { return static_cast<double>(max_) / 1000.0; }
  double MeanMicros() const;

 private:
  std::size_t cap_;
  std::vector<std::uint32_t> kept_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  bool sorted_ = true;
};

}  // namespace weft::bench
