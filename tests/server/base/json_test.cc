#include "weft/base/json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/json_samples.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, EveryStringSurvivesDumpAndParse) {
  for (const std::string& sample : testing::JsonRoundTripSamples()) {
    Json object = Json::object();
    object["k\"\n" + sample] = sample;
    const std::string text = JsonDump(object);
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    absl::StatusOr<Json> parsed = JsonParse(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << " for " << text;
    EXPECT_EQ(*parsed, object) << text;
  }
}

TEST(JsonTest, ControlCharactersQuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(JsonDump("a\"b\\c\n\t\r\b\f"), R"("a\"b\\c\n\t\r\b\f")");
  EXPECT_EQ(JsonDump(std::string("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(JsonDump("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
}

TEST(JsonTest, EscapesDecodeToUtf8IncludingSurrogatePairs) {
  for (const auto& [escaped, utf8] : testing::JsonEscapeSamples()) {
    absl::StatusOr<Json> parsed = JsonParse(escaped);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << " for " << escaped;
    EXPECT_EQ(parsed->get<std::string>(), utf8) << escaped;
  }
}

TEST(JsonTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  EXPECT_EQ(JsonDump("bad\xff!"), "\"bad\xef\xbf\xbd!\"");
  EXPECT_EQ(JsonDump("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // A surrogate.
  EXPECT_TRUE(JsonParse(JsonDump("\xc0\xaf")).ok());                                // Overlong.
}

TEST(JsonTest, ObjectsKeepInsertionOrderAndDumpCompactly) {
  Json object = Json::object();
  object["z"] = 1;
  object["a"] = "x";
  object["m"] = Json::array({true, nullptr});
  EXPECT_EQ(JsonDump(object), R"({"z":1,"a":"x","m":[true,null]})");
}

TEST(JsonTest, MalformedTextIsInvalidArgument) {
  for (const char* text : {"", "{", "{\"a\":}", "\"\\ud83d\"", "\"\\uzzzz\"", "[1,]", "\"\x01\""}) {
    absl::StatusOr<Json> parsed = JsonParse(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr("bad JSON")) << text;
  }
}

}  // namespace
}  // namespace weft
