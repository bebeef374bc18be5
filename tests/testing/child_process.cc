#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "tests/testing/loopback_client.h"

extern char** environ;

namespace weft::testing {

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv) {
  return Start(argv, Options{});
}

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& program,
                                                 const Options& options) {
  // posix_spawn cannot set resource limits; a shell sets the limit and then execs the program
  // itself (same pid), so nothing in this multi-threaded process has to fork by hand.
  std::vector<std::string> argv = program;
  if (options.descriptor_limit.has_value()) {
    argv = {"/bin/sh", "-c",
            absl::StrCat("ulimit -n ", *options.descriptor_limit, " && exec \"$@\""), "sh"};
    argv.insert(argv.end(), program.begin(), program.end());
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd read_end(out[0]);
  UniqueFd write_end(out[1]);
  char stderr_template[] = "/tmp/weft-child-stderr-XXXXXX";
  // O_CLOEXEC: only the dup2 onto fd 2 may reach the child (and no other child spawned
  // meanwhile), so the child has exactly the descriptors it opens itself.
  const int err_fd = ::mkostemp(stderr_template, O_CLOEXEC);
  if (err_fd < 0) return absl::ErrnoToStatus(errno, "mkstemp");
  UniqueFd stderr_fd(err_fd);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd.get(), 2);
  // The child starts with default signal handling and nothing blocked, whatever the test does.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // The test's environment, less the names options.environment sets, then those.
  std::vector<char*> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view name(*entry, std::strcspn(*entry, "=") + 1);  // "NAME="
    if (std::none_of(options.environment.begin(), options.environment.end(),
                     [name](const std::string& e) { return absl::StartsWith(e, name); })) {
      env.push_back(*entry);
    }
  }
  for (const std::string& entry : options.environment) {
    env.push_back(const_cast<char*>(entry.c_str()));
  }
  env.push_back(nullptr);
  pid_t pid;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return absl::ErrnoToStatus(rc, absl::StrCat("posix_spawn ", argv[0]));
  return ChildProcess(pid, std::move(read_end), stderr_template);
}

ChildProcess::ChildProcess(pid_t pid, UniqueFd stdout_fd, std::string stderr_path)
    : pid_(pid), stdout_(std::move(stdout_fd)), stderr_path_(std::move(stderr_path)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_(std::move(other.stdout_)),
      stdout_buffer_(std::move(other.stdout_buffer_)),
      stderr_path_(std::move(other.stderr_path_)),
      reaped_(std::exchange(other.reaped_, true)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no line from the child; stderr:\n",
                                                      Stderr()));
    }
    pollfd p{stdout_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(stdout_.get(), buffer, sizeof buffer);
    if (n == 0) return absl::OutOfRangeError(absl::StrCat("child closed stdout; stderr:\n", Stderr()));
    if (n > 0) stdout_buffer_.append(buffer, static_cast<size_t>(n));
  }
}

void ChildProcess::Signal(int signal) const { ::kill(pid_, signal); }

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  int status = 0;
  const bool exited = WaitUntil(
      [&] {
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        return r == pid_;
      },
      timeout);
  if (!exited) return absl::DeadlineExceededError("the child did not exit in time");
  reaped_ = true;
  return status;
}

std::string ChildProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace weft::testing
