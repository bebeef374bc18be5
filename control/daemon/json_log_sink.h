// JsonLogSink: renders glog messages as one JSON object per line on stderr.
#pragma once

#include <ctime>
#include <string>

#include "absl/strings/string_view.h"

#include <glog/logging.h>

namespace weft::control {

// JsonLogSink: thread-safe (each line is written with a single write(2)).
class JsonLogSink final : public google::LogSink {
 public:
  void send(google::LogSeverity severity, const char* full_filename, const char* base_filename,
            int line, const struct ::tm* tm_time, const char* message,
            size_t message_len) override;
};

}  // namespace weft::control
