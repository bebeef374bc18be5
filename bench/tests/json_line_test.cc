// The bench record: flat JSON lines that carry any string unchanged and read back as written.
#include "bench/common/json_line.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/testing/json_samples.h"

namespace weft::bench {
namespace {

TEST(JsonLineTest, EveryStringSurvivesTheRoundTrip) {
  for (const std::string& sample : weft::testing::JsonRoundTripSamples()) {
    JsonLine line;
    line.Set("label", sample);
    line.Set(sample, "as a key");
    const std::string text = line.ToString();
    ASSERT_EQ(text.find('\n'), std::string::npos) << text;
    absl::StatusOr<JsonRecord> record = ParseJsonLine(text);
    ASSERT_TRUE(record.ok()) << record.status() << " for " << text;
    EXPECT_EQ(record->String("label"), sample);
    EXPECT_EQ(record->String(sample), "as a key");
  }
}

TEST(JsonLineTest, EscapesDecodeToUtf8) {
  for (const auto& [escaped, utf8] : weft::testing::JsonEscapeSamples()) {
    absl::StatusOr<JsonRecord> record = ParseJsonLine("{\"v\":" + escaped + "}");
    ASSERT_TRUE(record.ok()) << record.status() << " for " << escaped;
    EXPECT_EQ(record->String("v"), utf8) << escaped;
  }
}

TEST(JsonLineTest, NumbersAndBooleansReadBack) {
  JsonLine line;
  line.Set("rate", 1234.5678);
  line.Set("count", std::uint64_t{18446744073709551615u});
  line.Set("neg", -3);
  line.SetBool("ok", true);
  line.Set("nan", std::nan(""));
  line.Set("count", std::uint64_t{7});  // Replaces, keeping the position.
  EXPECT_EQ(line.ToString(), R"({"rate":1234.57,"count":7,"neg":-3,"ok":true,"nan":null})");
  absl::StatusOr<JsonRecord> record = ParseJsonLine(line.ToString());
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->Number("rate"), 1234.57);
  EXPECT_EQ(record->Number("count"), 7.0);
  EXPECT_EQ(record->String("count"), "7");
  EXPECT_EQ(record->Number("ok"), 1.0);
  EXPECT_EQ(record->Number("nan"), std::nullopt);
  EXPECT_EQ(record->Number("absent"), std::nullopt);
}

TEST(JsonLineTest, RejectsWhatIsNotAFlatObject) {
  for (const char* text :
       {"", "[1]", "{\"a\":[1]}", "{\"a\":{}}", "{\"a\":1", "{\"a\":\"\\u12\"}"}) {
    EXPECT_EQ(ParseJsonLine(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace weft::bench
