// LoopbackClient: a blocking TCP client for tests, every operation bounded by a timeout so a
// broken test fails instead of hanging.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "weft/unique_fd.h"

namespace weft::testing {

inline constexpr absl::Duration kTestTimeout = absl::Seconds(10);

class LoopbackClient {
 public:
  // Connect connects to host:port (host "127.0.0.1" or "::1"); the connect itself is bounded.
  static absl::StatusOr<LoopbackClient> Connect(std::uint16_t port,
                                                const std::string& host = "127.0.0.1",
                                                absl::Duration timeout = kTestTimeout);

  LoopbackClient(LoopbackClient&&) = default;
  LoopbackClient& operator=(LoopbackClient&&) = default;

  absl::Status Send(absl::string_view data);
  // ReadExactly reads n bytes; DEADLINE_EXCEEDED on timeout, OUT_OF_RANGE at early EOF.
  absl::StatusOr<std::string> ReadExactly(std::size_t n, absl::Duration timeout = kTestTimeout);
  // ReadUntilClosed reads until EOF or reset; DEADLINE_EXCEEDED if the server keeps it open.
  absl::StatusOr<std::string> ReadUntilClosed(absl::Duration timeout = kTestTimeout);
  // Echo sends data and reads the same number of bytes back.
  absl::StatusOr<std::string> Echo(absl::string_view data, absl::Duration timeout = kTestTimeout);
  // ShutdownWrite half-closes the client's side.
  absl::Status ShutdownWrite();
  void Close() { fd_.Reset(); }
  // Reset closes with SO_LINGER 0: the server sees a reset (RST), not an orderly end.
  void Reset();
  int fd() const { return fd_.get(); }

 private:
  explicit LoopbackClient(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// CountOpenFds returns the number of entries in /proc/self/fd.
int CountOpenFds();
// CountThreads returns the number of entries in /proc/self/task.
int CountThreads();

// WaitUntil polls `condition` until it holds or `timeout` passes; returns its final value.
// Use only for state that offers no notification (counters, /proc); never as a delay.
template <typename Condition>
bool WaitUntil(Condition condition, absl::Duration timeout = kTestTimeout);

// PauseBriefly yields for about a millisecond; the polling step of WaitUntil.
void PauseBriefly();

template <typename Condition>
bool WaitUntil(Condition condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return condition();
    PauseBriefly();
  }
  return true;
}

}  // namespace weft::testing
