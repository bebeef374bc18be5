#include "bench/load/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "weft/base/address.h"

namespace weft::bench {
namespace {

SocketAddress Ipv4(std::uint32_t host_order_address, std::uint16_t port) {
  SocketAddress address;
  auto* in = reinterpret_cast<sockaddr_in*>(&address.storage);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(host_order_address);
  in->sin_port = htons(port);
  address.length = sizeof(sockaddr_in);
  return address;
}

SocketAddress Ipv6Loopback(std::uint16_t port) {
  SocketAddress address;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_addr = in6addr_loopback;
  in6->sin6_port = htons(port);
  address.length = sizeof(sockaddr_in6);
  return address;
}

constexpr std::uint32_t kLoopbackNet = 127u << 24;
constexpr int kMaxSources = 250;

}  // namespace

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return absl::StrCat(text, ":", ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  return absl::StrCat("[", text, "]:", ntohs(in6->sin6_port));
}

absl::StatusOr<SocketAddress> ParseLoopbackTarget(const std::string& text) {
  absl::StatusOr<Address> address = ParseAddress(text);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad target \"", text, "\": ", address.status().message()));
  }
  if (address->kind != Address::Kind::kTcp) {
    return absl::InvalidArgumentError(absl::StrCat("bad target \"", text, "\"; want HOST:PORT"));
  }
  if (!address->loopback) {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing non-loopback target ", address->host, ": only 127.0.0.0/8 and ::1"));
  }
  // A loopback TCP address: "localhost", an IPv4 literal in 127.0.0.0/8, or IPv6's loopback.
  if (absl::EqualsIgnoreCase(address->host, "localhost")) {
    return Ipv4(kLoopbackNet | 1, address->port);
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, address->host.c_str(), &v4) == 1) {
    return Ipv4(ntohl(v4.s_addr), address->port);
  }
  return Ipv6Loopback(address->port);
}

SourcePool::SourcePool(const SocketAddress& target, int initial)
    : ipv6_(target.family() == AF_INET6) {
  if (ipv6_) {
    sources_.push_back(Ipv6Loopback(0));
    return;
  }
  if (initial < 1) initial = 1;
  if (initial > kMaxSources) initial = kMaxSources;
  for (int i = 1; i <= initial; ++i) sources_.push_back(Ipv4(kLoopbackNet | i, 0));
}

const SocketAddress* SourcePool::Next() {
  if (sources_.size() == 1) return nullptr;
  const SocketAddress* source = &sources_[next_];
  if (++next_ == sources_.size()) next_ = 0;
  return source;
}

bool SourcePool::Grow() {
  if (ipv6_ || sources_.size() >= static_cast<std::size_t>(kMaxSources)) return false;
  sources_.push_back(Ipv4(kLoopbackNet | static_cast<std::uint32_t>(sources_.size() + 1), 0));
  return true;
}

ConnectResult StartConnect(const SocketAddress& target, const SocketAddress* source) {
  ConnectResult result;
  const int fd = ::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    result.error = errno;
    return result;
  }
  if (source != nullptr) {
    const int one = 1;
    // Without this, bind() would pick the port without knowing the destination and ephemeral
    // ports would run out per source address rather than per 4-tuple.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, source->get(), source->length) != 0) {
      result.error = errno;
      ::close(fd);
      return result;
    }
  }
  if (::connect(fd, target.get(), target.length) == 0) {
    result.fd = fd;
    result.connected = true;
    return result;
  }
  if (errno == EINPROGRESS) {
    result.fd = fd;
    return result;
  }
  result.error = errno;
  ::close(fd);
  return result;
}

int SocketError(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

absl::StatusOr<std::uint16_t> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  SocketAddress any = Ipv4(kLoopbackNet | 1, 0);
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  if (::bind(fd, any.get(), any.length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, "bind");
  }
  ::close(fd);
  return ntohs(bound.sin_port);
}

std::uint64_t RaiseFdLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

}  // namespace weft::bench
