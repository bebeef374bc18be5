// PrometheusProcess: a real Prometheus server (Debian's `prometheus`) on loopback, with a scratch
// configuration and storage, scraping one target every second; its HTTP query API for
// end-to-end tests of what weftd exports.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"
#include "weft/base/json.h"

namespace weft::testing {

class PrometheusProcess {
 public:
  // Options: what Prometheus scrapes and how.
  struct Options {
    std::string prometheus_path = "/usr/bin/prometheus";
    // target: the "HOST:PORT" of the scraped endpoint. Empty: Prometheus scrapes its own
    // /metrics (to test the harness without a weftd).
    std::string target;
    std::string metrics_path = "/metrics";
    // bearer_token_file: when set, every scrape sends `Authorization: Bearer <file contents>`
    // (Prometheus's `authorization: credentials_file`).
    std::string bearer_token_file;
    // The job label of the scraped series.
    std::string job = "weftd";
  };

  // Start writes a scratch configuration (scrape_interval 1s) and storage directory, runs
  // Prometheus listening on a free 127.0.0.1 port and waits up to `timeout` for /-/ready.
  // UNAVAILABLE when no port could be bound, DEADLINE_EXCEEDED when it never got ready, other
  // codes when the files or the process could not be created; the message carries Prometheus's
  // stderr.
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(
      const Options& options, absl::Duration timeout = absl::Seconds(30));

  // Kills and reaps Prometheus, then removes its configuration and storage.
  ~PrometheusProcess();

  PrometheusProcess(const PrometheusProcess&) = delete;
  PrometheusProcess& operator=(const PrometheusProcess&) = delete;

  // Query runs the instant query `promql` (at the current time) through /api/v1/query and
  // returns the whole response body, {"status": "success", "data": {"resultType", "result"}}.
  // INVALID_ARGUMENT when Prometheus rejects the expression (status "error"; the message holds
  // its errorType and error), UNAVAILABLE when the HTTP request fails. Thread-compatible.
  absl::StatusOr<Json> Query(const std::string& promql);

  // WaitFor runs `promql` repeatedly (every 200 ms) until `done` holds for the response's
  // data.result, and returns that result. DEADLINE_EXCEEDED after `timeout`, with the last
  // result or error; INVALID_ARGUMENT at once when the expression does not parse.
  absl::StatusOr<Json> WaitFor(const std::string& promql,
                               const std::function<bool(const Json& result)>& done,
                               absl::Duration timeout = absl::Seconds(30));

  int port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  // address: "127.0.0.1:PORT", Prometheus's own listen address.
  std::string address() const;
  // Stderr: Prometheus's log so far, for diagnostics.
  std::string Stderr() const { return process_->Stderr(); }

 private:
  PrometheusProcess() = default;

  std::unique_ptr<ChildProcess> process_;
  std::string directory_;
  int port_ = 0;
};

// SampleValue returns the value of the first sample of an instant-vector `result` (the
// data.result array of a query) as a number, NaN when there is none or it is not a number.
double SampleValue(const Json& result);

}  // namespace weft::testing
