// TaskFilter: the selection of tasks that ListTasks and StopTasks share (weft.control.v1
// TaskFilter), parsed and validated once per request, then tested against each task.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "weft/control/v1/control.pb.h"
#include "weft/task.h"

namespace weft::control {

// Network: an IP network, IPv4 or IPv6, as a CIDR block; one address is a /32 or /128.
class Network {
 public:
  // Parse reads "10.0.0.0/8", "fd00::/8", "127.0.0.1" or "::1". INVALID_ARGUMENT (saying what
  // is wrong) for anything else, including host bits set beyond the prefix ("10.0.0.1/8").
  static absl::StatusOr<Network> Parse(absl::string_view text);

  // ContainsPeer is true when `peer`, as tasks record it ("127.0.0.1:80", "[::1]:80"), is an
  // address in the network. An IPv4-mapped IPv6 peer ("[::ffff:10.0.0.1]:80") counts as its
  // IPv4 address. False for a peer that is not an IP endpoint.
  bool ContainsPeer(absl::string_view peer) const;

 private:
  Network() = default;
  bool ContainsAddress(const std::array<std::uint8_t, 16>& address, bool v4) const;

  bool v4_ = true;
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first 4.
  int prefix_length_ = 0;
};

// TaskFilter: immutable once built; thread-compatible (concurrent Matches are safe).
class TaskFilter {
 public:
  // FromProto validates `proto`: INVALID_ARGUMENT naming the field (prefixed with
  // `field_prefix`, e.g. "filter.") for a negative or malformed duration, an unspecified
  // state, a peer that is not a network, or max_bytes below min_bytes.
  static absl::StatusOr<TaskFilter> FromProto(const v1::TaskFilter& proto,
                                              absl::string_view field_prefix = "filter.");

  // AddMinAge / AddMinIdle tighten the filter with ListTasksRequest's older min_age/min_idle.
  void AddMinAge(absl::Duration age);
  void AddMinIdle(absl::Duration idle);

  // empty is true when the filter selects every task.
  bool empty() const;

  // Matches is true when `task` meets every condition.
  bool Matches(const TaskInfo& task) const;

 private:
  TaskFilter() = default;

  std::uint32_t state_mask_ = 0;  // Bit per weft::TaskState; 0 = any.
  std::optional<Network> peer_;
  absl::Duration min_idle_ = absl::ZeroDuration();
  absl::Duration min_age_ = absl::ZeroDuration();
  std::uint64_t min_bytes_ = 0;
  std::optional<std::uint64_t> max_bytes_;
  bool stuck_only_ = false;
};

}  // namespace weft::control
