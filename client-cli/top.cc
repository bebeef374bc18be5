#include "client-cli/top.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client-cli/output.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

constexpr char kCursorHome[] = "\x1b[H";
constexpr char kClearScreen[] = "\x1b[2J";
constexpr char kClearToEndOfLine[] = "\x1b[K";
constexpr char kClearToEndOfScreen[] = "\x1b[J";
constexpr char kCtrlC = 0x03;

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return absl::ErrnoToStatus(errno, "writing to the terminal");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

// RawTerminal: the terminal in raw mode on the alternate screen for its lifetime; the
// destructor puts everything back, whatever happened in between.
class RawTerminal {
 public:
  static absl::StatusOr<std::unique_ptr<RawTerminal>> Enter(int in, int out) {
    if (::isatty(in) == 0 || ::isatty(out) == 0) {
      return absl::InvalidArgumentError(
          "top needs a terminal on stdin and stdout; in scripts use `weftctl servers` or "
          "`weftctl tasks`");
    }
    termios saved{};
    if (::tcgetattr(in, &saved) != 0) return absl::ErrnoToStatus(errno, "tcgetattr");
    termios raw = saved;
    ::cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(in, TCSANOW, &raw) != 0) return absl::ErrnoToStatus(errno, "tcsetattr");
    auto terminal = std::unique_ptr<RawTerminal>(new RawTerminal(in, out, saved));
    if (absl::Status status =
            WriteAll(out, absl::StrCat(kEnterAlternateScreen, kHideCursor, kClearScreen));
        !status.ok()) {
      return status;  // The destructor restores.
    }
    return terminal;
  }

  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  ~RawTerminal() {
    (void)WriteAll(out_, absl::StrCat(kShowCursor, kLeaveAlternateScreen));
    ::tcsetattr(in_, TCSADRAIN, &saved_);
  }

  // Size returns the columns and rows; 80x24 if the terminal does not say.
  std::pair<int, int> Size() const {
    winsize size{};
    if (::ioctl(out_, TIOCGWINSZ, &size) != 0 || size.ws_col == 0 || size.ws_row == 0) {
      return {80, 24};
    }
    return {size.ws_col, size.ws_row};
  }

 private:
  RawTerminal(int in, int out, const termios& saved) : in_(in), out_(out), saved_(saved) {}
  int in_;
  int out_;
  termios saved_;
};

std::uint64_t TotalBytes(const v1::Task& task) { return task.bytes_in() + task.bytes_out(); }

// Fetch takes one frame from every target, concurrently.
TopFrame Fetch(std::vector<std::unique_ptr<TargetClient>>& clients, absl::Duration interval) {
  TopFrame frame;
  frame.interval = interval;
  frame.targets.resize(clients.size());
  auto fetch = [&](std::size_t i) {
    TopTarget& target = frame.targets[i];
    target.name = clients[i]->target().name;
    absl::StatusOr<std::vector<v1::Server>> servers = clients[i]->ListServers();
    if (!servers.ok()) {
      target.status = servers.status();
      return;
    }
    target.servers = *std::move(servers);
    for (const v1::Server& server : target.servers) {
      absl::StatusOr<std::vector<v1::Task>> tasks =
          clients[i]->ListTasks(server.name(), std::nullopt, std::nullopt);
      if (!tasks.ok()) {
        target.status = tasks.status();
        target.servers.clear();
        target.tasks.clear();
        return;
      }
      for (v1::Task& task : *tasks) target.tasks.push_back(std::move(task));
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < clients.size(); ++i) threads.emplace_back(fetch, i);
  for (std::thread& thread : threads) thread.join();
  frame.time = absl::Now();
  return frame;
}

bool IsQuitKey(char c) { return c == 'q' || c == 'Q' || c == kCtrlC; }

}  // namespace

std::string TopTaskKey(const std::string& target, const v1::Task& task) {
  return absl::StrCat(target, "\x1f", task.server(), "\x1f", task.id());
}

