// Shared by the baseline servers: flag parsing and a listening socket, set up exactly as Weft
// sets up its own (SO_REUSEADDR, backlog 1024) so the comparison is about the serving model.
#pragma once

#include <cstdint>
#include <string>

namespace weft::bench {

struct ListenFlags {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
};

// ParseListenFlags reads --address and --port; prints usage and exits 2 on anything else.
ListenFlags ParseListenFlags(int argc, char** argv, const char* usage);

// OpenListener binds and listens (non-blocking if asked) and returns the descriptor, printing
// "<name> ready port=N" on stdout once listening; exits 1 with a message on failure.
int OpenListener(const ListenFlags& flags, bool non_blocking, const char* name);

}  // namespace weft::bench
