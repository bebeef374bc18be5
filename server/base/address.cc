#include "weft/base/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace weft {
namespace {

// Inputs longer than this are refused before any real parsing: no address comes near it, and
// it bounds the work for fuzzed input.
constexpr std::size_t kMaxAddressBytes = 4096;
// sizeof(sockaddr_un::sun_path) - 1 on Linux.
constexpr std::size_t kMaxUnixPathBytes = 107;
constexpr std::size_t kMaxHostBytes = 253;

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsHostByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool IsIpv6LiteralByte(char c) {
  // Hex digits, separators, an embedded IPv4 part and a "%zone" suffix.
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '%' ||
         c == '-' || c == '_';
}

bool HasControlByte(absl::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

bool IsLoopbackHost(const std::string& host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

absl::StatusOr<std::uint16_t> ParsePort(absl::string_view port, const AddressRules& rules) {
  std::uint32_t value = 0;
  if (port.empty()) return absl::InvalidArgumentError("missing port after ':'");
  if (port.size() > 5 || !AllDigits(port) || !absl::SimpleAtoi(port, &value) ||
      (value == 0 && !rules.allow_port_zero) || value > 65535) {
    return absl::InvalidArgumentError(rules.allow_port_zero
                                          ? "the port must be a number from 0 to 65535"
                                          : "the port must be a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

absl::StatusOr<Address> ParseUnix(absl::string_view path) {
  // gRPC's URI form "unix:///abs/path" names the absolute path "/abs/path".
  if (absl::ConsumePrefix(&path, "//") && !absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(
        "use unix:/absolute/path, unix:///absolute/path or unix:relative/path");
  }
  if (path.empty()) return absl::InvalidArgumentError("missing socket path after unix:");
  if (HasControlByte(path)) return absl::InvalidArgumentError("control character in socket path");
  if (path.size() > kMaxUnixPathBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path longer than ", kMaxUnixPathBytes, " bytes"));
  }
  return Address{.kind = Address::Kind::kUnix, .unix_path = std::string(path), .loopback = true};
}

}  // namespace

absl::StatusOr<Address> ParseAddress(absl::string_view text, const AddressRules& rules) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat("empty; ", kAddressForms));
  if (text.size() > kMaxAddressBytes) return absl::InvalidArgumentError("too long");
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "unix:")) return ParseUnix(rest);

  absl::string_view host;
  absl::string_view port;
  if (absl::ConsumePrefix(&rest, "[")) {
    const std::size_t close = rest.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("missing ']'");
    host = rest.substr(0, close);
    rest.remove_prefix(close + 1);
    if (host.empty() || host.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError("brackets must hold an IPv6 address, e.g. [::1]:7070");
    }
    for (char c : host) {
      if (!IsIpv6LiteralByte(c)) return absl::InvalidArgumentError("bad character in IPv6 address");
    }
    if (!absl::ConsumePrefix(&rest, ":")) {
      return absl::InvalidArgumentError("missing :PORT after the IPv6 address");
    }
    port = rest;
  } else {
    const std::size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing port; ", kAddressForms));
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      if (host.find('/') != absl::string_view::npos) {
        return absl::InvalidArgumentError(kAddressForms);  // Another URI scheme, e.g. dns:///...
      }
      return absl::InvalidArgumentError("write an IPv6 address in brackets, e.g. [::1]:7070");
    }
    if (host.empty()) return absl::InvalidArgumentError("missing host before ':'");
    if (host.size() > kMaxHostBytes) return absl::InvalidArgumentError("host name too long");
    for (char c : host) {
      if (!IsHostByte(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad character in host name; ", kAddressForms));
      }
    }
  }
  absl::StatusOr<std::uint16_t> parsed_port = ParsePort(port, rules);
  if (!parsed_port.ok()) return parsed_port.status();
  Address address{.kind = Address::Kind::kTcp, .host = std::string(host), .port = *parsed_port};
  address.loopback = IsLoopbackHost(address.host);
  return address;
}

bool IsLoopbackAddress(absl::string_view address) {
  absl::StatusOr<Address> parsed = ParseAddress(address, {.allow_port_zero = true});
  return parsed.ok() && parsed->loopback;
}

}  // namespace weft
