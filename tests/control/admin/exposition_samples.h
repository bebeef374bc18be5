// Reading samples back out of a rendered exposition, for the admin metrics tests.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace weft::control::admin::testing {

// SampleValue returns the value of the sample `series` (its name and labels exactly as
// rendered, e.g. `m{server="a"}`) in `text`, or nullopt if no line has it.
std::optional<double> SampleValue(absl::string_view text, absl::string_view series);

}  // namespace weft::control::admin::testing
