#include "client-cli/parse.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseDurationFlagTest, AcceptsAbslDurations) {
  EXPECT_EQ(*ParseDurationFlag("--drain", "500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDurationFlag("--drain", "30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDurationFlag("--drain", "5m"), absl::Minutes(5));
  EXPECT_EQ(*ParseDurationFlag("--drain", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("--drain", "1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDurationFlag("--drain", " 2s\t"), absl::Seconds(2));
  EXPECT_EQ(*ParseDurationFlag("--drain", "0"), absl::ZeroDuration());
}

TEST(ParseDurationFlagTest, RejectsGarbageWithAMessageNamingTheFlagAndTheInput) {
  for (const char* bad : {"", "abc", "30", "1.5", "s", "5 m", "5mm", "--1s", "1s2"}) {
    absl::StatusOr<absl::Duration> parsed = ParseDurationFlag("--drain", bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--drain")) << bad;
  }
  EXPECT_THAT(ParseDurationFlag("--drain", "abc").status().message(),
              HasSubstr("\"abc\" is not a duration"));
}

TEST(ParseDurationFlagTest, RejectsNegativeAndInfiniteDurations) {
  EXPECT_THAT(ParseDurationFlag("--timeout", "-1s").status().message(),
              HasSubstr("must not be negative"));
  EXPECT_THAT(ParseDurationFlag("--timeout", "inf").status().message(), HasSubstr("finite"));
  EXPECT_THAT(ParseDurationFlag("--timeout", "-inf").status().message(), HasSubstr("finite"));
}

TEST(ParseDurationFlagTest, AppliesTheLimits) {
  const DurationLimits positive{.allow_zero = false, .max = absl::Hours(1)};
  EXPECT_THAT(ParseDurationFlag("--interval", "0s", positive).status().message(),
              HasSubstr("above 0"));
  EXPECT_TRUE(ParseDurationFlag("--interval", "1h", positive).ok());
  EXPECT_THAT(ParseDurationFlag("--interval", "61m", positive).status().message(),
              HasSubstr("at most 1h"));
}

TEST(ParseDurationFlagTest, EscapesAndShortensHostileInputInMessages) {
  const std::string hostile = absl::StrCat("\x1b[2J", std::string(1000, 'x'), "\n");
  const absl::Status status = ParseDurationFlag("--drain", hostile).status();
  EXPECT_THAT(status.message(), Not(HasSubstr("\x1b")));
  EXPECT_THAT(status.message(), HasSubstr("\\x1b[2J"));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(ParseTargetTest, ParsesHostPort) {
  absl::StatusOr<Target> target = ParseTarget("127.0.0.1:7070");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->name, "127.0.0.1:7070");
  EXPECT_EQ(target->channel_target, "127.0.0.1:7070");
  EXPECT_TRUE(target->local);

  target = ParseTarget(" weft-1.example.com:443 ");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->name, "weft-1.example.com:443");
  EXPECT_FALSE(target->local);

  EXPECT_TRUE(ParseTarget("localhost:1")->local);
  EXPECT_TRUE(ParseTarget("LOCALHOST:65535")->local);
  EXPECT_FALSE(ParseTarget("10.0.0.1:7070")->local);
  // A name is local only when it is "localhost": "127.x" must be an IPv4 literal.
  EXPECT_TRUE(ParseTarget("127.9.9.9:1")->local);
  EXPECT_FALSE(ParseTarget("127.evil.example:7070")->local);
}

TEST(ParseTargetTest, ParsesBracketedIpv6) {
  absl::StatusOr<Target> target = ParseTarget("[::1]:7070");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->channel_target, "[::1]:7070");
  EXPECT_TRUE(target->local);
  target = ParseTarget("[2001:db8::1]:80");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_FALSE(target->local);
  EXPECT_TRUE(ParseTarget("[fe80::1%eth0]:80").ok());
}

TEST(ParseTargetTest, ParsesUnixSockets) {
  for (const char* text : {"unix:/run/weftd.sock", "unix:///run/weftd.sock", "unix:weftd.sock"}) {
    absl::StatusOr<Target> target = ParseTarget(text);
    ASSERT_TRUE(target.ok()) << text << ": " << target.status();
    EXPECT_EQ(target->channel_target, text);
    EXPECT_TRUE(target->local);
  }
}

TEST(ParseTargetTest, RejectsMalformedTargets) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty target"},
      {"127.0.0.1", "missing port"},
      {"127.0.0.1:", "missing port"},
      {":7070", "missing host"},
      {"127.0.0.1:0", "1 to 65535"},
      {"127.0.0.1:65536", "1 to 65535"},
      {"127.0.0.1:+80", "1 to 65535"},
      {"127.0.0.1:080x", "1 to 65535"},
      {"::1:7070", "in brackets"},
      {"[::1]", "missing :PORT"},
      {"[::1]7070", "missing :PORT"},
      {"[::1:7070", "missing ']'"},
      {"[]:7070", "IPv6"},
      {"[127.0.0.1]:7070", "IPv6"},
      {"unix:", "missing socket path"},
      {"unix:/a\nb", "control character"},
      {"unix://relative", "absolute"},
      {absl::StrCat("unix:/", std::string(200, 'a')), "longer than"},
      {"dns:///example.com:443", "expected HOST:PORT"},
      {"exa mple.com:1", "bad character"},
      {"host/path:1", "bad character"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<Target> target = ParseTarget(text);
    ASSERT_FALSE(target.ok()) << text;
    EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(target.status().message(), HasSubstr(why)) << text;
  }
}

TEST(ParseTargetListTest, SplitsCommasAcrossRepeatedValuesAndDropsDuplicates) {
  absl::StatusOr<std::vector<Target>> targets =
      ParseTargetList({"127.0.0.1:1, 127.0.0.1:2", "unix:/s", "127.0.0.1:1"});
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 3u);
  EXPECT_EQ((*targets)[0].name, "127.0.0.1:1");
  EXPECT_EQ((*targets)[1].name, "127.0.0.1:2");
  EXPECT_EQ((*targets)[2].name, "unix:/s");
}

