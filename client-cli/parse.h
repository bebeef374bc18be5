// Pure parsing helpers of weftctl: durations, targets, task ids and counts.
//
// Every function here takes arbitrary bytes (empty, huge, NUL or non-UTF-8 included), never
// crashes, never allocates more than a small multiple of its input, and reports bad input as
// INVALID_ARGUMENT with a message that quotes the input escaped and shortened. They are the
// fuzzing surface of weftctl (issue 7). Thread-safe: no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace weft::cli {

// DurationLimits: what ParseDurationFlag accepts besides the syntax.
struct DurationLimits {
  // Whether "0" (or "0s", ...) is accepted; negative durations never are.
  bool allow_zero = true;
  // The largest accepted duration (inclusive). Infinite durations ("inf") are never accepted.
  absl::Duration max = absl::Hours(24 * 365);
};

// ParseDurationFlag parses `text`, the value of flag `flag` (e.g. "--drain", used in messages),
// with absl::ParseDuration syntax: "500ms", "30s", "5m", "1h30m", "0". Surrounding ASCII
// whitespace is ignored. INVALID_ARGUMENT when it is not a duration (a bare number other than 0
// included), negative, infinite, zero while !limits.allow_zero, or above limits.max.
[[nodiscard]] absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag,
                                                               absl::string_view text,
                                                               const DurationLimits& limits = {});

// Target: one control-plane address weftctl talks to.
struct Target {
  // The target as shown to the user (TARGET column, messages, JSON): the input without
  // surrounding whitespace, e.g. "127.0.0.1:7070", "[::1]:7070", "unix:/run/weftd.sock".
  std::string name{};
  // The gRPC channel target for `name`.
  std::string channel_target{};
  // Whether the target is on this host (a unix socket, localhost, 127.0.0.0/8 or ::1): a bearer
  // token sent there without TLS does not cross a network.
  bool local = false;

  friend bool operator==(const Target&, const Target&) = default;
};

// kDefaultTarget: the target when neither --target nor WEFT_TARGET is given.
inline constexpr char kDefaultTarget[] = "127.0.0.1:7070";

// ParseTarget parses one target: "HOST:PORT" (HOST a name or IPv4 literal), "[IPV6]:PORT", or
// "unix:PATH" (also "unix:///abs/path"). PORT is 1-65535 in decimal. Surrounding ASCII
// whitespace is ignored. INVALID_ARGUMENT otherwise, e.g. for a missing port, an IPv6 literal
// without brackets, a host with characters outside [A-Za-z0-9.-_], or a control byte in a path.
[[nodiscard]] absl::StatusOr<Target> ParseTarget(absl::string_view text);

// ParseTargetList parses every element of `values`, each a comma-separated list of targets (the
// repeated --target flag, or the value of WEFT_TARGET). Duplicates are dropped, keeping the
// first; order is otherwise kept. INVALID_ARGUMENT for an empty element ("a,,b", "") or a bad
// target (see ParseTarget), and when `values` holds no target at all.
[[nodiscard]] absl::StatusOr<std::vector<Target>> ParseTargetList(
    const std::vector<std::string>& values);

// ParseTaskId parses a task id: a decimal number from 1 to 2^64-1. INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<std::uint64_t> ParseTaskId(absl::string_view text);

// ParseCount parses the value of flag `flag`: a decimal number from 0 to 2^32-1.
// INVALID_ARGUMENT otherwise (signs, spaces inside, hex and overflow included).
[[nodiscard]] absl::StatusOr<std::uint32_t> ParseCount(absl::string_view flag,
                                                       absl::string_view text);

// QuoteForMessage returns `text` in double quotes for an error message: C-escaped (so control
// bytes and non-ASCII bytes are visible and harmless on a terminal) and cut to about 64 bytes.
std::string QuoteForMessage(absl::string_view text);

}  // namespace weft::cli
