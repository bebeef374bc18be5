#include "client-cli/parse.h"

#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace weft::cli {
namespace {

// Inputs longer than this are refused before any real parsing: no legitimate duration, number
// or target comes near it, and it bounds the work and the message size for fuzzed input.
constexpr std::size_t kMaxTokenBytes = 4096;
// sizeof(sockaddr_un::sun_path) - 1 on Linux.
constexpr std::size_t kMaxUnixPathBytes = 107;
constexpr std::size_t kMaxHostBytes = 253;

constexpr char kTargetForms[] = "expected HOST:PORT, [IPV6]:PORT or unix:PATH";

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsHostByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool IsIpv6LiteralByte(char c) {
  // Hex digits, separators, an embedded IPv4 part and a "%zone" suffix.
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '%' ||
         c == '-' || c == '_';
}

bool HasControlByte(absl::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

absl::Status TargetError(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad target ", QuoteForMessage(text), ": ", why));
}

absl::StatusOr<std::uint32_t> ParsePort(absl::string_view target, absl::string_view port) {
  std::uint32_t value = 0;
  if (port.empty()) return TargetError(target, "missing port after ':'");
  if (port.size() > 5 || !AllDigits(port) || !absl::SimpleAtoi(port, &value) || value == 0 ||
      value > 65535) {
    return TargetError(target, "the port must be a number from 1 to 65535");
  }
  return value;
}

}  // namespace

std::string QuoteForMessage(absl::string_view text) {
  constexpr std::size_t kShown = 64;
  const bool cut = text.size() > kShown;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kShown)), cut ? "...\"" : "\"");
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag, absl::string_view text,
                                                 const DurationLimits& limits) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": a duration is required, e.g. 500ms, 30s or 5m"));
  }
  absl::Duration duration;
  if (trimmed.size() > kMaxTokenBytes || !absl::ParseDuration(trimmed, &duration)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", QuoteForMessage(trimmed),
                                                   " is not a duration; use e.g. 500ms, 30s "
                                                   "or 5m (units ns, us, ms, s, m, h)"));
  }
  if (duration == absl::InfiniteDuration() || duration == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": the duration must be finite"));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": the duration must not be negative (got ", trimmed, ")"));
  }
  if (duration == absl::ZeroDuration() && !limits.allow_zero) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": the duration must be above 0"));
  }
  if (duration > limits.max) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": the duration must be at most ",
                                                   absl::FormatDuration(limits.max), " (got ",
                                                   trimmed, ")"));
  }
  return duration;
}

absl::StatusOr<Target> ParseTarget(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty target; ", kTargetForms));
  }
  if (trimmed.size() > kMaxTokenBytes) return TargetError(trimmed, "too long");
  Target target{.name = std::string(trimmed), .channel_target = std::string(trimmed)};

  absl::string_view rest = trimmed;
  if (absl::ConsumePrefix(&rest, "unix:")) {
    absl::string_view path = rest;
    // gRPC's URI form "unix:///abs/path" names the absolute path "/abs/path".
    if (absl::ConsumePrefix(&path, "//") && !absl::StartsWith(path, "/")) {
      return TargetError(trimmed,
                         "use unix:/absolute/path, unix:///absolute/path or "
                         "unix:relative/path");
    }
    if (path.empty()) return TargetError(trimmed, "missing socket path after unix:");
    if (HasControlByte(path)) return TargetError(trimmed, "control character in socket path");
    if (path.size() > kMaxUnixPathBytes) {
      return TargetError(trimmed,
                         absl::StrCat("socket path longer than ", kMaxUnixPathBytes, " bytes"));
    }
    target.local = true;
    return target;
  }

  absl::string_view host;
  absl::string_view port;
  if (absl::ConsumePrefix(&rest, "[")) {
    const std::size_t close = rest.find(']');
    if (close == absl::string_view::npos) return TargetError(trimmed, "missing ']'");
    host = rest.substr(0, close);
    rest.remove_prefix(close + 1);
    if (host.empty() || host.find(':') == absl::string_view::npos) {
      return TargetError(trimmed, "brackets must hold an IPv6 address, e.g. [::1]:7070");
    }
    for (char c : host) {
      if (!IsIpv6LiteralByte(c)) return TargetError(trimmed, "bad character in IPv6 address");
    }
    if (!absl::ConsumePrefix(&rest, ":")) {
      return TargetError(trimmed, "missing :PORT after the IPv6 address");
    }
    port = rest;
    target.local = host == "::1";
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return TargetError(trimmed, absl::StrCat("missing port; ", kTargetForms));
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      if (host.find('/') != absl::string_view::npos) {
        return TargetError(trimmed, kTargetForms);  // Another URI scheme, e.g. dns:///...
      }
      return TargetError(trimmed, "write an IPv6 address in brackets, e.g. [::1]:7070");
    }
    if (host.empty()) return TargetError(trimmed, "missing host before ':'");
    if (host.size() > kMaxHostBytes) return TargetError(trimmed, "host name too long");
    for (char c : host) {
      if (!IsHostByte(c)) {
        return TargetError(trimmed, absl::StrCat("bad character in host name; ", kTargetForms));
      }
    }
    target.local = absl::EqualsIgnoreCase(host, "localhost") || absl::StartsWith(host, "127.");
  }
  if (absl::StatusOr<std::uint32_t> parsed = ParsePort(trimmed, port); !parsed.ok()) {
    return parsed.status();
  }
  return target;
}

absl::StatusOr<std::vector<Target>> ParseTargetList(const std::vector<std::string>& values) {
  std::vector<Target> targets;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& value : values) {
    for (absl::string_view element : absl::StrSplit(value, ',')) {
      if (absl::StripAsciiWhitespace(element).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("empty target in the list ", QuoteForMessage(value), "; ", kTargetForms));
      }
      absl::StatusOr<Target> target = ParseTarget(element);
      if (!target.ok()) return target.status();
      if (seen.insert(target->name).second) targets.push_back(*std::move(target));
    }
  }
  if (targets.empty()) return absl::InvalidArgumentError("no target given");
  return targets;
}

absl::StatusOr<std::uint64_t> ParseTaskId(absl::string_view text) {
  std::uint64_t id = 0;
  if (text.size() > 20 || !AllDigits(text) || !absl::SimpleAtoi(text, &id) || id == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad task id ", QuoteForMessage(text), ": expected a number from 1 to ",
                     std::numeric_limits<std::uint64_t>::max(), " (see `weftctl tasks`)"));
  }
  return id;
}

absl::StatusOr<std::uint32_t> ParseCount(absl::string_view flag, absl::string_view text) {
  std::uint32_t count = 0;
  if (text.size() > 10 || !AllDigits(text) || !absl::SimpleAtoi(text, &count)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", QuoteForMessage(text),
                                                   " is not a number from 0 to ",
                                                   std::numeric_limits<std::uint32_t>::max()));
  }
  return count;
}

}  // namespace weft::cli
