#include "tests/testing/prometheus_process.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "weft/unique_fd.h"

namespace weft::testing {
namespace {

constexpr absl::Duration kPollStep = absl::Milliseconds(200);
// Prometheus is started again on another port at most this many times when the port it was
// given was taken between FreeLoopbackPort and its bind.
constexpr int kPortAttempts = 5;

// FreeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago (bound to port 0 and
// released): Prometheus takes its listen address as a flag and cannot report a port it chose.
absl::StatusOr<int> FreeLoopbackPort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return absl::ErrnoToStatus(errno, "bind 127.0.0.1:0");
  }
  socklen_t length = sizeof address;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return ntohs(address.sin_port);
}

std::string ScrapeConfig(const PrometheusProcess::Options& options, const std::string& target) {
  std::string config = absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: '",
      options.job, "'\n    metrics_path: '", options.metrics_path, "'\n");
  if (!options.bearer_token_file.empty()) {
    absl::StrAppend(&config, "    authorization:\n      type: Bearer\n      credentials_file: '",
                    options.bearer_token_file, "'\n");
  }
  absl::StrAppend(&config, "    static_configs:\n      - targets: ['", target, "']\n");
  return config;
}

std::unique_ptr<httplib::Client> LoopbackHttpClient(int port) {
  auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
  client->set_connection_timeout(2, 0);
  client->set_read_timeout(10, 0);
  client->set_write_timeout(10, 0);
  return client;
}

// Ready reports whether GET /-/ready answers 200.
bool Ready(int port) {
  httplib::Result result = LoopbackHttpClient(port)->Get("/-/ready");
  return result && result->status == 200;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusProcess>> PrometheusProcess::Start(
    const Options& options, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_ptr<PrometheusProcess> prometheus(new PrometheusProcess());
  std::string directory = "/tmp/weft-prometheus-XXXXXX";
  if (::mkdtemp(directory.data()) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
  prometheus->directory_ = directory;
  const std::string config_path = absl::StrCat(directory, "/prometheus.yml");
  std::string last_error;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    prometheus->port_ = *port;
    const std::string target = options.target.empty() ? prometheus->address() : options.target;
    std::ofstream(config_path, std::ios::trunc) << ScrapeConfig(options, target);
    absl::StatusOr<ChildProcess> process = ChildProcess::Start({
        options.prometheus_path,
        absl::StrCat("--config.file=", config_path),
        absl::StrCat("--storage.tsdb.path=", directory, "/data-", attempt),
        absl::StrCat("--web.listen-address=", prometheus->address()),
        "--log.level=warn",
    });
    if (!process.ok()) return process.status();
    prometheus->process_ = std::make_unique<ChildProcess>(std::move(*process));
    bool exited = false;
    while (!exited && absl::Now() < deadline) {
      if (Ready(prometheus->port_)) return prometheus;
      exited = prometheus->process_->Wait(absl::ZeroDuration()).ok();
      if (!exited) absl::SleepFor(kPollStep);
    }
    last_error = prometheus->process_->Stderr();
    if (!exited) {
      return absl::DeadlineExceededError(
          absl::StrCat("Prometheus was not ready in time; stderr:\n", last_error));
    }
    if (!absl::StrContains(last_error, "address already in use")) {
      return absl::InternalError(absl::StrCat("Prometheus exited; stderr:\n", last_error));
    }
  }
  return absl::UnavailableError(
      absl::StrCat("no free port for Prometheus; last stderr:\n", last_error));
}

PrometheusProcess::~PrometheusProcess() {
  process_.reset();
  if (!directory_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
}

std::string PrometheusProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<Json> PrometheusProcess::Query(const std::string& promql) {
  httplib::Result result =
      LoopbackHttpClient(port_)->Post("/api/v1/query", httplib::Params{{"query", promql}});
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("POST /api/v1/query: ", httplib::to_string(result.error())));
  }
  absl::StatusOr<Json> body = JsonParse(result->body);
  if (!body.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "HTTP ", result->status, ", not JSON: ", body.status().message(), "\n", result->body));
  }
  if (body->value("status", "") != "success") {
    return absl::InvalidArgumentError(absl::StrCat(promql, ": ", body->value("errorType", ""), ": ",
                                                   body->value("error", result->body)));
  }
  return body;
}

absl::StatusOr<Json> PrometheusProcess::WaitFor(const std::string& promql,
                                                const std::function<bool(const Json&)>& done,
                                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (true) {
    absl::StatusOr<Json> response = Query(promql);
    if (absl::IsInvalidArgument(response.status())) return response.status();
    if (response.ok()) {
      const Json& result = (*response)["data"]["result"];
      if (done(result)) return result;
      last = JsonDump(result);
    } else {
      last = std::string(response.status().message());
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("waiting for ", promql, "; last result: ", last));
    }
    absl::SleepFor(kPollStep);
  }
}

double SampleValue(const Json& result) {
  // An instant vector is [{"metric": {...}, "value": [TIME, "VALUE"]}, ...]; a scalar is
  // [TIME, "VALUE"].
  const Json* value = nullptr;
  if (result.is_array() && !result.empty() && result[0].is_object()) {
    value = &result[0]["value"];
  } else if (result.is_array() && result.size() == 2) {
    value = &result;
  }
  if (value == nullptr || !value->is_array() || value->size() != 2 || !(*value)[1].is_string()) {
    return std::nan("");
  }
  const std::string text = (*value)[1].get<std::string>();
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  return end == text.c_str() ? std::nan("") : number;
}

}  // namespace weft::testing
