#include "control/daemon/json_log_sink.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "weft/base/json.h"

namespace weft::control {

std::string JsonLogLine(google::LogSeverity severity, const struct ::tm& time,
                        absl::string_view source, absl::string_view message) {
  Json line = Json::object();
  line["time"] =
      absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", time.tm_year + 1900, time.tm_mon + 1,
                      time.tm_mday, time.tm_hour, time.tm_min, time.tm_sec);
  line["severity"] = google::GetLogSeverityName(severity);
  line["source"] = std::string(source);
  line["message"] = std::string(message);
  return JsonDump(line) + "\n";
}

void JsonLogSink::send(google::LogSeverity severity, const char*, const char* base_filename,
                       int line, const struct ::tm* tm_time, const char* message,
                       size_t message_len) {
  const std::string text = JsonLogLine(severity, *tm_time, absl::StrCat(base_filename, ":", line),
                                       absl::string_view(message, message_len));
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
}

}  // namespace weft::control
