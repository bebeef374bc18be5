// The weftd configuration: parsing (Protobuf text format), validation with line numbers, and
// the embedded default.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "weft/config/v1/config.pb.h"
#include "weft/handlers/handler_registry.h"

namespace weft::control {

// DefaultConfigText: what weftd runs without --config — an echo listener on 127.0.0.1:7007 and
// the control plane on 127.0.0.1:7070.
absl::string_view DefaultConfigText();

// kDefaultDrainTimeout: a listener's drain_timeout when the configuration leaves it empty.
inline constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(30);

// ConfigOverrides: command-line settings that take part in validation.
struct ConfigOverrides {
  // --insecure: allow a non-loopback control address without authentication.
  bool allow_insecure = false;
};

// ParseConfig parses and validates `text`. Every problem is reported, one per line, as
// "SOURCE:LINE:COLUMN: FIELD: what is wrong" in an INVALID_ARGUMENT status: syntax errors,
// unknown fields, bad or duplicate names, duplicate address:port pairs, ports out of range,
// unknown handlers or handler arguments (checked with `registry`), malformed durations (the
// listeners' timeouts and control.drain_delay), a close_spread longer than its listener's
// drain_timeout, bad manager limits, incomplete TLS or token
// settings, and a non-loopback control address without authentication unless allow_insecure.
absl::StatusOr<config::v1::Config> ParseConfig(absl::string_view text, absl::string_view source,
                                               const HandlerRegistry& registry,
                                               const ConfigOverrides& overrides = {});

// LoadConfigFile reads `path` and parses it. NOT_FOUND / PERMISSION_DENIED if it cannot be read.
absl::StatusOr<config::v1::Config> LoadConfigFile(const std::string& path,
                                                  const HandlerRegistry& registry,
                                                  const ConfigOverrides& overrides = {});

// ParseConfigDuration parses a config duration ("500ms", "30s", "5m"); empty gives `fallback`.
absl::StatusOr<absl::Duration> ParseConfigDuration(absl::string_view text, absl::Duration fallback);

}  // namespace weft::control
