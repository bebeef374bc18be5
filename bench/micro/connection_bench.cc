// Micro-benchmarks of Connection's per-message path: one 64-byte round trip over a loopback TCP
// connection, echoed by
//   RawEcho         a thread with blocking read() and send() on the accepted socket (the floor:
//                   what a hand-written thread-per-connection server does),
//   ConnectionEcho  a task whose handler echoes through weft::Connection::Read and WriteAll, on
//                   the threaded manager (manager:0) or a one-scheduler fiber manager (manager:1).
// The benchmark thread is the client (blocking send, then read). The round trip includes both
// sides' system calls and wake-ups; the difference to RawEcho is what Connection adds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <thread>

#include <benchmark/benchmark.h>

#include "absl/types/span.h"
#include "weft/connection.h"
#include "weft/fiber_task_manager.h"
#include "weft/task_manager.h"
#include "weft/threaded_task_manager.h"

namespace {

constexpr std::size_t kMessage = 64;

// SocketPair is a connected loopback TCP pair: `client` for the benchmark thread, `server` for
// the echoing side (which takes ownership of it). Both have TCP_NODELAY.
struct SocketPair {
  int client = -1;
  int server = -1;
};

bool MakeSocketPair(SocketPair* pair) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::listen(listener, 1) == 0 &&
                  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                  (pair->client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
                  ::connect(pair->client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  (pair->server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;
  ::close(listener);
  if (!ok) return false;
  const int one = 1;
  ::setsockopt(pair->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(pair->server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

// RoundTrips runs the benchmark loop as the client: send kMessage bytes, read them back.
void RoundTrips(benchmark::State& state, int fd) {
  std::array<char, kMessage> out{};
  std::array<char, kMessage> in{};
  for (auto _ : state) {
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      state.SkipWithError("send failed");
      break;
    }
    std::size_t got = 0;
    while (got < in.size()) {
      const ssize_t n = ::read(fd, in.data() + got, in.size() - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != in.size()) {
      state.SkipWithError("short echo");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawEcho(benchmark::State& state) {
  SocketPair pair;
  if (!MakeSocketPair(&pair)) {
    state.SkipWithError("cannot open a loopback connection");
    return;
  }
  std::thread echo([fd = pair.server] {
    char buffer[16 * 1024];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      if (::send(fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::close(fd);
  });
  RoundTrips(state, pair.client);
  ::close(pair.client);  // The echo thread reads end of stream and returns.
  echo.join();
}
BENCHMARK(BM_RawEcho);

void BM_ConnectionEcho(benchmark::State& state) {
  std::unique_ptr<weft::TaskManager> manager;
  if (state.range(0) == 1) {
    weft::FiberTaskManagerOptions options;
    options.threads = 1;
    manager = std::make_unique<weft::FiberTaskManager>(options);
  } else {
    manager = std::make_unique<weft::ThreadedTaskManager>();
  }
  SocketPair pair;
  if (!MakeSocketPair(&pair)) {
    state.SkipWithError("cannot open a loopback connection");
    return;
  }
  const absl::StatusOr<weft::TaskId> id = manager->AddTask([fd = pair.server] {
    weft::Connection connection(fd, weft::Endpoint{"client", 0}, weft::Endpoint{"server", 0});
    char buffer[16 * 1024];
    while (true) {
      const absl::StatusOr<std::size_t> n = connection.Read(absl::MakeSpan(buffer));
      if (!n.ok() || *n == 0) return;
      if (!connection.WriteAll(absl::string_view(buffer, *n)).ok()) return;
    }
  });
  if (!id.ok()) {
    state.SkipWithError("AddTask failed");
    ::close(pair.server);
  } else {
    RoundTrips(state, pair.client);
  }
  ::close(pair.client);  // The handler reads end of stream and returns.
  manager->StopAllTasks(absl::Seconds(5));
}
BENCHMARK(BM_ConnectionEcho)->Arg(0)->Arg(1)->ArgName("manager");

}  // namespace

BENCHMARK_MAIN();
