// JsonLogFormatter: renders Weft's log lines (weft/base/log.h) as one JSON object per line.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "weft/base/log.h"

namespace weft::control {

// JsonLogLine renders one log line and its newline, the time in UTC to the microsecond:
//   {"time":"2026-01-02T03:04:05.000006Z","severity":"INFO","source":"main.cc:12","message":"..."}
// The message may hold any bytes (see weft::JsonDump). Thread-safe: no state.
std::string JsonLogLine(base::LogSeverity severity, absl::Time time, absl::string_view source,
                        absl::string_view message);

// JsonLogFormatter: an spdlog formatter writing JsonLogLine; weftd --log-format=json sets it on
// weft::base::WeftLogger(). spdlog calls it under the sink's lock. Stateless.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace weft::control
