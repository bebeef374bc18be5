#include "bench/servers/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace weft::bench {

ListenFlags ParseListenFlags(int argc, char** argv, const char* usage) {
  ListenFlags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--address" && i + 1 < argc) {
      flags.address = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      flags.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    } else {
      std::cerr << usage;
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  return flags;
}

int OpenListener(const ListenFlags& flags, bool non_blocking, const char* name) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, flags.address.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(flags.port);
    length = sizeof *in;
  } else if (::inet_pton(AF_INET6, flags.address.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(flags.port);
    length = sizeof *in6;
  } else {
    std::cerr << name << ": bad address " << flags.address << "\n";
    std::exit(2);
  }
  const int fd = ::socket(storage.ss_family,
                          SOCK_STREAM | SOCK_CLOEXEC | (non_blocking ? SOCK_NONBLOCK : 0), 0);
  const int one = 1;
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || ::listen(fd, 1024) != 0) {
    std::cerr << name << ": cannot listen on " << flags.address << ":" << flags.port << ": "
              << std::strerror(errno) << "\n";
    std::exit(1);
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  const std::uint16_t port = bound.ss_family == AF_INET
                                 ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  std::cout << name << " ready port=" << port << std::endl;
  return fd;
}

}  // namespace weft::bench
