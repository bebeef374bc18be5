// RenderTop and ComputeRates, the pure half of `weftctl top` (the terminal half is driven under
// a pseudo-terminal in weftctl_test.cc).
#include "client-cli/top.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Task MakeTask(std::uint64_t id, std::uint64_t bytes) {
  v1::Task task;
  task.set_id(id);
  task.set_server("echo");
  task.set_state(v1::TASK_STATE_RUNNING);
  task.set_peer(absl::StrCat("127.0.0.1:", 40000 + id));
  task.set_bytes_in(bytes);
  return task;
}

TopFrame MakeFrame(absl::Time time, std::vector<v1::Task> tasks) {
  TopFrame frame;
  frame.time = time;
  TopTarget target;
  target.name = "127.0.0.1:7070";
  v1::Server server;
  server.set_name("echo");
  server.set_address("127.0.0.1");
  server.set_port(7007);
  server.set_state(v1::SERVER_STATE_RUNNING);
  target.servers.push_back(server);
  target.tasks = std::move(tasks);
  frame.targets.push_back(std::move(target));
  return frame;
}

// Lines splits a screen into its lines without the escape sequences around them.
std::vector<std::string> Lines(std::string screen) {
  EXPECT_TRUE(absl::StartsWith(screen, "\x1b[H")) << screen;
  EXPECT_TRUE(absl::EndsWith(screen, "\x1b[J")) << screen;
  screen = screen.substr(3, screen.size() - 6);
  std::vector<std::string> lines = absl::StrSplit(screen, "\r\n");
  for (std::string& line : lines) {
    EXPECT_TRUE(absl::EndsWith(line, "\x1b[K")) << line;
    line = line.substr(0, line.size() - 3);
  }
  return lines;
}

TEST(ComputeRatesTest, BytesPerSecondSinceThePreviousFrame) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  const TopFrame previous = MakeFrame(t0, {MakeTask(1, 1000), MakeTask(2, 5000)});
  TopFrame frame =
      MakeFrame(t0 + absl::Seconds(2), {MakeTask(1, 3000), MakeTask(2, 5000), MakeTask(3, 9000)});
  ComputeRates(previous, frame);
  const std::string target = "127.0.0.1:7070";
  EXPECT_DOUBLE_EQ(frame.rates.at(TopTaskKey(target, MakeTask(1, 0))), 1000.0);
  EXPECT_DOUBLE_EQ(frame.rates.at(TopTaskKey(target, MakeTask(2, 0))), 0.0);
  EXPECT_DOUBLE_EQ(frame.rates.at(TopTaskKey(target, MakeTask(3, 0))), 0.0);  // New.
}

TEST(RenderTopTest, ShowsListenersThenTasksBusiestFirst) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  const TopFrame previous = MakeFrame(t0, {MakeTask(1, 0), MakeTask(2, 0), MakeTask(3, 0)});
  TopFrame frame =
      MakeFrame(t0 + absl::Seconds(1), {MakeTask(1, 10), MakeTask(2, 5000), MakeTask(3, 200)});
  ComputeRates(previous, frame);
  const std::vector<std::string> lines = Lines(RenderTop(frame, 200, 50));
  ASSERT_GE(lines.size(), 8u);
  EXPECT_THAT(lines[0], HasSubstr("1 target, 1 listener, 3 tasks"));
  EXPECT_THAT(lines[2], HasSubstr("NAME"));
  EXPECT_THAT(lines[2], Not(HasSubstr("TARGET")));  // One target: no TARGET column.
  EXPECT_THAT(lines[3], HasSubstr("echo   127.0.0.1:7007   running"));
  EXPECT_THAT(lines[5], HasSubstr("RATE"));
  EXPECT_THAT(lines[6], HasSubstr("echo     2    127.0.0.1:40002"));
  EXPECT_THAT(lines[6], HasSubstr("4.8KiB/s"));
  EXPECT_THAT(lines[7], HasSubstr("echo     3    "));
  EXPECT_THAT(lines[8], HasSubstr("echo     1    "));
}

TEST(RenderTopTest, FitsTheScreen) {
  std::vector<v1::Task> tasks;
  for (int i = 1; i <= 30; ++i) tasks.push_back(MakeTask(i, i));
  const TopFrame frame = MakeFrame(absl::FromUnixSeconds(100), tasks);
  const std::vector<std::string> lines = Lines(RenderTop(frame, 40, 12));
  ASSERT_EQ(lines.size(), 12u);
  for (const std::string& line : lines) EXPECT_LE(line.size(), 40u) << line;
  EXPECT_THAT(lines.back(), HasSubstr("more"));
}

TEST(RenderTopTest, ShowsTargetsAndErrors) {
  TopFrame frame = MakeFrame(absl::FromUnixSeconds(100), {MakeTask(1, 1)});
  TopTarget down;
  down.name = "127.0.0.1:1";
  down.status = absl::UnavailableError("cannot reach 127.0.0.1:1: connection refused");
  frame.targets.push_back(down);
  const std::string screen = RenderTop(frame, 200, 50);
  EXPECT_THAT(screen, HasSubstr("! cannot reach 127.0.0.1:1: connection refused"));
  EXPECT_THAT(screen, HasSubstr("TARGET           NAME"));
  EXPECT_THAT(screen, HasSubstr("127.0.0.1:7070   echo"));
}

TEST(RenderTopTest, BeforeTheFirstRefreshSaysConnecting) {
  TopFrame frame;
  frame.targets.push_back({.name = "127.0.0.1:7070"});
  EXPECT_THAT(RenderTop(frame, 80, 24), HasSubstr("weftctl top - connecting"));
}

}  // namespace
}  // namespace weft::cli
