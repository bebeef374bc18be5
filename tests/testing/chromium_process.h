// ChromiumProcess: a real headless Chromium (Debian's `chromium` package) with one page, driven
// over the Chrome DevTools Protocol on a WebSocket, for tests that need a browser: load a page,
// run JavaScript in it, wait for its DOM to change. Every call is bounded by a timeout.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/testing/child_process.h"

namespace weft::testing {

class ChromiumProcess {
 public:
  // kDefaultChromiumPath: where Debian's chromium package installs its launcher.
  static constexpr char kDefaultChromiumPath[] = "/usr/bin/chromium";

  // Start runs `chromium_path` headless (no sandbox, no GPU, no network services of its own)
  // with a fresh profile directory, connects to its DevTools endpoint and opens one blank page.
  // FAILED_PRECONDITION if `chromium_path` is not executable, saying which package to install;
  // DEADLINE_EXCEEDED if it is not ready within `timeout`; otherwise errors carry Chromium's
  // stderr.
  static absl::StatusOr<std::unique_ptr<ChromiumProcess>> Start(
      const std::string& chromium_path = kDefaultChromiumPath,
      absl::Duration timeout = absl::Seconds(30));

  // Closes the browser (killing it if it does not exit within a few seconds) and removes the
  // profile directory.
  ~ChromiumProcess();

  ChromiumProcess(const ChromiumProcess&) = delete;
  ChromiumProcess& operator=(const ChromiumProcess&) = delete;

  // Navigate loads `url` in the page and returns once its load event fired. UNAVAILABLE if the
  // navigation failed (e.g. connection refused), DEADLINE_EXCEEDED after `timeout`.
  absl::Status Navigate(const std::string& url, absl::Duration timeout = absl::Seconds(10));

  // Evaluate runs the JavaScript `expression` in the page (awaiting it if it is a promise) and
  // returns its value as JSON (null for undefined). INVALID_ARGUMENT with the exception's text
  // if it throws.
  absl::StatusOr<nlohmann::json> Evaluate(const std::string& expression,
                                          absl::Duration timeout = absl::Seconds(10));

  // WaitForDom waits until the JavaScript `condition` is true in the page, re-checking it each
  // time the DOM changes (a MutationObserver: no polling), so `condition` must depend on the
  // DOM only. DEADLINE_EXCEEDED if it is still false after `timeout`.
  absl::Status WaitForDom(const std::string& condition, absl::Duration timeout);

  // Call sends the DevTools command `method` with `params` to the page and returns its result.
  // UNKNOWN with the protocol's message if the browser answers with an error.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, nlohmann::json params,
                                      absl::Duration timeout = absl::Seconds(10));

  // EventCount returns how many events named `method` (e.g. "Page.frameNavigated") the page
  // has sent so far; only events of enabled domains (Page is enabled) are sent.
  int EventCount(const std::string& method) const;

  // Stderr returns what Chromium has written to stderr so far, for failure messages.
  std::string Stderr() const;

 private:
  class Connection;

  ChromiumProcess();

  std::unique_ptr<ChildProcess> process_;
  std::string profile_dir_;
  std::unique_ptr<Connection> connection_;
  std::string session_id_;
};

}  // namespace weft::testing
