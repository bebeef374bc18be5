#include "tests/testing/chromium_process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/loopback_client.h"

namespace weft::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// The DevTools endpoint Chromium writes to PROFILE/DevToolsActivePort: the port on the first
// line, the browser's WebSocket path on the second.
struct DevToolsEndpoint {
  std::uint16_t port = 0;
  std::string path;
};

std::optional<DevToolsEndpoint> ReadDevToolsActivePort(const std::string& profile_dir) {
  std::ifstream file(profile_dir + "/DevToolsActivePort");
  std::string port_line;
  std::uint32_t port = 0;
  DevToolsEndpoint endpoint;
  // The file may be caught half written: both lines must be there.
  if (!std::getline(file, port_line) || !std::getline(file, endpoint.path) ||
      endpoint.path.empty() || !absl::SimpleAtoi(port_line, &port) || port == 0 || port > 65535) {
    return std::nullopt;
  }
  endpoint.port = static_cast<std::uint16_t>(port);
  return endpoint;
}

}  // namespace

// Connection: one WebSocket to the browser's DevTools endpoint, commands matched to their
// replies by id and the events in between kept. Each blocking step runs the io_context until
// the step completes or its deadline passes; a step that times out closes the socket, after
// which every call fails.
class ChromiumProcess::Connection {
 public:
  absl::Status Open(const DevToolsEndpoint& endpoint, absl::Time deadline) {
    const tcp::endpoint address(asio::ip::make_address("127.0.0.1"), endpoint.port);
    absl::Status status = Run(deadline, [&](auto done) {
      beast::get_lowest_layer(ws_).async_connect(address,
                                                 [done](beast::error_code ec) { done(ec); });
    });
    if (!status.ok()) return status;
    const std::string host = absl::StrCat("127.0.0.1:", endpoint.port);
    ws_.text(true);
    return Run(deadline, [&](auto done) {
      ws_.async_handshake(host, endpoint.path, [done](beast::error_code ec) { done(ec); });
    });
  }

