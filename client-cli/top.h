// `weftctl top`: a full-screen, refreshing view of the listeners of every target and their
// busiest tasks, for a person at a terminal. Plain ANSI escape sequences (alternate screen,
// cursor home, clear to end of line/screen) and termios raw mode; the terminal is restored on
// every way out (q, Ctrl-C, a signal, an error).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client-cli/commands.h"
#include "weft/control/v1/control.pb.h"

namespace weft::cli {

namespace v1 = ::weft::control::v1;

// The escape sequences top writes, exposed for tests.
inline constexpr char kEnterAlternateScreen[] = "\x1b[?1049h";
inline constexpr char kLeaveAlternateScreen[] = "\x1b[?1049l";
inline constexpr char kHideCursor[] = "\x1b[?25l";
inline constexpr char kShowCursor[] = "\x1b[?25h";

// TopTarget: what one target showed at one refresh.
struct TopTarget {
  std::string name{};
  absl::Status status{};  // Not OK: the refresh failed; servers and tasks are empty.
  std::vector<v1::Server> servers{};
  std::vector<v1::Task> tasks{};
};

// TopFrame: one refresh of every target, and the throughput of each task since the previous
// refresh, in bytes per second (in + out), keyed by TopTaskKey.
struct TopFrame {
  absl::Time time = absl::UnixEpoch();
  absl::Duration interval = absl::Seconds(1);
  std::vector<TopTarget> targets{};
  absl::flat_hash_map<std::string, double> rates{};
};

// TopTaskKey identifies a task across refreshes: target, server and id.
std::string TopTaskKey(const std::string& target, const v1::Task& task);

// ComputeRates fills frame.rates from the byte counts of `previous` (same keys) over the time
// between the two frames; tasks new in `frame` rate 0.
void ComputeRates(const TopFrame& previous, TopFrame& frame);

// RenderTop returns the screen for `frame`: at most `height` lines, each cut to `width`
// columns, each ending in "clear to end of line" and "\r\n" (raw mode), after "cursor home"
// and before "clear to end of screen". Pure; for tests.
std::string RenderTop(const TopFrame& frame, int width, int height);

// RunTopCommand runs the view until q, Ctrl-C, end of input or a signal (SIGINT, SIGTERM,
// SIGHUP through context.signals), and returns OK then. A target that fails a refresh is shown
// with its error and retried at the next. INVALID_ARGUMENT unless stdin and stdout are a
// terminal; other errors only when the terminal itself fails.
absl::Status RunTopCommand(const CommandContext& context);

}  // namespace weft::cli
