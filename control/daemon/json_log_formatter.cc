#include "control/daemon/json_log_formatter.h"

#include <spdlog/details/log_msg.h>

#include "absl/strings/str_cat.h"
#include "weft/base/json.h"

namespace weft::control {
namespace {

base::LogSeverity SeverityOf(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return base::LogSeverity::kDebug;
    case spdlog::level::info:
      return base::LogSeverity::kInfo;
    case spdlog::level::warn:
      return base::LogSeverity::kWarning;
    case spdlog::level::err:
      return base::LogSeverity::kError;
    default:
      return base::LogSeverity::kFatal;
  }
}

}  // namespace

std::string JsonLogLine(base::LogSeverity severity, absl::Time time, absl::string_view source,
                        absl::string_view message) {
  Json line = Json::object();
  line["time"] = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", time, absl::UTCTimeZone());
  line["severity"] = base::LogSeverityName(severity);
  line["source"] = std::string(source);
  line["message"] = std::string(message);
  return JsonDump(line) + "\n";
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const char* const file = msg.source.filename != nullptr ? msg.source.filename : "";
  const absl::string_view path(file);
  const absl::string_view base = path.substr(path.rfind('/') + 1);
  const std::string text = JsonLogLine(SeverityOf(msg.level), absl::FromChrono(msg.time),
                                       absl::StrCat(base, ":", msg.source.line),
                                       absl::string_view(msg.payload.data(), msg.payload.size()));
  dest.append(text.data(), text.data() + text.size());
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace weft::control
