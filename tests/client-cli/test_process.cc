#include "tests/client-cli/test_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/loopback_client.h"

extern char** environ;

namespace weft::cli_test {
namespace {

// CStrings holds a NULL-terminated char* array over owned strings, for exec.
class CStrings {
 public:
  explicit CStrings(std::vector<std::string> strings) : strings_(std::move(strings)) {
    for (std::string& s : strings_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

ExitResult FromWaitStatus(int status) {
  ExitResult exit;
  if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  return exit;
}

}  // namespace

Environment::Environment() {
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos) continue;
    std::string name = text.substr(0, eq);
    if (absl::StartsWith(name, "WEFT_")) continue;
    if (absl::EqualsIgnoreCase(name, "http_proxy") || absl::EqualsIgnoreCase(name, "https_proxy") ||
        absl::EqualsIgnoreCase(name, "grpc_proxy") || absl::EqualsIgnoreCase(name, "all_proxy")) {
      continue;
    }
    variables_[name] = text.substr(eq + 1);
  }
}

Environment& Environment::Set(const std::string& name, const std::string& value) {
  variables_[name] = value;
  return *this;
}

Environment& Environment::Unset(const std::string& name) {
  variables_.erase(name);
  return *this;
}

std::vector<std::string> Environment::Entries() const {
  std::vector<std::string> entries;
  for (const auto& [name, value] : variables_) entries.push_back(absl::StrCat(name, "=", value));
  return entries;
}

std::string DescribeExit(const ExitResult& exit) {
  if (exit.signal != 0) return absl::StrCat("killed by signal ", exit.signal);
  return absl::StrCat("exit code ", exit.exit_code);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const Environment& env, const std::string& stderr_file) {
  int out[2];
  int err[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  if (stderr_file.empty() && ::pipe2(err, O_CLOEXEC) != 0) {
    const int saved = errno;
    ::close(out[0]);
    ::close(out[1]);
    return absl::ErrnoToStatus(saved, "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  if (stderr_file.empty()) {
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  CStrings args(argv);
  CStrings envp(env.Entries());
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  const int rc =
      ::posix_spawn(&child->pid_, argv[0].c_str(), &actions, &attr, args.get(), envp.get());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  if (err[1] >= 0) ::close(err[1]);
  child->fds_[0] = out[0];
  child->fds_[1] = err[0];
  if (rc != 0) {
    child->pid_ = -1;
    return absl::ErrnoToStatus(rc, absl::StrCat("posix_spawn ", argv[0]));
  }
  for (int fd : child->fds_) {
    if (fd >= 0) SetNonBlocking(fd);
  }
  return child;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::SpawnInPty(
    const std::vector<std::string>& argv, const Environment& env, int columns, int rows) {
  // Everything the child needs is prepared before fork: after it, only exec.
  CStrings args(argv);
  CStrings envp(env.Entries());
  winsize size{};
  size.ws_col = static_cast<unsigned short>(columns);
  size.ws_row = static_cast<unsigned short>(rows);
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) return absl::ErrnoToStatus(errno, "forkpty");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) ::signal(s, SIG_DFL);
    ::execve(args.get()[0], args.get(), envp.get());
    ::_exit(127);
  }
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  SetNonBlocking(master);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->pid_ = pid;
  child->fds_[0] = master;
  child->pty_ = true;
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_.has_value()) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

bool ChildProcess::Pump(absl::Time deadline) {
  pollfd fds[2];
  int count = 0;
  int index[2];
  for (int i = 0; i < 2; ++i) {
    if (fds_[i] < 0) continue;
    fds[count] = {fds_[i], POLLIN, 0};
    index[count++] = i;
  }
  if (count == 0) return false;
  const std::int64_t wait_ms =
      std::max<std::int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
  if (::poll(fds, count, static_cast<int>(std::min<std::int64_t>(wait_ms, 60000))) <= 0) {
    return true;  // Timeout or EINTR: the caller checks its deadline.
  }
  for (int k = 0; k < count; ++k) {
    if (fds[k].revents == 0) continue;
    const int i = index[k];
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fds_[i], buffer, sizeof buffer);
      if (n > 0) {
        text_[i].append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      // EOF, or EIO on a pty whose other side is closed.
      ::close(fds_[i]);
      fds_[i] = -1;
      break;
    }
  }
  return fds_[0] >= 0 || fds_[1] >= 0;
}

absl::StatusOr<std::string> ChildProcess::ReadUntil(
    Stream stream, const std::function<bool(const std::string&)>& done, absl::Duration timeout) {
  const int i = stream == Stream::kOut ? 0 : 1;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (done(text_[i])) return text_[i];
    if (fds_[i] < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the stream ended first; it said: ", text_[i], "\n(other stream: ", text_[1 - i], ")"));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("not there within ", absl::FormatDuration(timeout),
                       "; the stream said: ", text_[i], "\n(other stream: ", text_[1 - i], ")"));
    }
    Pump(deadline);
  }
}

absl::StatusOr<std::string> ChildProcess::ReadUntilContains(Stream stream, absl::string_view needle,
                                                            absl::Duration timeout) {
  const std::string wanted(needle);
  return ReadUntil(
      stream, [&](const std::string& text) { return absl::StrContains(text, wanted); }, timeout);
}

const std::string& ChildProcess::Text(Stream stream) const {
  return text_[stream == Stream::kOut ? 0 : 1];
}

absl::Status ChildProcess::WriteToTerminal(absl::string_view data) {
  if (!pty_ || fds_[0] < 0) return absl::FailedPreconditionError("no terminal");
  while (!data.empty()) {
    const ssize_t n = ::write(fds_[0], data.data(), data.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "write to pty");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status ChildProcess::Signal(int signal) {
  if (pid_ <= 0 || exit_.has_value()) return absl::FailedPreconditionError("not running");
  if (::kill(pid_, signal) != 0) return absl::ErrnoToStatus(errno, "kill");
  return absl::OkStatus();
}

absl::StatusOr<ExitResult> ChildProcess::Wait(absl::Duration timeout) {
  if (exit_.has_value()) return *exit_;
  const absl::Time deadline = absl::Now() + timeout;
  while ((fds_[0] >= 0 || fds_[1] >= 0) && absl::Now() < deadline) Pump(deadline);
  int status = 0;
  pid_t reaped = 0;
  // The streams have ended, so the child is exiting; WaitUntil only covers the last instant.
  weft::testing::WaitUntil(
      [&] {
        reaped = ::waitpid(pid_, &status, WNOHANG);
        return reaped != 0;
      },
      std::max(deadline - absl::Now(), absl::Milliseconds(1)));
  if (reaped == 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
  }
  if (reaped < 0) return absl::ErrnoToStatus(errno, "waitpid");
  exit_ = FromWaitStatus(status);
  return *exit_;
}

absl::StatusOr<RunResult> RunToCompletion(const std::vector<std::string>& argv,
                                          const Environment& env, absl::Duration timeout) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(argv, env);
  if (!child.ok()) return child.status();
  absl::StatusOr<ExitResult> exit = (*child)->Wait(timeout);
  if (!exit.ok()) return exit.status();
  RunResult result;
  result.exit = *exit;
  result.out = (*child)->Text(ChildProcess::Stream::kOut);
  result.err = (*child)->Text(ChildProcess::Stream::kErr);
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace weft::cli_test
