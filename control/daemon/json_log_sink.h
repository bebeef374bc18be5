// JsonLogSink: renders glog messages as one JSON object per line on stderr.
#pragma once

#include <glog/logging.h>

#include <ctime>
#include <string>

#include "absl/strings/string_view.h"

namespace weft::control {

// JsonLogLine renders one log line and its newline:
//   {"time":"2026-01-02T03:04:05Z","severity":"INFO","source":"main.cc:12","message":"..."}
// The message may hold any bytes (see weft::JsonDump). Thread-safe: no state.
std::string JsonLogLine(google::LogSeverity severity, const struct ::tm& time,
                        absl::string_view source, absl::string_view message);

// JsonLogSink: thread-safe (each line is written with a single write(2)).
class JsonLogSink final : public google::LogSink {
 public:
  void send(google::LogSeverity severity, const char* full_filename, const char* base_filename,
            int line, const struct ::tm* tm_time, const char* message, size_t message_len) override;
};

}  // namespace weft::control
