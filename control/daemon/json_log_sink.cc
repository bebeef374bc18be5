#include "control/daemon/json_log_sink.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "weft/json_quote.h"

namespace weft::control {

void JsonLogSink::send(google::LogSeverity severity, const char*, const char* base_filename,
                       int line, const struct ::tm* tm_time, const char* message,
                       size_t message_len) {
  const std::string text = absl::StrCat(
      absl::StrFormat(R"({"time":"%04d-%02d-%02dT%02d:%02d:%02dZ","severity":"%s",)",
                      tm_time->tm_year + 1900, tm_time->tm_mon + 1, tm_time->tm_mday,
                      tm_time->tm_hour, tm_time->tm_min, tm_time->tm_sec,
                      google::GetLogSeverityName(severity)),
      R"("source":)", JsonQuote(absl::StrCat(base_filename, ":", line)), R"(,"message":)",
      JsonQuote(absl::string_view(message, message_len)), "}\n");
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
}

}  // namespace weft::control
