// ChildProcess: runs a program for an end-to-end test, with its stdout readable line by line
// under a deadline and its stderr kept for diagnostics. The destructor kills and reaps it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "weft/unique_fd.h"

namespace weft::testing {

class ChildProcess {
 public:
  // Options: how the child is started.
  struct Options {
    // When set, the child runs with this RLIMIT_NOFILE (soft and hard), set before it execs.
    std::optional<int> descriptor_limit;
    // NAME=VALUE entries added to (or replacing those of) the test's environment.
    std::vector<std::string> environment;
  };

  // Start runs `argv` (argv[0] is the path) with stdin from /dev/null.
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv);
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const Options& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  // ReadLine returns the next stdout line (without "\n"); DEADLINE_EXCEEDED after `timeout`,
  // OUT_OF_RANGE at EOF.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // Signal sends `signal`.
  void Signal(int signal) const;

  // Wait waits up to `timeout` for the exit; returns the wait status, or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Stderr returns what the child has written to stderr so far.
  std::string Stderr() const;

  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, UniqueFd stdout_fd, std::string stderr_path);

  pid_t pid_;
  UniqueFd stdout_;
  std::string stdout_buffer_;
  std::string stderr_path_;
  bool reaped_ = false;
};

}  // namespace weft::testing
