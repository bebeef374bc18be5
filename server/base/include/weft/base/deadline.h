// Deadline: the steady-clock instant every Weft timeout is expressed in.
//
// Part of weft::base: any Weft component may include it; the library's public headers use it.
#pragma once

#include <chrono>

#include "absl/time/time.h"

namespace weft {

// Deadline: a point on the monotonic clock. Wall-clock time never drives a timeout.
using Deadline = std::chrono::steady_clock::time_point;

// kNoDeadline: a deadline that never passes.
inline constexpr Deadline kNoDeadline = Deadline::max();

// DeadlineAfter returns now + timeout; an infinite or overflowing timeout gives kNoDeadline,
// a negative one gives now.
Deadline DeadlineAfter(absl::Duration timeout);

// TimeUntil returns how long until deadline (zero once passed, infinite for kNoDeadline).
absl::Duration TimeUntil(Deadline deadline);

}  // namespace weft
