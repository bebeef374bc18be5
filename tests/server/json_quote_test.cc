#include "weft/json_quote.h"

#include <string>

#include <gtest/gtest.h>

namespace weft {
namespace {

TEST(JsonQuoteTest, EscapesWhatJsonRequiresAndKeepsValidUtf8) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\r\x01\x7f"), "\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u007f\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
}

TEST(JsonQuoteTest, BytesThatAreNotValidUtf8AreEscapedSoTheResultIsValidJson) {
  EXPECT_EQ(JsonQuote("bad\xff\xc3"), "\"bad\\u00ff\\u00c3\"");
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"");  // A surrogate.
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\u00c0\\u00af\"");            // An overlong '/'.
  EXPECT_EQ(JsonQuote(std::string("\0", 1)), "\"\\u0000\"");
}

}  // namespace
}  // namespace weft
