// The /status page in a real browser (issue 16, point 6): headless Chromium loads the page from
// a real weftd, and the numbers in its DOM follow the connections the test opens and closes,
// without a reload.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/chromium_process.h"
#include "tests/testing/loopback_client.h"
#include "tests/testing/weftd_process.h"

namespace weft::control::admin {
namespace {

using ::weft::testing::ChromiumProcess;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WeftdProcess;
using ::weft::testing::WriteTempFile;

// The configuration after its control block.
constexpr char kAdminAndEcho[] = R"pb(
  admin { address: "127.0.0.1:0" }
  listeners {
    name: "echo"
    port: 0
    handler { name: "echo" }
  }
)pb";

// The page refreshes every 2 s; a few refreshes' worth covers a loaded machine.
constexpr absl::Duration kRefreshWait = absl::Seconds(20);

// JavaScript for the text of cell `field` in the servers table's row of the echo server.
std::string EchoCell(const std::string& field) {
  return absl::StrCat(
      R"js(document.querySelector('#servers tr[data-server="echo"] td[data-field=")js", field,
      R"js("]').textContent)js");
}

class StatusPageBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ChromiumProcess>> chromium = ChromiumProcess::Start();
    ASSERT_TRUE(chromium.ok()) << chromium.status();
    chromium_ = std::move(*chromium);
  }

  // StartWeftd runs weftd with `control` (a control block) and kAdminAndEcho.
  void StartWeftd(const std::string& control = "control { address: \"127.0.0.1:0\" }") {
    const std::string config = absl::StrCat(control, "\n", kAdminAndEcho);
    absl::StatusOr<std::unique_ptr<WeftdProcess>> weftd = WeftdProcess::Start(WEFTD_PATH, config);
    ASSERT_TRUE(weftd.ok()) << weftd.status();
    weftd_ = std::move(*weftd);
    ASSERT_GT(weftd_->admin_port(), 0) << "weftd's ready line has no admin_port";
  }

  std::string StatusUrl() const {
    return absl::StrCat("http://127.0.0.1:", weftd_->admin_port(), "/status");
  }

  // Connect opens `n` echo connections, each proven served by one echo.
  std::vector<LoopbackClient> Connect(int n) {
    std::vector<LoopbackClient> clients;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_->port("echo"));
      EXPECT_TRUE(client.ok()) << client.status();
      if (!client.ok()) break;
      EXPECT_EQ(client->Echo("ping").value_or(""), "ping");
      clients.push_back(std::move(*client));
    }
    return clients;
  }

  std::string Text(const std::string& expression) {
    absl::StatusOr<nlohmann::json> value = chromium_->Evaluate(expression);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() && value->is_string() ? value->get<std::string>() : "";
  }

  std::unique_ptr<WeftdProcess> weftd_;
  std::unique_ptr<ChromiumProcess> chromium_;
};

TEST_F(StatusPageBrowserTest, OpenConnectionsAppearWithoutAReload) {
  constexpr int kConnections = 4;
  ASSERT_NO_FATAL_FAILURE(StartWeftd());
  ASSERT_TRUE(chromium_->Navigate(StatusUrl()).ok()) << chromium_->Stderr();
  ASSERT_EQ(Text(EchoCell("open_connections")), "0");
  ASSERT_EQ(Text(EchoCell("state")), "running");

  // Proof of no reload: a reload would start a new JavaScript realm (dropping this variable and
  // resetting the page's refresh counter) and the browser would report a new navigation.
  ASSERT_TRUE(chromium_->Evaluate("window.setByTheTest = 'before the connections'").ok());
  const int navigations = chromium_->EventCount("Page.frameNavigated");
  const absl::StatusOr<nlohmann::json> refreshes = chromium_->Evaluate("weftStatus.refreshes");
  ASSERT_TRUE(refreshes.ok()) << refreshes.status();

  std::vector<LoopbackClient> clients = Connect(kConnections);
  ASSERT_EQ(clients.size(), kConnections);
  const absl::Status counted = chromium_->WaitForDom(
      absl::StrCat(EchoCell("open_connections"), " === '", kConnections, "'"), kRefreshWait);
  ASSERT_TRUE(counted.ok()) << counted << "; the cell shows " << Text(EchoCell("open_connections"))
                            << "; the error line says "
                            << Text("document.getElementById('error').textContent");
  // The task tables follow too: every connection is a task.
  EXPECT_TRUE(chromium_
                  ->WaitForDom(absl::StrCat("document.querySelectorAll('#longest-running "
                                            "tr[data-server=\"echo\"]').length === ",
                                            kConnections),
                               kRefreshWait)
                  .ok());

  EXPECT_EQ(Text("window.setByTheTest"), "before the connections");
  EXPECT_EQ(chromium_->EventCount("Page.frameNavigated"), navigations);
  EXPECT_GT(*chromium_->Evaluate("weftStatus.refreshes"), *refreshes);
  EXPECT_EQ(Text("performance.getEntriesByType('navigation')[0].type"), "navigate");
  EXPECT_EQ(Text("document.getElementById('error').hidden ? '' : 'shown'"), "");

  // And back down when they close.
  clients.clear();
  EXPECT_TRUE(
      chromium_->WaitForDom(absl::StrCat(EchoCell("open_connections"), " === '0'"), kRefreshWait)
          .ok())
      << Text(EchoCell("open_connections"));
  EXPECT_EQ(Text("window.setByTheTest"), "before the connections");
  EXPECT_EQ(chromium_->EventCount("Page.frameNavigated"), navigations);
}

