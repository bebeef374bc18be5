#include "control/admin/status_page.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/base/proto_time.h"

namespace weft::control::admin {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

v1::Server MakeServer(const std::string& name, std::uint32_t open_connections) {
  v1::Server server;
  server.set_name(name);
  server.set_address("127.0.0.1");
  server.set_port(7000);
  server.set_state(v1::SERVER_STATE_RUNNING);
  server.set_open_connections(open_connections);
  return server;
}

v1::Task MakeTask(const std::string& server, std::uint64_t id, absl::Duration age,
                  absl::Duration idle) {
  v1::Task task;
  task.set_server(server);
  task.set_id(id);
  task.set_peer(absl::StrCat("127.0.0.1:", 40000 + id));
  *task.mutable_age() = weft::DurationToProto(age);
  *task.mutable_idle() = weft::DurationToProto(idle);
  return task;
}

// Row returns the `<tr ...>...</tr>` of `html` that opens with `opening`, or "" if none.
std::string Row(const std::string& html, const std::string& opening) {
  const std::size_t begin = html.find(opening);
  if (begin == std::string::npos) return "";
  return html.substr(begin, html.find("</tr>", begin) - begin);
}

std::string Cell(const std::string& field, const std::string& text) {
  return absl::StrCat("<td data-field=\"", field, "\">", text, "</td>");
}

TEST(StatusPageTest, IsACompleteDocumentThatLoadsNothingElse) {
  StatusPageData data;
  data.version = "0.1.0";
  data.generated = absl::FromUnixSeconds(1'700'000'000);
  const std::string html = RenderStatusPage(data);
  EXPECT_THAT(html, StartsWith("<!DOCTYPE html>\n<html lang=\"en\">"));
  EXPECT_THAT(html, EndsWith("</html>\n"));
  EXPECT_THAT(html, HasSubstr("<meta charset=\"utf-8\">"));
  EXPECT_THAT(html, HasSubstr("<time id=\"last-updated\">2023-11-14T22:13:20Z</time>"));
  EXPECT_THAT(html, HasSubstr("weftd 0.1.0"));
  // Inline script and style only: nothing that a CSP of default-src 'self' would refuse.
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr(" src=")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  // The script writes text only.
  EXPECT_THAT(html, Not(HasSubstr("innerHTML")));
  EXPECT_THAT(html, Not(HasSubstr("outerHTML")));
  EXPECT_THAT(html, Not(HasSubstr("insertAdjacentHTML")));
  EXPECT_THAT(html, HasSubstr("api/v1/servers?pageSize=1000"));
}

TEST(StatusPageTest, ShowsThePidGenerationAndStateOfTheProcessAndItsPeer) {
  StatusPageData data;
  EXPECT_THAT(RenderStatusPage(data), HasSubstr("<p id=\"process\" hidden>"))
      << "hidden (until the script fetches it) when the process could not be fetched";
  v1::Process process;
  process.set_pid(4242);
  process.set_generation(2);
  process.set_state(v1::PROCESS_STATE_SERVING);
  data.process = process;
  std::string html = RenderStatusPage(data);
  EXPECT_THAT(html, HasSubstr("<p id=\"process\">pid <span data-field=\"pid\">4242</span>"));
  EXPECT_THAT(html, HasSubstr("<span data-field=\"generation\">2</span>"));
  EXPECT_THAT(html, HasSubstr("<span data-field=\"state\">serving</span>"));
  EXPECT_THAT(html, HasSubstr("<span id=\"peer\" hidden>")) << "no peer without a hand-off";
  EXPECT_THAT(html, HasSubstr("api/v1/process")) << "the script refreshes the line";

  data.process->set_state(v1::PROCESS_STATE_DRAINING);
  data.process->mutable_peer()->set_role(v1::PEER_ROLE_SUCCESSOR);
  data.process->mutable_peer()->set_pid(4243);
  html = RenderStatusPage(data);
  EXPECT_THAT(html, HasSubstr("<span data-field=\"state\">draining</span>"));
  EXPECT_THAT(html, HasSubstr("<span id=\"peer\"> &middot; hand-off "));
  EXPECT_THAT(html, HasSubstr("<span data-field=\"peer-role\">successor</span>"));
  EXPECT_THAT(html, HasSubstr("<span data-field=\"peer-pid\">4243</span>"));
}

TEST(StatusPageTest, ShowsTheErrorLineOnlyWhenTheFiguresAreIncomplete) {
  StatusPageData data;
  EXPECT_THAT(RenderStatusPage(data), HasSubstr("<p id=\"error\" role=\"alert\" hidden></p>"));
  data.error = "cannot list <servers>";
  EXPECT_THAT(RenderStatusPage(data),
              HasSubstr("<p id=\"error\" role=\"alert\">cannot list &lt;servers&gt;</p>"));
}

TEST(StatusPageTest, EscapesEveryStringFromConfigurationAndClients) {
  StatusPageData data;
  const std::string hostile = "<script>alert('x')</script>&\"";
  const std::string escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;";
  v1::Server server = MakeServer(hostile, 1);
  server.set_address(hostile);
  data.servers.push_back(server);
  v1::Task task = MakeTask(hostile, 1, absl::Seconds(1), absl::Seconds(1));
  task.set_peer(hostile);
  data.longest_running.push_back(task);
  data.version = hostile;

  const std::string html = RenderStatusPage(data);

  EXPECT_THAT(html, Not(HasSubstr(hostile)));
  EXPECT_THAT(html, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(html, HasSubstr(absl::StrCat("<tr data-server=\"", escaped, "\">")));
  EXPECT_THAT(html, HasSubstr(Cell("name", escaped)));
  EXPECT_THAT(html, HasSubstr(Cell("address", absl::StrCat(escaped, ":7000"))));
  EXPECT_THAT(html, HasSubstr(Cell("server", escaped)));
  EXPECT_THAT(html, HasSubstr(Cell("peer", escaped)));
  EXPECT_THAT(html, HasSubstr(absl::StrCat("weftd ", escaped)));
  // Exactly one script element: the page's own.
  EXPECT_EQ(html.find("<script>"), html.rfind("<script>"));
}

TEST(StatusPageTest, EveryServerAppearsWithItsFigures) {
  StatusPageData data;
  v1::Server echo = MakeServer("echo", 3);
  echo.set_queued_tasks(2);
  echo.set_accepted_total(18'446'744'073'709'551'615u);  // exact, beyond a double's precision
  echo.set_refused_total(5);
  echo.set_received_bytes_total(1234);
  echo.set_sent_bytes_total(4321);
  echo.mutable_manager()->set_limit(8);
  echo.set_max_connections(100);
  v1::Server chargen = MakeServer("chargen", 0);
  chargen.set_state(v1::SERVER_STATE_NOT_ACCEPTING);
  chargen.set_draining(true);
  chargen.set_address("::1");
  v1::Server stopped = MakeServer("stopped", 0);
  stopped.set_state(v1::SERVER_STATE_STOPPED);
  stopped.set_max_connections(50);
  data.servers = {chargen, echo, stopped};

  const std::string html = RenderStatusPage(data);

  const std::string echo_row = Row(html, "<tr data-server=\"echo\">");
  EXPECT_THAT(echo_row, HasSubstr(Cell("name", "echo")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("state", "running")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("address", "127.0.0.1:7000")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("accepting", "yes")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("draining", "no")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("open_connections", "3")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("limit", "8")));  // the manager's limit wins
  EXPECT_THAT(echo_row, HasSubstr(Cell("queued", "2")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("accepted", "18446744073709551615")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("refused", "5")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("bytes_in", "1234")));
  EXPECT_THAT(echo_row, HasSubstr(Cell("bytes_out", "4321")));

  const std::string chargen_row = Row(html, "<tr data-server=\"chargen\">");
  EXPECT_THAT(chargen_row, HasSubstr(Cell("state", "not accepting")));
  EXPECT_THAT(chargen_row, HasSubstr(Cell("address", "[::1]:7000")));
  EXPECT_THAT(chargen_row, HasSubstr(Cell("accepting", "no")));
  EXPECT_THAT(chargen_row, HasSubstr(Cell("draining", "yes")));
  EXPECT_THAT(chargen_row, HasSubstr(Cell("limit", "none")));

  const std::string stopped_row = Row(html, "<tr data-server=\"stopped\">");
  EXPECT_THAT(stopped_row, HasSubstr(Cell("state", "stopped")));
  EXPECT_THAT(stopped_row, HasSubstr(Cell("limit", "50")));

  // In the order given.
  EXPECT_LT(html.find("data-server=\"chargen\""), html.find("data-server=\"echo\""));
  EXPECT_LT(html.find("data-server=\"echo\""), html.find("data-server=\"stopped\""));
}

TEST(StatusPageTest, EveryTaskAppearsInItsTable) {
  StatusPageData data;
  data.longest_running = {MakeTask("echo", 7, absl::Seconds(7384), absl::Milliseconds(1500)),
                          MakeTask("echo", 9, absl::Seconds(245), absl::Seconds(3))};
  data.most_idle = {MakeTask("chargen", 11, absl::Seconds(12), absl::Seconds(12))};
  const std::string html = RenderStatusPage(data);

  const std::size_t longest = html.find("<table id=\"longest-running\">");
  const std::size_t idle = html.find("<table id=\"most-idle\">");
  ASSERT_NE(longest, std::string::npos);
  ASSERT_NE(idle, std::string::npos);
  const std::string task7 = Row(html, "<tr data-server=\"echo\" data-task=\"7\">");
  EXPECT_THAT(task7, HasSubstr(Cell("server", "echo")));
  EXPECT_THAT(task7, HasSubstr(Cell("id", "7")));
  EXPECT_THAT(task7, HasSubstr(Cell("peer", "127.0.0.1:40007")));
  EXPECT_THAT(task7, HasSubstr(Cell("age", "2h 03m 04s")));
  EXPECT_THAT(task7, HasSubstr(Cell("idle", "1.5s")));
  EXPECT_THAT(task7, HasSubstr(Cell("bytes_in", "0")));
  EXPECT_THAT(task7, HasSubstr(Cell("bytes_out", "0")));
  EXPECT_THAT(Row(html, "<tr data-server=\"echo\" data-task=\"9\">"),
              HasSubstr(Cell("age", "4m 05s")));
  const std::size_t task11 = html.find("<tr data-server=\"chargen\" data-task=\"11\">");
  EXPECT_GT(task11, idle);
  EXPECT_GT(html.find("data-task=\"7\""), longest);
  EXPECT_LT(html.find("data-task=\"7\""), idle);
}

TEST(StatusPageTest, RankTasksKeepsTheLargestFirstAndBreaksTiesById) {
  std::vector<v1::Task> tasks;
  for (std::uint64_t id = 1; id <= kStatusPageTasksShown + 5; ++id) {
    // Ages grow with the id; idle times shrink with it, two tasks share the largest.
    tasks.push_back(MakeTask("echo", id, absl::Seconds(id),
                             absl::Seconds(id <= 2 ? 100 : 100 - static_cast<int>(id))));
  }
  StatusPageData data;
  RankTasks(tasks, data);

  ASSERT_EQ(data.longest_running.size(), kStatusPageTasksShown);
  ASSERT_EQ(data.most_idle.size(), kStatusPageTasksShown);
  EXPECT_EQ(data.longest_running.front().id(), kStatusPageTasksShown + 5);
  EXPECT_EQ(data.longest_running.back().id(), 6u);
  EXPECT_EQ(data.most_idle[0].id(), 1u);
  EXPECT_EQ(data.most_idle[1].id(), 2u);
  EXPECT_EQ(data.most_idle[2].id(), 3u);
  EXPECT_EQ(data.most_idle.back().id(), kStatusPageTasksShown);
}

TEST(StatusPageTest, RankTasksKeepsEveryTaskWhenThereAreFew) {
  StatusPageData data;
  RankTasks({MakeTask("echo", 1, absl::Seconds(1), absl::Seconds(2))}, data);
  ASSERT_EQ(data.longest_running.size(), 1u);
  ASSERT_EQ(data.most_idle.size(), 1u);
}

}  // namespace
}  // namespace weft::control::admin
