// Address, ParseAddress, IsLoopbackAddress: the one parser of the addresses Weft's users write —
// "HOST:PORT", "[IPV6]:PORT" and "unix:PATH" — for weftd's configuration, its control gateway
// and weftctl's --target.
//
// Part of weft::base: any Weft component may include it. Every function takes arbitrary bytes
// (empty, huge, NUL or non-UTF-8 included) and never crashes. Thread-safe: no state.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace weft {

// Address: a parsed address.
struct Address {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  // kTcp: the host without brackets ("127.0.0.1", "::1", "localhost") and the port.
  std::string host{};
  std::uint16_t port = 0;
  // kUnix: the socket path ("unix:///abs/path", gRPC's URI form, gives "/abs/path").
  std::string unix_path{};
  // Whether the address is on this host: a unix socket, "localhost" (any case), an IPv4
  // literal in 127.0.0.0/8 or the IPv6 loopback literal. A name that merely starts with "127."
  // is not.
  bool loopback = false;

  friend bool operator==(const Address&, const Address&) = default;
};

// AddressRules: what ParseAddress accepts besides the syntax.
struct AddressRules {
  // Whether port 0 ("pick a free port", for listeners) is accepted.
  bool allow_port_zero = false;
};

// kAddressForms names the accepted forms, for messages.
inline constexpr char kAddressForms[] = "expected HOST:PORT, [IPV6]:PORT or unix:PATH";

// ParseAddress parses `text` (no surrounding whitespace allowed: callers strip what they
// tolerate): "HOST:PORT" with HOST a name or IPv4 literal of [A-Za-z0-9.-_], "[IPV6]:PORT", or
// "unix:PATH" (PATH non-empty, at most 107 bytes, no control byte; "unix://x" without a third
// slash is refused). PORT is decimal, 1-65535 (0 too with rules.allow_port_zero).
// INVALID_ARGUMENT otherwise, with a message that says only what is wrong, e.g. "missing port
// after ':'"; the caller says which address it was.
[[nodiscard]] absl::StatusOr<Address> ParseAddress(absl::string_view text,
                                                   const AddressRules& rules = {});

// IsLoopbackAddress is true when `address` parses (port 0 allowed) and is on this host (see
// Address::loopback), e.g. "127.0.0.1:7070", "[::1]:7070", "localhost:7070", "unix:/run/x".
bool IsLoopbackAddress(absl::string_view address);

}  // namespace weft
