// JsonSamples: strings every JSON writer and reader of Weft must carry unchanged — control
// characters, quotes, backslashes and UTF-8 of every length, astral plane included — and
// escaped JSON texts with what they must decode to.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace weft::testing {

// JsonRoundTripSamples: valid UTF-8 strings, among them each of U+0000-U+001F alone, all of
// them together, `"` and `\`, 2-, 3- and 4-byte sequences, U+FFFF, U+10FFFF and U+2028.
std::vector<std::string> JsonRoundTripSamples();

// JsonEscapeSamples: pairs of a JSON string literal written with \uXXXX escapes (surrogate pairs
// for the astral plane) and the UTF-8 it decodes to.
std::vector<std::pair<std::string, std::string>> JsonEscapeSamples();

}  // namespace weft::testing
