// Endpoint: a numeric socket address, as the server reports peers and local addresses.
#pragma once

#include <cstdint>
#include <string>

namespace weft {

struct Endpoint {
  std::string address;     // Numeric host: "127.0.0.1" or "::1".
  std::uint16_t port = 0;  // Host byte order.

  // ToString renders "127.0.0.1:80" or "[::1]:80".
  std::string ToString() const;
};

}  // namespace weft
