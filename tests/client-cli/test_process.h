// ChildProcess: a real process for weftctl's end-to-end tests — started with posix_spawn (stdout
// and stderr on pipes) or under a pseudo-terminal (forkpty), read with deadlines, and killed and
// reaped by the destructor so that no test leaves one behind. Unlike the line reader in
// tests/testing/child_process.h, it follows stdout and stderr at once, runs children under a
// pty, and controls their environment.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace weft::cli_test {

// Environment: the child's environment. Starts as a copy of this process's, without the
// variables that would change weftctl's behaviour behind a test's back (WEFT_*, proxies).
class Environment {
 public:
  Environment();
  Environment& Set(const std::string& name, const std::string& value);
  Environment& Unset(const std::string& name);
  std::vector<std::string> Entries() const;

 private:
  std::map<std::string, std::string> variables_;
};

// ExitResult: how a child ended.
struct ExitResult {
  // The exit code, or -1 if killed by a signal.
  int exit_code = -1;
  // The signal that killed it, or 0.
  int signal = 0;
};

// RunResult: a finished short-lived child (see Run).
struct RunResult {
  ExitResult exit{};
  std::string out{};
  std::string err{};
  absl::Duration elapsed{};
};

// RunToCompletion runs `argv` to completion with stdin from /dev/null and returns its exit, output
// and wall time; DEADLINE_EXCEEDED (the child is killed) if it takes longer than `timeout`.
absl::StatusOr<RunResult> RunToCompletion(const std::vector<std::string>& argv,
                                          const Environment& env = Environment(),
                                          absl::Duration timeout = absl::Seconds(30));

// ChildProcess: thread-compatible.
class ChildProcess {
 public:
  enum class Stream { kOut, kErr };

  // Spawn starts `argv` with stdin from /dev/null, stdout and stderr on pipes, and an empty
  // signal mask. When `stderr_file` is set, stderr goes to that file instead of a pipe.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const Environment& env = Environment(),
                                                             const std::string& stderr_file = "");

  // SpawnInPty starts `argv` on a new pseudo-terminal of `columns` x `rows` (its stdin, stdout
  // and stderr); Read(kOut) reads the terminal, WriteToTerminal types into it.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> SpawnInPty(
      const std::vector<std::string>& argv, const Environment& env, int columns, int rows);

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // ReadUntil reads both streams until `done(text of stream)` holds, and returns that text
  // (everything read from the stream so far); DEADLINE_EXCEEDED after `timeout`, with what was
  // read in the message; FAILED_PRECONDITION if the stream ends first.
  absl::StatusOr<std::string> ReadUntil(Stream stream,
                                        const std::function<bool(const std::string&)>& done,
                                        absl::Duration timeout);
  // ReadUntilContains is ReadUntil waiting for `needle`.
  absl::StatusOr<std::string> ReadUntilContains(Stream stream, absl::string_view needle,
                                                absl::Duration timeout);
  // Text returns everything read from a stream so far.
  const std::string& Text(Stream stream) const;

  // WriteToTerminal writes to the pty (SpawnInPty only).
  absl::Status WriteToTerminal(absl::string_view data);

  absl::Status Signal(int signal);
  // Wait reads the streams to their end and reaps the child; DEADLINE_EXCEEDED if it has not
  // exited within `timeout` (it is left running; the destructor kills it).
  absl::StatusOr<ExitResult> Wait(absl::Duration timeout);

 private:
  ChildProcess() = default;
  // Pump reads whatever is available, waiting at most until `deadline`; false when every
  // stream has ended.
  bool Pump(absl::Time deadline);

  pid_t pid_ = -1;
  std::optional<ExitResult> exit_;
  int fds_[2] = {-1, -1};  // stdout (or the pty master), stderr.
  std::string text_[2];
  bool pty_ = false;
};

// DescribeExit renders an ExitResult for failure messages.
std::string DescribeExit(const ExitResult& exit);

}  // namespace weft::cli_test
