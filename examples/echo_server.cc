// echo_server: a complete Weft server in a few lines — echoes every byte back (RFC 862).
//
//   echo_server [PORT]     (default 7007, on 127.0.0.1)
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "weft/server.h"

int main(int argc, char** argv) {
  // Block SIGINT/SIGTERM in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  weft::ServerOptions options;
  options.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 7007;
  options.handler = [](weft::Connection& connection, const weft::HandlerArgs&) {
    char buffer[16 * 1024];
    while (true) {
      absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
      if (!n.ok() || *n == 0) return;
      if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
    }
  };
  weft::Server server(std::move(options));
  if (absl::Status status = server.Run(); !status.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("echo_server: listening on 127.0.0.1:%u (Ctrl-C stops)\n", server.port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  return 0;
}
