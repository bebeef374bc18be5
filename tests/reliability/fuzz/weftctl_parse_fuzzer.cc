// Fuzz target: weftctl's parsers of operator input (client-cli/parse.h).
//
// Beyond "never crashes": rejections are INVALID_ARGUMENT with a short printable message,
// accepted values respect their documented ranges, and what is accepted round-trips (a
// duration printed by Abseil, a target's own name, a number printed in decimal parse back to
// the same value).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client-cli/parse.h"
#include "weft/base/log.h"

namespace weft::cli {
namespace {

// CheckRejection: bad input gets INVALID_ARGUMENT and a message that is safe on a terminal and
// bounded whatever the input's size.
void CheckRejection(const absl::Status& status) {
  CHECK(absl::IsInvalidArgument(status)) << status;
  CHECK_LE(status.message().size(), 512u) << status;
  for (const char c : status.message()) {
    CHECK(c >= 0x20 && c < 0x7f) << "unprintable byte in message: " << status;
  }
}

void FuzzDuration(absl::string_view text) {
  const DurationLimits limits{.allow_zero = false, .max = absl::Hours(1)};
  const absl::StatusOr<absl::Duration> parsed = ParseDurationFlag("--timeout", text, limits);
  if (!parsed.ok()) return CheckRejection(parsed.status());
  CHECK_GT(*parsed, absl::ZeroDuration());
  CHECK_LE(*parsed, limits.max);
  const absl::StatusOr<absl::Duration> again =
      ParseDurationFlag("--timeout", absl::FormatDuration(*parsed), limits);
  CHECK(again.ok() && *again == *parsed) << absl::FormatDuration(*parsed);
}

void FuzzTarget(absl::string_view text) {
  const absl::StatusOr<Target> parsed = ParseTarget(text);
  if (!parsed.ok()) return CheckRejection(parsed.status());
  CHECK(!parsed->name.empty());
  CHECK(!parsed->channel_target.empty());
  const absl::StatusOr<Target> again = ParseTarget(parsed->name);
  CHECK(again.ok() && *again == *parsed) << parsed->name;
}

void FuzzTargetList(absl::string_view text) {
  const std::vector<std::string> values = absl::StrSplit(text, '\n');
  const absl::StatusOr<std::vector<Target>> parsed = ParseTargetList(values);
  if (!parsed.ok()) return CheckRejection(parsed.status());
  CHECK(!parsed->empty());
  for (std::size_t i = 0; i < parsed->size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) CHECK((*parsed)[i].name != (*parsed)[j].name);
  }
}

void FuzzNumbers(absl::string_view text) {
  const absl::StatusOr<std::uint64_t> id = ParseTaskId(text);
  if (id.ok()) {
    CHECK_GE(*id, 1u);
    const absl::StatusOr<std::uint64_t> again = ParseTaskId(absl::StrCat(*id));
    CHECK(again.ok() && *again == *id);
  } else {
    CheckRejection(id.status());
  }
  const absl::StatusOr<std::uint32_t> count = ParseCount("--max-connections", text);
  if (count.ok()) {
    const absl::StatusOr<std::uint32_t> again =
        ParseCount("--max-connections", absl::StrCat(*count));
    CHECK(again.ok() && *again == *count);
  } else {
    CheckRejection(count.status());
  }
}

}  // namespace
}  // namespace weft::cli

// The first byte picks the parser, the rest is its input.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: weft::cli::FuzzDuration(text); break;
    case 1: weft::cli::FuzzTarget(text); break;
    case 2: weft::cli::FuzzTargetList(text); break;
    default: weft::cli::FuzzNumbers(text); break;
  }
  return 0;
}
