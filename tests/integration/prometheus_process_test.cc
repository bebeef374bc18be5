// PrometheusProcess, the harness of the Prometheus end-to-end tests, on its own: Prometheus
// scraping its own /metrics.
#include "tests/testing/prometheus_process.h"

#include <signal.h>

#include <cmath>

#include "gtest/gtest.h"

namespace weft::testing {
namespace {

TEST(PrometheusProcessTest, ScrapesItselfAndAnswersQueries) {
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
      PrometheusProcess::Start({.job = "self"});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  absl::StatusOr<Json> up = (*prometheus)->WaitFor("up{job=\"self\"}", [](const Json& result) {
    return SampleValue(result) == 1;
  });
  ASSERT_TRUE(up.ok()) << up.status() << (*prometheus)->Stderr();
  EXPECT_EQ((*up)[0]["metric"]["instance"], (*prometheus)->address());

  absl::StatusOr<Json> samples =
      (*prometheus)->WaitFor("prometheus_tsdb_head_samples_appended_total", [](const Json& result) {
        return SampleValue(result) > 0;
      });
  EXPECT_TRUE(samples.ok()) << samples.status();
}

TEST(PrometheusProcessTest, ABadExpressionIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
      PrometheusProcess::Start({.target = "127.0.0.1:1"});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  absl::StatusOr<Json> response = (*prometheus)->Query("sum(");
  EXPECT_TRUE(absl::IsInvalidArgument(response.status())) << response.status();
  absl::StatusOr<Json> waited =
      (*prometheus)
          ->WaitFor(
              "rate(up)", [](const Json&) { return true; }, absl::Seconds(5));
  EXPECT_TRUE(absl::IsInvalidArgument(waited.status())) << waited.status();
}

TEST(PrometheusProcessTest, AnUnreachableTargetIsDown) {
  absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
      PrometheusProcess::Start({.target = "127.0.0.1:1"});
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  absl::StatusOr<Json> up = (*prometheus)->WaitFor("up", [](const Json& result) {
    return !result.empty() && SampleValue(result) == 0;
  });
  EXPECT_TRUE(up.ok()) << up.status();
}

TEST(PrometheusProcessTest, TheDestructorKillsPrometheus) {
  pid_t pid;
  {
    absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
        PrometheusProcess::Start({.target = "127.0.0.1:1"});
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    pid = (*prometheus)->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);
}

}  // namespace
}  // namespace weft::testing
