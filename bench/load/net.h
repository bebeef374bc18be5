// Loopback-only socket helpers for the load generator: target parsing (which refuses anything
// that is not 127.0.0.0/8 or ::1), a pool of 127.0.0.x source addresses that grows when
// ephemeral ports run short, and non-blocking connect.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace weft::bench {

// SocketAddress: a numeric IPv4 or IPv6 socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  // ToString renders "127.0.0.1:80" or "[::1]:80".
  std::string ToString() const;
};

// ParseLoopbackTarget parses "HOST:PORT" or "[::1]:PORT" (HOST numeric, or "localhost" for
// 127.0.0.1). Returns INVALID_ARGUMENT for a malformed address, a zero port, or any address
// outside 127.0.0.0/8 and ::1: this tool only ever loads the local machine.
absl::StatusOr<SocketAddress> ParseLoopbackTarget(const std::string& text);

// SourcePool: the local addresses connections are bound to before connect. For an IPv4 target
// it starts with `initial` addresses 127.0.0.1..127.0.0.initial and grows by one (up to
// 127.0.0.250) each time Grow() is called, which callers do on EADDRNOTAVAIL (no ephemeral port
// left for that source). With a single 127.0.0.1 source nothing is bound (the kernel chooses).
// For ::1 there is only one source. Thread-compatible.
class SourcePool {
 public:
  SourcePool(const SocketAddress& target, int initial);

  // Next returns the source for the next connection (round robin), or nullptr for "no bind".
  const SocketAddress* Next();
  // Grow adds a source address; returns false when none is left to add.
  bool Grow();
  int size() const { return static_cast<int>(sources_.size()); }

 private:
  bool ipv6_;
  std::vector<SocketAddress> sources_;
  std::size_t next_ = 0;
};

// ConnectResult: a socket whose non-blocking connect has started (or finished), or the errno
// that prevented it.
struct ConnectResult {
  int fd = -1;             // Owned by the caller when error == 0.
  bool connected = false;  // connect() completed at once (no EINPROGRESS).
  int error = 0;           // errno of socket/bind/connect; 0 on success.
};

// StartConnect creates a non-blocking, close-on-exec TCP socket, binds it to `source` (if not
// null; with IP_BIND_ADDRESS_NO_PORT so the port is chosen per 4-tuple at connect time) and
// starts connecting to `target`. On error nothing is left open. Hot path: no allocation.
ConnectResult StartConnect(const SocketAddress& target, const SocketAddress* source);

// SocketError returns SO_ERROR of `fd` (0 when the connection is fine).
int SocketError(int fd);

// FreeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0
// and released), for servers that cannot listen on port 0 and report it.
absl::StatusOr<std::uint16_t> FreeLoopbackPort();

// RaiseFdLimit raises RLIMIT_NOFILE's soft limit to the hard limit and returns the new soft
// limit (the hard limit cannot be raised without privilege; it is not attempted).
std::uint64_t RaiseFdLimit();

}  // namespace weft::bench