  // Call sends {id, method, params[, sessionId]} and reads until the reply with that id.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, nlohmann::json params,
                                      const std::string& session_id, absl::Time deadline) {
    const std::int64_t id = next_id_++;
    nlohmann::json command = {{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!session_id.empty()) command["sessionId"] = session_id;
    const std::string text = command.dump();
    absl::Status status = Run(deadline, [&](auto done) {
      ws_.async_write(asio::buffer(text), [done](beast::error_code ec, std::size_t) { done(ec); });
    });
    if (!status.ok()) return status;
    for (;;) {
      absl::StatusOr<nlohmann::json> message = Read(deadline);
      if (!message.ok()) return message.status();
      if (message->value("id", std::int64_t{-1}) != id) continue;
      if (message->contains("error")) {
        return absl::UnknownError(absl::StrCat(method, ": ", (*message)["error"].dump()));
      }
      return (*message)["result"];
    }
  }

  // WaitForEvent reads until an event `method` beyond the first `seen` ones has arrived.
  absl::Status WaitForEvent(const std::string& method, int seen, absl::Time deadline) {
    while (EventCount(method) <= seen) {
      absl::Status status = Read(deadline).status();
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  int EventCount(const std::string& method) const {
    const auto it = event_counts_.find(method);
    return it == event_counts_.end() ? 0 : it->second;
  }

 private:
  // Run starts an asynchronous step with a completion callback `done(error_code)` and runs the
  // io_context until the step completed or `deadline` passed.
  template <typename Step>
  absl::Status Run(absl::Time deadline, Step step) {
    if (broken_) return absl::FailedPreconditionError("the DevTools connection has failed");
    bool completed = false;
    beast::error_code result;
    step([&](beast::error_code ec) {
      result = ec;
      completed = true;
    });
    io_.restart();
    io_.run_for(std::chrono::nanoseconds(
        absl::ToInt64Nanoseconds(std::max(deadline - absl::Now(), absl::ZeroDuration()))));
    if (!completed) {
      broken_ = true;
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).close(ignored);
      io_.restart();
      io_.run();  // delivers the aborted step
      return absl::DeadlineExceededError("no answer from Chromium's DevTools endpoint in time");
    }
    if (result) {
      broken_ = true;
      return absl::UnavailableError(absl::StrCat("DevTools connection: ", result.message()));
    }
    return absl::OkStatus();
  }

  // Read reads one message; events are counted on the way.
  absl::StatusOr<nlohmann::json> Read(absl::Time deadline) {
    beast::flat_buffer buffer;
    absl::Status status = Run(deadline, [&](auto done) {
      ws_.async_read(buffer, [done](beast::error_code ec, std::size_t) { done(ec); });
    });
    if (!status.ok()) return status;
    nlohmann::json message =
        nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
    if (message.is_discarded()) return absl::InternalError("DevTools sent malformed JSON");
    if (message.contains("method")) ++event_counts_[message["method"].get<std::string>()];
    return message;
  }

  asio::io_context io_;
  beast::websocket::stream<tcp::socket> ws_{io_};
  bool broken_ = false;
  std::int64_t next_id_ = 1;
  std::map<std::string, int> event_counts_;
};

ChromiumProcess::ChromiumProcess() : connection_(std::make_unique<Connection>()) {}

absl::StatusOr<std::unique_ptr<ChromiumProcess>> ChromiumProcess::Start(
    const std::string& chromium_path, absl::Duration timeout) {
  if (::access(chromium_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(chromium_path,
                     " is not executable: install Debian's chromium package "
                     "(deploy/build.sh deps does)"));
  }
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_ptr<ChromiumProcess> chromium(new ChromiumProcess());
  std::string profile_dir = "/tmp/chromium-profile-XXXXXX";
  if (::mkdtemp(profile_dir.data()) == nullptr) {
    return absl::InternalError("cannot create a profile directory");
  }
  chromium->profile_dir_ = profile_dir;
  absl::StatusOr<ChildProcess> process = ChildProcess::Start({
      chromium_path,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--user-data-dir=" + profile_dir,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
  });
  if (!process.ok()) return process.status();
  chromium->process_ = std::make_unique<ChildProcess>(std::move(*process));

  // Chromium announces its endpoint only in this file (and on stderr); there is nothing to
  // wait on but the file's appearance, or the process's early exit.
  std::optional<DevToolsEndpoint> endpoint;
  bool exited = false;
  WaitUntil(
      [&] {
        endpoint = ReadDevToolsActivePort(profile_dir);
        exited = !endpoint && chromium->process_->Wait(absl::ZeroDuration()).ok();
        return endpoint.has_value() || exited;
      },
      deadline - absl::Now());
  if (!endpoint) {
    return absl::Status(
        exited ? absl::StatusCode::kUnavailable : absl::StatusCode::kDeadlineExceeded,
        absl::StrCat("Chromium did not open its DevTools endpoint",
                     exited ? " (it exited)" : " in time", "; stderr: ", chromium->Stderr()));
  }
  absl::Status status = chromium->connection_->Open(*endpoint, deadline);
  if (!status.ok()) return status;

  // A page of our own, attached in flat mode so its commands share this connection.
  absl::StatusOr<nlohmann::json> target =
      chromium->connection_->Call("Target.createTarget", {{"url", "about:blank"}}, "", deadline);
  if (!target.ok()) return target.status();
  absl::StatusOr<nlohmann::json> attached = chromium->connection_->Call(
      "Target.attachToTarget", {{"targetId", (*target)["targetId"]}, {"flatten", true}}, "",
      deadline);
  if (!attached.ok()) return attached.status();
  chromium->session_id_ = (*attached)["sessionId"].get<std::string>();
  absl::StatusOr<nlohmann::json> enabled = chromium->connection_->Call(
      "Page.enable", nlohmann::json::object(), chromium->session_id_, deadline);
  if (!enabled.ok()) return enabled.status();
  return chromium;
}

ChromiumProcess::~ChromiumProcess() {
  if (process_ == nullptr) return;
  // Browser.close lets Chromium take its helper processes down with it; the reply may not
  // come before the socket closes, so its status says nothing.
  (void)connection_->Call("Browser.close", nlohmann::json::object(), "",
                          absl::Now() + absl::Seconds(5));
  if (!process_->Wait(absl::Seconds(5)).ok()) process_->Signal(SIGKILL);
  process_.reset();  // reaps
  std::error_code ignored;
  std::filesystem::remove_all(profile_dir_, ignored);
}

absl::Status ChromiumProcess::Navigate(const std::string& url, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int loads = connection_->EventCount("Page.loadEventFired");
  absl::StatusOr<nlohmann::json> navigated =
      connection_->Call("Page.navigate", {{"url", url}}, session_id_, deadline);
  if (!navigated.ok()) return navigated.status();
  if (navigated->contains("errorText")) {
    return absl::UnavailableError(
        absl::StrCat("cannot load ", url, ": ", (*navigated)["errorText"].get<std::string>()));
  }
  return connection_->WaitForEvent("Page.loadEventFired", loads, deadline);
}

absl::StatusOr<nlohmann::json> ChromiumProcess::Evaluate(const std::string& expression,
                                                         absl::Duration timeout) {
  absl::StatusOr<nlohmann::json> evaluated =
      Call("Runtime.evaluate",
           {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}}, timeout);
  if (!evaluated.ok()) return evaluated.status();
  if (evaluated->contains("exceptionDetails")) {
    const nlohmann::json& details = (*evaluated)["exceptionDetails"];
    const std::string text = details.contains("exception")
                                 ? details["exception"].value("description", details.dump())
                                 : details.dump();
    return absl::InvalidArgumentError(absl::StrCat("`", expression, "` threw: ", text));
  }
  return (*evaluated)["result"].value("value", nlohmann::json());
}

absl::Status ChromiumProcess::WaitForDom(const std::string& condition, absl::Duration timeout) {
  const std::string script = absl::StrCat(R"js(
new Promise(function (resolve) {
  var check = function () { try { return !!()js",
                                          condition, R"js(); } catch (e) { return false; } };
  if (check()) return resolve(true);
  var observer = new MutationObserver(function () {
    if (check()) { observer.disconnect(); resolve(true); }
  });
  observer.observe(document, {subtree: true, childList: true, characterData: true,
                              attributes: true});
  setTimeout(function () { observer.disconnect(); resolve(check()); }, )js",
                                          absl::ToInt64Milliseconds(timeout), R"js();
}))js");
  // The page's own timer ends the wait; the connection's deadline only guards against a hung
  // browser.
  absl::StatusOr<nlohmann::json> held = Evaluate(script, timeout + absl::Seconds(10));
  if (!held.ok()) return held.status();
  if (*held != true) {
    return absl::DeadlineExceededError(
        absl::StrCat("`", condition, "` still false after ", absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> ChromiumProcess::Call(const std::string& method,
                                                     nlohmann::json params,
                                                     absl::Duration timeout) {
  return connection_->Call(method, std::move(params), session_id_, absl::Now() + timeout);
}

int ChromiumProcess::EventCount(const std::string& method) const {
  return connection_->EventCount(method);
}

std::string ChromiumProcess::Stderr() const {
  return process_ == nullptr ? "" : process_->Stderr();
}

}  // namespace weft::testing
