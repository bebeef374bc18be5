#include "client-cli/task_filter_flags.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client-cli/parse.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

namespace v1 = ::weft::control::v1;

absl::StatusOr<std::uint64_t> ParseBytes(absl::string_view flag, absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::uint64_t bytes = 0;
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", QuoteForMessage(text), " is not a byte count"));
  }
  return bytes;
}

absl::Status CheckBytes(const v1::TaskFilter& filter) {
  if (filter.has_max_bytes() && filter.max_bytes() < filter.min_bytes()) {
    return absl::InvalidArgumentError("--max-bytes is below --min-bytes");
  }
  return absl::OkStatus();
}

const char* StateFlagName(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_QUEUED:
      return "queued";
    case v1::TASK_STATE_RUNNING:
      return "running";
    case v1::TASK_STATE_STOPPING:
      return "stopping";
    default:
      return "?";
  }
}

}  // namespace

bool IsTaskFilterFlag(absl::string_view name) {
  return std::find(kTaskFilterValueFlags.begin(), kTaskFilterValueFlags.end(), name) !=
             kTaskFilterValueFlags.end() ||
         std::find(kTaskFilterSwitches.begin(), kTaskFilterSwitches.end(), name) !=
             kTaskFilterSwitches.end();
}

absl::Status ApplyTaskFilterFlag(absl::string_view name, absl::string_view value,
                                 v1::TaskFilter& filter) {
  if (name == "--state") {
    for (absl::string_view word : absl::StrSplit(value, ',')) {
      word = absl::StripAsciiWhitespace(word);
      v1::TaskState state;
      if (word == "running") {
        state = v1::TASK_STATE_RUNNING;
      } else if (word == "queued") {
        state = v1::TASK_STATE_QUEUED;
      } else if (word == "stopping") {
        state = v1::TASK_STATE_STOPPING;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--state: ", QuoteForMessage(word),
                         " is not a state; use running, queued or stopping"));
      }
      if (std::find(filter.states().begin(), filter.states().end(), state) ==
          filter.states().end()) {
        filter.add_states(state);
      }
    }
    return absl::OkStatus();
  }
  if (name == "--peer") {
    const absl::string_view peer = absl::StripAsciiWhitespace(value);
    if (peer.empty()) return absl::InvalidArgumentError("--peer: empty network");
    filter.set_peer(std::string(peer));
    return absl::OkStatus();
  }
  if (name == "--idle-over" || name == "--age-over") {
    absl::StatusOr<absl::Duration> duration = ParseDurationFlag(name, value);
    if (!duration.ok()) return duration.status();
    *(name == "--idle-over" ? filter.mutable_min_idle() : filter.mutable_min_age()) =
        DurationToProto(*duration);
    return absl::OkStatus();
  }
  if (name == "--min-bytes" || name == "--max-bytes") {
    absl::StatusOr<std::uint64_t> bytes = ParseBytes(name, value);
    if (!bytes.ok()) return bytes.status();
    if (name == "--min-bytes") {
      filter.set_min_bytes(*bytes);
    } else {
      filter.set_max_bytes(*bytes);
    }
    return CheckBytes(filter);
  }
  if (name == "--stuck") {
    filter.set_stuck_only(true);
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("unhandled task filter flag ", name));
}

absl::StatusOr<std::string> ParseOrderBy(absl::string_view value) {
  const std::string text = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  if (text == "id") return std::string("id");
  if (text == "idle") return std::string("idle");
  if (text == "age") return std::string("age");
  if (text == "idle-desc" || text == "idle desc") return std::string("idle desc");
  if (text == "age-desc" || text == "age desc") return std::string("age desc");
  return absl::InvalidArgumentError(
      absl::StrCat("--order-by: ", QuoteForMessage(value),
                   " is not an order; use id, idle, idle-desc, age or age-desc"));
}

std::string DescribeTaskFilter(const v1::TaskFilter& filter) {
  std::vector<std::string> parts;
  if (filter.states_size() > 0) {
    std::vector<std::string> states;
    for (int state : filter.states()) {
      states.push_back(StateFlagName(static_cast<v1::TaskState>(state)));
    }
    parts.push_back(absl::StrCat("--state ", absl::StrJoin(states, ",")));
  }
  if (!filter.peer().empty()) parts.push_back(absl::StrCat("--peer ", filter.peer()));
  if (filter.has_min_idle()) {
    parts.push_back(
        absl::StrCat("--idle-over ", absl::FormatDuration(DurationFromProto(filter.min_idle()))));
  }
  if (filter.has_min_age()) {
    parts.push_back(
        absl::StrCat("--age-over ", absl::FormatDuration(DurationFromProto(filter.min_age()))));
  }
  if (filter.min_bytes() > 0) parts.push_back(absl::StrCat("--min-bytes ", filter.min_bytes()));
  if (filter.has_max_bytes()) parts.push_back(absl::StrCat("--max-bytes ", filter.max_bytes()));
  if (filter.stuck_only()) parts.push_back("--stuck");
  if (parts.empty()) return "(every task)";
  return absl::StrJoin(parts, " ");
}

}  // namespace weft::cli
