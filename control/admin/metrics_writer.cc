#include "control/admin/metrics_writer.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "weft/base/log.h"

namespace weft::control::admin {
namespace {

// Integers up to 2^53 are exact in a double, so below it an integral value prints as one.
constexpr double kMaxExactInteger = 9007199254740992.0;

bool IsValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (allow_colon && c == ':') ||
                    (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  return IsValidName(name, /*allow_colon=*/false) && !absl::StartsWith(name, "__");
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  LOG(FATAL) << "unknown MetricType " << static_cast<int>(type);
}

// AppendEscaped appends `text` with backslash and newline escaped, and the double quote too
// when `quote` (label values; HELP text leaves quotes as they are).
void AppendEscaped(absl::string_view text, bool quote, std::string& out) {
  for (const char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) < kMaxExactInteger) {
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<std::int64_t>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  }
  CHECK(result.ec == std::errc()) << "cannot format " << value;
  return std::string(buffer, result.ptr);
}

void MetricsWriter::Family(absl::string_view name, MetricType type, absl::string_view help) {
  CHECK(IsValidName(name, /*allow_colon=*/true)) << "invalid metric name '" << name << "'";
  CHECK(families_.emplace(name).second) << "metric family " << name << " declared twice";
  family_ = std::string(name);
  type_ = type;
  help_ = std::string(help);
  header_written_ = false;
}

void MetricsWriter::StartSample(absl::string_view family, MetricType type, absl::string_view suffix,
                                absl::Span<const Label> labels, absl::string_view le) {
  CHECK(!family_.empty() && family == family_)
      << "sample " << family << " outside its family (current: '" << family_ << "')";
  CHECK((type == MetricType::kHistogram) == (type_ == MetricType::kHistogram))
      << "family " << family_ << " is a " << TypeName(type_);
  if (!header_written_) {
    absl::StrAppend(&text_, "# HELP ", family_, " ");
    AppendEscaped(help_, /*quote=*/false, text_);
    absl::StrAppend(&text_, "\n# TYPE ", family_, " ", TypeName(type_), "\n");
    header_written_ = true;
  }
  absl::StrAppend(&text_, family_, suffix);
  if (labels.empty() && le.empty()) return;
  text_ += '{';
  bool first = true;
  const auto append_label = [&](absl::string_view name, absl::string_view value) {
    if (!first) text_ += ',';
    first = false;
    absl::StrAppend(&text_, name, "=\"");
    AppendEscaped(value, /*quote=*/true, text_);
    text_ += '"';
  };
  for (const Label& label : labels) {
    CHECK(IsValidLabelName(label.name)) << "invalid label name '" << label.name << "'";
    CHECK(le.empty() || label.name != "le") << "histogram " << family_ << " has a label 'le'";
    append_label(label.name, label.value);
  }
  if (!le.empty()) append_label("le", le);
  text_ += '}';
}

void MetricsWriter::EndSample(double value) {
  absl::StrAppend(&text_, " ", FormatMetricValue(value), "\n");
}

void MetricsWriter::Sample(absl::string_view name, absl::Span<const Label> labels, double value) {
  StartSample(name, MetricType::kCounter, "", labels, "");
  EndSample(value);
}

void MetricsWriter::Histogram(absl::string_view name, absl::Span<const Label> labels,
                              const weft::base::HistogramSnapshot& snapshot) {
  CHECK_EQ(snapshot.counts.size(), snapshot.upper_bounds.size() + 1)
      << "malformed snapshot for " << name;
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i < snapshot.upper_bounds.size(); ++i) {
    cumulative += snapshot.counts[i];
    StartSample(name, MetricType::kHistogram, "_bucket", labels,
                FormatMetricValue(snapshot.upper_bounds[i]));
    EndSample(static_cast<double>(cumulative));
  }
  cumulative += snapshot.counts.back();
  StartSample(name, MetricType::kHistogram, "_bucket", labels, "+Inf");
  EndSample(static_cast<double>(cumulative));
  StartSample(name, MetricType::kHistogram, "_sum", labels, "");
  EndSample(snapshot.sum);
  StartSample(name, MetricType::kHistogram, "_count", labels, "");
  EndSample(static_cast<double>(cumulative));
}

std::string MetricsWriter::Finish() && { return std::move(text_); }

}  // namespace weft::control::admin
