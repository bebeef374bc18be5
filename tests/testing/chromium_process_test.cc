#include "tests/testing/chromium_process.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/weftd_process.h"

namespace weft::testing {
namespace {

// One browser for the suite: starting Chromium takes about a second.
class ChromiumProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ChromiumProcess>> started = ChromiumProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    chromium_ = started->release();
  }
  static void TearDownTestSuite() {
    delete chromium_;
    chromium_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(chromium_, nullptr) << "Chromium did not start"; }

  void TearDown() override {
    if (!page_.empty()) ::unlink(page_.c_str());
  }

  // Load writes `html` to a file and navigates to it (the file needs the .html suffix: Chromium
  // takes the type of a file: URL from its name).
  void Load(const std::string& html) {
    const std::string written = WriteTempFile("chromium-test-page", html, 0644);
    ASSERT_FALSE(written.empty());
    page_ = written + ".html";
    ASSERT_EQ(std::rename(written.c_str(), page_.c_str()), 0);
    ASSERT_TRUE(chromium_->Navigate("file://" + page_).ok());
  }

  static ChromiumProcess* chromium_;
  std::string page_;
};

ChromiumProcess* ChromiumProcessTest::chromium_ = nullptr;

TEST_F(ChromiumProcessTest, EvaluateReturnsValuesOfTheLoadedPage) {
  Load("<!DOCTYPE html><title>hello</title><p id=p>42</p>");
  absl::StatusOr<nlohmann::json> title = chromium_->Evaluate("document.title");
  ASSERT_TRUE(title.ok()) << title.status();
  EXPECT_EQ(*title, "hello");
  absl::StatusOr<nlohmann::json> sum =
      chromium_->Evaluate("Promise.resolve(Number(document.getElementById('p').textContent) + 1)");
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, 43);
  absl::StatusOr<nlohmann::json> nothing = chromium_->Evaluate("undefined");
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_TRUE(nothing->is_null());
}

TEST_F(ChromiumProcessTest, WaitForDomSeesThePageChangeItselfWithoutAReload) {
  Load(R"(<!DOCTYPE html><p id=n>0</p><script>
var n = 0;
setInterval(function () { document.getElementById('n').textContent = String(++n); }, 50);
</script>)");
  const int navigations = chromium_->EventCount("Page.frameNavigated");
  ASSERT_TRUE(chromium_->Evaluate("window.marker = 'kept'").ok());
  ASSERT_TRUE(
      chromium_
          ->WaitForDom("Number(document.getElementById('n').textContent) >= 3", absl::Seconds(10))
          .ok());
  EXPECT_EQ(*chromium_->Evaluate("window.marker"), "kept");
  EXPECT_EQ(chromium_->EventCount("Page.frameNavigated"), navigations);
}

TEST_F(ChromiumProcessTest, WaitForDomGivesUpAtItsDeadline) {
  Load("<!DOCTYPE html><p id=p>still</p>");
  const absl::Status status = chromium_->WaitForDom(
      "document.getElementById('p').textContent === 'never'", absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  // The connection is still usable afterwards.
  EXPECT_EQ(*chromium_->Evaluate("1 + 1"), 2);
}

TEST_F(ChromiumProcessTest, EvaluateReportsAnException) {
  Load("<!DOCTYPE html>");
  const absl::StatusOr<nlohmann::json> thrown = chromium_->Evaluate("null.property");
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(thrown.status().message().find("TypeError"), absl::string_view::npos)
      << thrown.status();
}

TEST_F(ChromiumProcessTest, NavigateReportsAnUnreachablePage) {
  // Port 1 on loopback: nothing listens there for an unprivileged test.
  const absl::Status status = chromium_->Navigate("http://127.0.0.1:1/");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(ChromiumProcessStartTest, SaysWhatToInstallWhenChromiumIsMissing) {
  const absl::StatusOr<std::unique_ptr<ChromiumProcess>> started =
      ChromiumProcess::Start("/nonexistent/chromium");
  EXPECT_EQ(started.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(started.status().message().find("chromium package"), absl::string_view::npos);
}

}  // namespace
}  // namespace weft::testing
