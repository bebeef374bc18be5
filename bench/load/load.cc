#include "bench/load/load.h"

namespace weft::bench {

const char* LoadModeName(LoadMode mode) {
  switch (mode) {
    case LoadMode::kPingPong:
      return "pingpong";
    case LoadMode::kConnRate:
      return "connrate";
    case LoadMode::kIdle:
      return "idle";
    case LoadMode::kBulk:
      return "bulk";
  }
  return "?";
}

absl::StatusOr<Report> RunLoad(const LoadOptions& options) {
  if (options.max_runtime <= absl::ZeroDuration() || options.op_timeout <= absl::ZeroDuration() ||
      options.duration < absl::ZeroDuration() || options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("durations must be positive");
  }
  switch (options.mode) {
    case LoadMode::kPingPong:
      return RunPingPong(options);
    case LoadMode::kConnRate:
      return RunConnRate(options);
    case LoadMode::kIdle:
      return RunIdle(options);
    case LoadMode::kBulk:
      return RunBulk(options);
  }
  return absl::InvalidArgumentError("unknown mode");
}

}  // namespace weft::bench