// A drain delay long enough that weftd surely still answers while it drains; the destructor
// kills it.
TEST_F(StatusPageBrowserTest, TheProcessLineTurnsDrainingWithoutAReload) {
  ASSERT_NO_FATAL_FAILURE(StartWeftd("control { address: \"127.0.0.1:0\" drain_delay: \"60s\" }"));
  ASSERT_TRUE(chromium_->Navigate(StatusUrl()).ok()) << chromium_->Stderr();
  const std::string state = "document.querySelector('#process [data-field=state]').textContent";
  ASSERT_EQ(Text(state), "serving");
  EXPECT_EQ(Text("document.querySelector('#process [data-field=pid]').textContent"),
            absl::StrCat(weftd_->pid()));
  EXPECT_EQ(Text("document.getElementById('peer').hidden ? 'hidden' : 'shown'"), "hidden");
  ASSERT_TRUE(chromium_->Evaluate("window.setByTheTest = 'before the drain'").ok());

  weftd_->process().Signal(SIGTERM);
  const absl::Status drained =
      chromium_->WaitForDom(absl::StrCat(state, " === 'draining'"), kRefreshWait);
  EXPECT_TRUE(drained.ok()) << drained << "; the line says "
                            << Text("document.getElementById('process').textContent")
                            << "; the error line says "
                            << Text("document.getElementById('error').textContent");
  EXPECT_EQ(Text("window.setByTheTest"), "before the drain");
}

TEST_F(StatusPageBrowserTest, ThePageIsCompleteWithJavaScriptOff) {
  ASSERT_NO_FATAL_FAILURE(StartWeftd());
  std::vector<LoopbackClient> clients = Connect(2);
  ASSERT_EQ(clients.size(), 2u);
  ASSERT_TRUE(chromium_->Call("Emulation.setScriptExecutionDisabled", {{"value", true}}).ok());
  ASSERT_TRUE(chromium_->Navigate(StatusUrl()).ok()) << chromium_->Stderr();

  EXPECT_EQ(Text(EchoCell("open_connections")), "2");
  EXPECT_EQ(Text(EchoCell("accepting")), "yes");
  EXPECT_EQ(Text("String(document.querySelectorAll('#longest-running tbody tr').length)"), "2");
  // The page's script never ran.
  EXPECT_EQ(Text("typeof window.weftStatus"), "undefined");
}

TEST_F(StatusPageBrowserTest, ARefreshRefusedForWantOfATokenSaysSo) {
  const std::string token_file = WriteTempFile("status-viewer-token", "viewer-secret\n");
  ASSERT_NO_FATAL_FAILURE(StartWeftd(
      absl::StrCat("control { address: \"127.0.0.1:0\" tokens { role: ROLE_VIEWER token_file: \"",
                   token_file, "\" } }")));
  // The browser sends the token on every request (the page and its fetches) until told not to.
  ASSERT_TRUE(chromium_->Call("Network.enable", nlohmann::json::object()).ok());
  ASSERT_TRUE(chromium_
                  ->Call("Network.setExtraHTTPHeaders",
                         {{"headers", {{"Authorization", "Bearer viewer-secret"}}}})
                  .ok());
  ASSERT_TRUE(chromium_->Navigate(StatusUrl()).ok()) << chromium_->Stderr();
  ASSERT_EQ(Text(EchoCell("open_connections")), "0");

  ASSERT_TRUE(
      chromium_->Call("Network.setExtraHTTPHeaders", {{"headers", nlohmann::json::object()}}).ok());
  const absl::Status said = chromium_->WaitForDom(
      "!document.getElementById('error').hidden && "
      "document.getElementById('error').textContent.includes('401') && "
      "document.getElementById('error').textContent.includes('token')",
      kRefreshWait);
  EXPECT_TRUE(said.ok()) << said;
  // The last figures stay on the page.
  EXPECT_EQ(Text(EchoCell("open_connections")), "0");
  ::unlink(token_file.c_str());
}

}  // namespace
}  // namespace weft::control::admin
