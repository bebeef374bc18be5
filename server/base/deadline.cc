#include "weft/base/deadline.h"

namespace weft {

Deadline DeadlineAfter(absl::Duration timeout) {
  // No clock read without a timeout: a connection without an idle timeout asks once per wait.
  if (timeout == absl::InfiniteDuration()) return kNoDeadline;
  const Deadline now = std::chrono::steady_clock::now();
  if (timeout <= absl::ZeroDuration()) return now;
  const auto nanos = absl::ToChronoNanoseconds(timeout);
  if (nanos >= kNoDeadline - now) return kNoDeadline;
  return now + nanos;
}

absl::Duration TimeUntil(Deadline deadline) {
  if (deadline == kNoDeadline) return absl::InfiniteDuration();
  const Deadline now = std::chrono::steady_clock::now();
  if (deadline <= now) return absl::ZeroDuration();
  return absl::FromChrono(deadline - now);
}

}  // namespace weft
