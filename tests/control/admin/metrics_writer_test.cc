#include "control/admin/metrics_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace weft::control::admin {
namespace {

TEST(MetricsWriterTest, WritesSmallRegistryExactly) {
  MetricsWriter writer;
  writer.Family("requests_total", MetricType::kCounter, "Requests served.");
  writer.Sample("requests_total", {{"server", "a"}, {"code", "200"}}, 3);
  writer.Sample("requests_total", {{"server", "b"}, {"code", "200"}}, 0);
  writer.Family("temperature", MetricType::kGauge, "Degrees.");
  writer.Sample("temperature", {}, -1.5);
  EXPECT_EQ(std::move(writer).Finish(),
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total{server=\"a\",code=\"200\"} 3\n"
            "requests_total{server=\"b\",code=\"200\"} 0\n"
            "# HELP temperature Degrees.\n"
            "# TYPE temperature gauge\n"
            "temperature -1.5\n");
}

TEST(MetricsWriterTest, FamilyWithoutSamplesLeavesNoTrace) {
  MetricsWriter writer;
  writer.Family("empty", MetricType::kGauge, "Nothing.");
  writer.Family("one", MetricType::kGauge, "Something.");
  writer.Sample("one", {}, 1);
  EXPECT_EQ(std::move(writer).Finish(), "# HELP one Something.\n# TYPE one gauge\none 1\n");
}

TEST(MetricsWriterTest, EscapesLabelValuesAndHelp) {
  MetricsWriter writer;
  writer.Family("m", MetricType::kGauge, "back\\slash \"quoted\"\nnext line");
  writer.Sample("m", {{"v", "a\\b\"c\nd"}}, 1);
  EXPECT_EQ(std::move(writer).Finish(),
            "# HELP m back\\\\slash \"quoted\"\\nnext line\n"
            "# TYPE m gauge\n"
            "m{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsWriterTest, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(42), "42");
  EXPECT_EQ(FormatMetricValue(-7), "-7");
  EXPECT_EQ(FormatMetricValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatMetricValue(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1.5e300), "1.5e+300");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  // Shortest round-trip form: reading it back gives the same double.
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(FormatMetricValue(third)), third);
}

TEST(MetricsWriterTest, WritesHistogramWithCumulativeBuckets) {
  weft::base::HistogramSnapshot snapshot;
  snapshot.upper_bounds = {0.1, 1, 10};
  snapshot.counts = {2, 0, 3, 1};
  snapshot.sum = 25.5;
  snapshot.count = 6;
  MetricsWriter writer;
  writer.Family("latency_seconds", MetricType::kHistogram, "Latency.");
  writer.Histogram("latency_seconds", {{"server", "a"}}, snapshot);
  EXPECT_EQ(std::move(writer).Finish(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{server=\"a\",le=\"0.1\"} 2\n"
            "latency_seconds_bucket{server=\"a\",le=\"1\"} 2\n"
            "latency_seconds_bucket{server=\"a\",le=\"10\"} 5\n"
            "latency_seconds_bucket{server=\"a\",le=\"+Inf\"} 6\n"
            "latency_seconds_sum{server=\"a\"} 25.5\n"
            "latency_seconds_count{server=\"a\"} 6\n");
}

TEST(MetricsWriterTest, HistogramWithoutLabelsHasOnlyLe) {
  weft::base::HistogramSnapshot snapshot;
  snapshot.upper_bounds = {1};
  snapshot.counts = {0, 0};
  MetricsWriter writer;
  writer.Family("h", MetricType::kHistogram, "H.");
  writer.Histogram("h", {}, snapshot);
  EXPECT_EQ(std::move(writer).Finish(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(MetricsWriterDeathTest, RejectsFamilyDeclaredTwice) {
  EXPECT_DEATH(
      {
        MetricsWriter writer;
        writer.Family("m", MetricType::kGauge, "M.");
        writer.Family("m", MetricType::kGauge, "M.");
      },
      "declared twice");
}

TEST(MetricsWriterDeathTest, RejectsSampleOutsideItsFamily) {
  EXPECT_DEATH(
      {
        MetricsWriter writer;
        writer.Family("a", MetricType::kGauge, "A.");
        writer.Family("b", MetricType::kGauge, "B.");
        writer.Sample("a", {}, 1);
      },
      "outside its family");
}

TEST(MetricsWriterDeathTest, RejectsInvalidNames) {
  EXPECT_DEATH(
      {
        MetricsWriter writer;
        writer.Family("bad-name", MetricType::kGauge, "A.");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsWriter writer;
        writer.Family("m", MetricType::kGauge, "A.");
        writer.Sample("m", {{"bad label", "x"}}, 1);
      },
      "invalid label name");
}

}  // namespace
}  // namespace weft::control::admin