TEST(ParseTargetListTest, RejectsEmptyElementsAndEmptyLists) {
  EXPECT_THAT(ParseTargetList({"127.0.0.1:1,,127.0.0.1:2"}).status().message(),
              HasSubstr("empty target"));
  EXPECT_THAT(ParseTargetList({"127.0.0.1:1,"}).status().message(), HasSubstr("empty target"));
  EXPECT_THAT(ParseTargetList({""}).status().message(), HasSubstr("empty target"));
  EXPECT_THAT(ParseTargetList({}).status().message(), HasSubstr("no target"));
  EXPECT_THAT(ParseTargetList({"127.0.0.1:1,nope"}).status().message(),
              HasSubstr("bad target \"nope\""));
}

TEST(ParseTaskIdTest, AcceptsOneToUint64Max) {
  EXPECT_EQ(*ParseTaskId("1"), 1u);
  EXPECT_EQ(*ParseTaskId("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*ParseTaskId("007"), 7u);
  for (const char* bad : {"0", "", "-1", "+1", " 1", "1a", "0x10", "18446744073709551616",
                          "99999999999999999999999"}) {
    absl::StatusOr<std::uint64_t> id = ParseTaskId(bad);
    ASSERT_FALSE(id.ok()) << bad;
    EXPECT_THAT(id.status().message(), HasSubstr("bad task id")) << bad;
  }
}

TEST(ParseCountTest, AcceptsZeroToUint32Max) {
  EXPECT_EQ(*ParseCount("--max-connections", "0"), 0u);
  EXPECT_EQ(*ParseCount("--max-connections", "4294967295"), UINT32_MAX);
  for (const char* bad : {"", "-1", "4294967296", "1e3", "0x10", "1 "}) {
    absl::StatusOr<std::uint32_t> count = ParseCount("--max-connections", bad);
    ASSERT_FALSE(count.ok()) << bad;
    EXPECT_THAT(count.status().message(), HasSubstr("--max-connections")) << bad;
  }
}

TEST(QuoteForMessageTest, EscapesAndCuts) {
  EXPECT_EQ(QuoteForMessage("web"), "\"web\"");
  EXPECT_EQ(QuoteForMessage("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(QuoteForMessage(std::string(100, 'x')),
            absl::StrCat("\"", std::string(64, 'x'), "...\""));
}

// A smoke test of what issue 7 will fuzz properly: arbitrary bytes never crash the parsers.
TEST(ParsersTest, SurviveArbitraryBytes) {
  std::mt19937 random(7);
  constexpr char kAlphabet[] = "0123456789:[]unix/.,-+smhd \x00\xff\n";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  for (int i = 0; i < 20000; ++i) {
    std::string input(random() % 40, '\0');
    for (char& c : input) {
      c = (random() % 4 == 0) ? static_cast<char>(random() % 256)
                              : alphabet[random() % alphabet.size()];
    }
    (void)ParseDurationFlag("--x", input);
    (void)ParseTarget(input);
    (void)ParseTargetList({input, input});
    (void)ParseTaskId(input);
    (void)ParseCount("--x", input);
    (void)QuoteForMessage(input);
  }
}

}  // namespace
}  // namespace weft::cli