void ComputeRates(const TopFrame& previous, TopFrame& frame) {
  absl::flat_hash_map<std::string, std::uint64_t> before;
  for (const TopTarget& target : previous.targets) {
    for (const v1::Task& task : target.tasks) {
      before[TopTaskKey(target.name, task)] = TotalBytes(task);
    }
  }
  const double seconds = absl::ToDoubleSeconds(frame.time - previous.time);
  for (const TopTarget& target : frame.targets) {
    for (const v1::Task& task : target.tasks) {
      const std::string key = TopTaskKey(target.name, task);
      double rate = 0;
      if (auto it = before.find(key);
          it != before.end() && seconds > 0 && TotalBytes(task) >= it->second) {
        rate = static_cast<double>(TotalBytes(task) - it->second) / seconds;
      }
      frame.rates[key] = rate;
    }
  }
}

std::string RenderTop(const TopFrame& frame, int width, int height) {
  const bool multi = frame.targets.size() > 1;
  std::vector<std::string> lines;
  std::size_t listeners = 0;
  std::size_t task_count = 0;
  for (const TopTarget& target : frame.targets) {
    listeners += target.servers.size();
    task_count += target.tasks.size();
  }
  lines.push_back(absl::StrCat(
      "weftctl top - ",
      frame.time == absl::UnixEpoch()
          ? std::string("connecting")
          : absl::FormatTime("%H:%M:%S", frame.time, absl::LocalTimeZone()),
      " - ", frame.targets.size(), frame.targets.size() == 1 ? " target, " : " targets, ",
      listeners, listeners == 1 ? " listener, " : " listeners, ", task_count,
      task_count == 1 ? " task" : " tasks", " - every ", FormatDurationShort(frame.interval),
      " - q quits"));
  for (const TopTarget& target : frame.targets) {
    if (!target.status.ok())
      lines.push_back(TerminalSafe(absl::StrCat("! ", target.status.message())));
  }
  lines.push_back("");

  std::vector<std::string> server_headers = {"NAME", "ADDRESS",  "STATE",   "ACTIVE/QUEUED/LIMIT",
                                             "OPEN", "ACCEPTED", "REFUSED", "FAILED"};
  if (multi) server_headers.insert(server_headers.begin(), "TARGET");
  Table servers(server_headers);
  for (const TopTarget& target : frame.targets) {
    for (const v1::Server& s : target.servers) {
      std::vector<std::string> row = {s.name(),
                                      FormatEndpoint(s.address(), s.port()),
                                      ServerStateName(s.state()),
                                      LimitCell(s),
                                      absl::StrCat(s.open_connections()),
                                      absl::StrCat(s.accepted_total()),
                                      absl::StrCat(s.refused_total()),
                                      absl::StrCat(s.failed_total())};
      if (multi) row.insert(row.begin(), target.name);
      servers.AddRow(std::move(row));
    }
  }
  for (absl::string_view line : absl::StrSplit(servers.Render(), '\n', absl::SkipEmpty())) {
    lines.emplace_back(line);
  }
  lines.push_back("");

  // Tasks, busiest first: bytes per second, then bytes in total, then oldest.
  struct Row {
    const TopTarget* target;
    const v1::Task* task;
    double rate;
  };
  std::vector<Row> rows;
  for (const TopTarget& target : frame.targets) {
    for (const v1::Task& task : target.tasks) {
      auto it = frame.rates.find(TopTaskKey(target.name, task));
      rows.push_back({&target, &task, it == frame.rates.end() ? 0.0 : it->second});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.rate != b.rate) return a.rate > b.rate;
    if (TotalBytes(*a.task) != TotalBytes(*b.task))
      return TotalBytes(*a.task) > TotalBytes(*b.task);
    return a.task->id() < b.task->id();
  });
  std::vector<std::string> task_headers = {"SERVER", "ID", "PEER", "STATE", "AGE",
                                           "IDLE",   "IN", "OUT",  "RATE"};
  if (multi) task_headers.insert(task_headers.begin(), "TARGET");
  Table tasks(task_headers);
  // Room left: the header line of the task table and, when cut, a "more" line.
  const std::size_t used = lines.size() + 1;
  const std::size_t room = height > 0 && static_cast<std::size_t>(height) > used
                               ? static_cast<std::size_t>(height) - used
                               : 0;
  const std::size_t shown = rows.size() <= room ? rows.size() : (room > 0 ? room - 1 : 0);
  for (std::size_t i = 0; i < shown; ++i) {
    const v1::Task& t = *rows[i].task;
    std::vector<std::string> row = {
        t.server(),
        absl::StrCat(t.id()),
        t.peer(),
        TaskStateName(t.state()),
        FormatDurationShort(DurationFromProto(t.age())),
        FormatDurationShort(DurationFromProto(t.idle())),
        FormatBytes(t.bytes_in()),
        FormatBytes(t.bytes_out()),
        absl::StrCat(FormatBytes(static_cast<std::uint64_t>(rows[i].rate)), "/s")};
    if (multi) row.insert(row.begin(), rows[i].target->name);
    tasks.AddRow(std::move(row));
  }
  for (absl::string_view line : absl::StrSplit(tasks.Render(), '\n', absl::SkipEmpty())) {
    lines.emplace_back(line);
  }
  if (shown < rows.size()) lines.push_back(absl::StrCat("... ", rows.size() - shown, " more"));

  if (height > 0 && lines.size() > static_cast<std::size_t>(height)) {
    lines.resize(static_cast<std::size_t>(height));
  }
  std::string screen = kCursorHome;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string& line = lines[i];
    if (width > 0 && line.size() > static_cast<std::size_t>(width)) {
      line.resize(static_cast<std::size_t>(width));
    }
    absl::StrAppend(&screen, line, kClearToEndOfLine, i + 1 < lines.size() ? "\r\n" : "");
  }
  absl::StrAppend(&screen, kClearToEndOfScreen);
  return screen;
}

