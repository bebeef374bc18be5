#include "client-cli/parse.h"

#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "weft/base/address.h"

namespace weft::cli {
namespace {

// Durations longer than this are refused before any real parsing: no legitimate one comes near
// it, and it bounds the work and the message size for fuzzed input.
constexpr std::size_t kMaxTokenBytes = 4096;

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status TargetError(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad target ", QuoteForMessage(text), ": ", why));
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
    return absl::InvalidArgumentError(absl::StrCat("empty target; ", kAddressForms));
  }
  absl::StatusOr<Address> address = ParseAddress(trimmed);
  if (!address.ok()) return TargetError(trimmed, address.status().message());
  return Target{.name = std::string(trimmed),
                .channel_target = std::string(trimmed),
                .local = address->loopback};
}

absl::StatusOr<std::vector<Target>> ParseTargetList(const std::vector<std::string>& values) {
  std::vector<Target> targets;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& value : values) {
    for (absl::string_view element : absl::StrSplit(value, ',')) {
      if (absl::StripAsciiWhitespace(element).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("empty target in the list ", QuoteForMessage(value), "; ", kAddressForms));
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
