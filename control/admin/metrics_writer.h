// MetricsWriter: renders metric families in the Prometheus text exposition format 0.0.4.
#pragma once

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "weft/base/histogram.h"

namespace weft::control::admin {

// kMetricsContentType: the Content-Type of a response carrying MetricsWriter's text.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// MetricType: the `# TYPE` of a family.
enum class MetricType { kCounter, kGauge, kHistogram };

// Label: one label of a sample. The views need to stay valid only during the call taking them.
struct Label {
  absl::string_view name;
  absl::string_view value;
};

// MetricsWriter builds one exposition, family by family:
//
//   MetricsWriter writer;
//   writer.Family("weft_connections_active", MetricType::kGauge, "Connections open now.");
//   writer.Sample("weft_connections_active", {{"server", "echo"}}, 3);
//   std::string text = std::move(writer).Finish();
//
// Every sample belongs to the family declared last, so a family's samples are contiguous under
// one HELP/TYPE pair, and a family name may be declared only once. The HELP/TYPE lines are
// written with the family's first sample: a family without samples leaves no trace, as in the
// Prometheus client libraries. Label values and HELP text are escaped here; names are the
// caller's constants, and a name that Prometheus would reject, a family declared twice, or a
// sample outside its family is a bug (CHECK).
//
// Values are float64 as in Prometheus: an integral value below 2^53 is written as an integer
// (`42`, never `4.2e+01`), others in the shortest form that reads back exactly, and the special
// values as `+Inf`, `-Inf` and `NaN`. Counts above 2^53 lose their low bits, as they do in
// Prometheus itself.
//
// Thread-compatible: one writer per exposition, used by one thread at a time.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Family starts the family `name`; the samples that follow belong to it.
  // Requires: `name` is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) not declared before.
  void Family(absl::string_view name, MetricType type, absl::string_view help);

  // Sample writes `name{labels} value`.
  // Requires: the current family is a counter or gauge named `name`; label names are valid
  // ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__").
  void Sample(absl::string_view name, absl::Span<const Label> labels, double value);

  // Histogram writes one histogram's series: `name_bucket{labels,le="B"}` with cumulative
  // counts for every bound of `snapshot` and for le="+Inf", then `name_sum` and `name_count`
  // (the +Inf bucket's count, so the two always agree).
  // Requires: the current family is a histogram named `name`; `labels` has no "le";
  // snapshot.counts.size() == snapshot.upper_bounds.size() + 1.
  void Histogram(absl::string_view name, absl::Span<const Label> labels,
                 const weft::base::HistogramSnapshot& snapshot);

  // Finish returns the exposition text (empty if no sample was written).
  std::string Finish() &&;

 private:
  // StartSample writes the pending HELP/TYPE lines and the sample's name and labels (with
  // `le` appended when non-empty), checking that the sample belongs to the current family.
  void StartSample(absl::string_view family, MetricType type, absl::string_view suffix,
                   absl::Span<const Label> labels, absl::string_view le);
  void EndSample(double value);

  std::string text_;
  absl::flat_hash_set<std::string> families_;
  std::string family_;
  MetricType type_ = MetricType::kCounter;
  std::string help_;
  bool header_written_ = false;
};

// FormatMetricValue renders `value` as MetricsWriter writes sample values and `le` bounds.
std::string FormatMetricValue(double value);

}  // namespace weft::control::admin
