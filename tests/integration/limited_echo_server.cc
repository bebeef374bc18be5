// limited_echo_server: an echo server that runs under a small descriptor limit, so tests can
// drive it into EMFILE.
//
//   limited_echo_server NOFILE_SOFT_LIMIT
//
// Listens on 127.0.0.1 port 0, writes the bound port as one line to stdout, serves until
// SIGTERM or SIGINT, then stops and exits 0. Server counters go to stderr on exit.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "weft/handlers/handler_registry.h"
#include "weft/server.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s NOFILE_SOFT_LIMIT\n", argv[0]);
    return 2;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::perror("getrlimit");
    return 1;
  }
  limit.rlim_cur = std::strtoul(argv[1], nullptr, 10);
  if (limit.rlim_cur == 0 || limit.rlim_cur > limit.rlim_max) {
    std::fprintf(stderr, "limited_echo_server: bad limit %s\n", argv[1]);
    return 2;
  }
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::perror("setrlimit");
    return 1;
  }

  // Block SIGINT/SIGTERM in every thread (threads inherit the mask); main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  weft::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  // The same echo handler weftd serves.
  absl::StatusOr<weft::Handler> echo = weft::BuiltinHandlers().Create("echo", {});
  if (!echo.ok()) {
    std::fprintf(stderr, "limited_echo_server: %s\n", echo.status().ToString().c_str());
    return 1;
  }
  options.handler = *std::move(echo);
  weft::Server server(std::move(options));
  if (absl::Status status = server.Run(); !status.ok()) {
    std::fprintf(stderr, "limited_echo_server: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("%u\n", server.port());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  const weft::StopReport report = server.Stop();
  const weft::ServerStats stats = server.stats();
  std::fprintf(stderr,
               "limited_echo_server: accepted %llu, refused %llu, failed %llu; stop: %zu "
               "cooperative, %zu forced, %zu dropped\n",
               static_cast<unsigned long long>(stats.accepted),
               static_cast<unsigned long long>(stats.refused),
               static_cast<unsigned long long>(stats.failed), report.cooperative, report.forced,
               report.dropped);
  return 0;
}
