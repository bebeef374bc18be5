#include "weft/base/address.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

TEST(ParseAddressTest, AcceptsHostPortIpv6AndUnixForms) {
  absl::StatusOr<Address> a = ParseAddress("127.0.0.1:7070");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kTcp);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7070);
  EXPECT_TRUE(a->loopback);

  a = ParseAddress("[::1]:8080");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_TRUE(a->loopback);

  a = ParseAddress("unix:/run/weftd.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->unix_path, "/run/weftd.sock");
  EXPECT_TRUE(a->loopback);

  a = ParseAddress("unix:///run/weftd.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->unix_path, "/run/weftd.sock");
  EXPECT_TRUE(ParseAddress("unix:relative.sock").ok());
  EXPECT_TRUE(ParseAddress("example.com:65535").ok());
  EXPECT_TRUE(ParseAddress("[fe80::1%eth0]:1").ok());
}

TEST(ParseAddressTest, PortZeroOnlyWhenAllowed) {
  EXPECT_THAT(ParseAddress("127.0.0.1:0").status().message(),
              HasSubstr("the port must be a number from 1 to 65535"));
  absl::StatusOr<Address> a = ParseAddress("0.0.0.0:0", {.allow_port_zero = true});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->port, 0);
  EXPECT_FALSE(a->loopback);
}

TEST(ParseAddressTest, SaysWhatIsWrong) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"127.0.0.1", "missing port"},
      {"127.0.0.1:", "missing port after ':'"},
      {":7070", "missing host before ':'"},
      {"::1:7070", "write an IPv6 address in brackets"},
      {"dns:///x:1", "expected HOST:PORT"},
      {"[::1]", "missing :PORT after the IPv6 address"},
      {"[::1:7070", "missing ']'"},
      {"[127.0.0.1]:1", "brackets must hold an IPv6 address"},
      {"host:99999", "the port must be a number"},
      {"host:+80", "the port must be a number"},
      {"ho st:80", "bad character in host name"},
      {"unix:", "missing socket path"},
      {"unix://host/x", "use unix:/absolute/path"},
      {"unix:/a\nb", "control character"},
      {"unix:/" + std::string(200, 'a'), "longer than 107 bytes"},
      {std::string(5000, 'a'), "too long"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<Address> a = ParseAddress(text);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(a.status().message(), HasSubstr(why)) << text;
  }
}

TEST(IsLoopbackAddressTest, KnowsLoopbackLiteralsNamesAndSockets) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3:1"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:0"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7070"));
  EXPECT_TRUE(IsLoopbackAddress("[0:0::1]:7070"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7070"));
  EXPECT_TRUE(IsLoopbackAddress("LocalHost:7070"));
  EXPECT_TRUE(IsLoopbackAddress("unix:/run/weft.sock"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7070"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7070"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:7070"));
  EXPECT_FALSE(IsLoopbackAddress("example.com:7070"));
  EXPECT_FALSE(IsLoopbackAddress("127.evil.example:7070"));
  EXPECT_FALSE(IsLoopbackAddress("localhost"));
}

}  // namespace
}  // namespace weft