absl::Status RunTopCommand(const CommandContext& context) {
  absl::StatusOr<std::unique_ptr<RawTerminal>> terminal =
      RawTerminal::Enter(STDIN_FILENO, STDOUT_FILENO);
  if (!terminal.ok()) return terminal.status();
  CancelGroup local_cancel;
  CancelGroup* cancel = context.cancel != nullptr ? context.cancel : &local_cancel;

  std::vector<std::unique_ptr<TargetClient>> clients;
  TopFrame shown;  // The frame on screen.
  shown.interval = context.invocation.interval;
  for (const Target& target : context.invocation.global.targets) {
    clients.push_back(std::make_unique<TargetClient>(target, context.client, cancel));
    shown.targets.push_back({.name = target.name});
  }

  WakeFd fetched;
  std::thread fetcher;
  std::optional<TopFrame> next;  // Written by the fetcher before it notifies.
  auto start_fetch = [&] {
    fetcher = std::thread([&] {
      next = Fetch(clients, context.invocation.interval);
      fetched.Notify();
    });
  };
  auto draw = [&]() -> absl::Status {
    const auto [width, height] = (*terminal)->Size();
    return WriteAll(STDOUT_FILENO, RenderTop(shown, width, height));
  };

  absl::Status status = draw();
  bool fetching = false;
  bool first = true;
  absl::Time next_fetch = absl::Now();
  while (status.ok()) {
    const absl::Time now = absl::Now();
    if (!fetching && now >= next_fetch) {
      start_fetch();
      fetching = true;
      next_fetch = now + context.invocation.interval;
    }
    const int timeout_ms =
        fetching ? -1
                 : static_cast<int>(
                       std::max<std::int64_t>(0, absl::ToInt64Milliseconds(next_fetch - now)) + 1);
    pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0},
                     {fetched.fd(), POLLIN, 0},
                     {context.signals != nullptr ? context.signals->fd() : -1, POLLIN, 0}};
    if (::poll(fds, 3, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      status = absl::ErrnoToStatus(errno, "poll");
      break;
    }
    if ((fds[2].revents & POLLIN) != 0) {
      if (context.signals->Read() != SIGWINCH) break;  // SIGINT, SIGTERM, SIGHUP: quit.
      status = draw();
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char keys[64];
      const ssize_t n = ::read(STDIN_FILENO, keys, sizeof keys);
      if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        break;  // The terminal went away.
      }
      if (std::any_of(keys, keys + n, IsQuitKey)) break;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      fetched.Drain();
      fetcher.join();
      fetching = false;
      TopFrame frame = *std::move(next);
      if (!first) ComputeRates(shown, frame);
      first = false;
      shown = std::move(frame);
      status = draw();
    }
  }
  if (fetching) {
    cancel->CancelAll();
    fetcher.join();
  }
  return status;
}

}  // namespace weft::cli
