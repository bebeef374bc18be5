// Micro-benchmarks of the task managers, to find where a connection's fixed costs go:
//   AddTaskToStart   AddTask → the thunk running (thread creation or hand-off to a worker)
//   AddTaskBatch     1000 no-op tasks added and all finished (throughput)
//   StopTask         StopTask of a task blocked in Connection::Read → returned
// with a bare std::thread create→run as the floor for the threaded manager.
// Latencies use manual timing of exactly the interval named.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include <benchmark/benchmark.h>

#include "absl/types/span.h"
#include "weft/connection.h"
#include "weft/pool_task_manager.h"
#include "weft/task_manager.h"
#include "weft/threaded_task_manager.h"

namespace {

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<weft::TaskManager> MakeManager(bool pool) {
  if (pool) return std::make_unique<weft::PoolTaskManager>(weft::PoolTaskManagerOptions{.threads = 4});
  return std::make_unique<weft::ThreadedTaskManager>();
}

// WaitForValue blocks (futex, no spinning) until `value` is no longer 0, then returns it.
std::int64_t WaitForValue(std::atomic<std::int64_t>& value) {
  value.wait(0);
  return value.load();
}

void BM_RawThreadStart(benchmark::State& state) {
  for (auto _ : state) {
    std::atomic<std::int64_t> started{0};
    const std::int64_t t0 = NowNs();
    std::thread thread([&] {
      started = NowNs();
      started.notify_one();
    });
    const std::int64_t t1 = WaitForValue(started);
    state.SetIterationTime(static_cast<double>(t1 - t0) / 1e9);
    thread.join();
  }
}
BENCHMARK(BM_RawThreadStart)->UseManualTime();

void BM_AddTaskToStart(benchmark::State& state) {
  std::unique_ptr<weft::TaskManager> manager = MakeManager(state.range(0) == 1);
  for (auto _ : state) {
    // Shared: the thunk may still be notifying after this iteration has moved on.
    auto started = std::make_shared<std::atomic<std::int64_t>>(0);
    const std::int64_t t0 = NowNs();
    const absl::StatusOr<weft::TaskId> id = manager->AddTask([started] {
      *started = NowNs();
      started->notify_one();
    });
    if (!id.ok()) {
      state.SkipWithError("AddTask failed");
      break;
    }
    const std::int64_t t1 = WaitForValue(*started);
    state.SetIterationTime(static_cast<double>(t1 - t0) / 1e9);
  }
  manager->StopAllTasks(absl::Seconds(1));
}
BENCHMARK(BM_AddTaskToStart)->Arg(0)->Arg(1)->ArgName("pool")->UseManualTime();

void BM_AddTaskBatch(benchmark::State& state) {
  constexpr int kBatch = 1000;
  std::unique_ptr<weft::TaskManager> manager = MakeManager(state.range(0) == 1);
  for (auto _ : state) {
    auto finished = std::make_shared<std::atomic<std::int64_t>>(0);
    for (int i = 0; i < kBatch; ++i) {
      while (true) {
        const absl::StatusOr<weft::TaskId> id = manager->AddTask([finished] {
          if (finished->fetch_add(1) + 1 == kBatch) finished->notify_one();
        });
        if (id.ok()) break;
        // Queue full (pool: 1024 queued): let the workers catch up.
        std::this_thread::yield();
      }
    }
    for (std::int64_t seen = finished->load(); seen < kBatch; seen = finished->load()) {
      finished->wait(seen);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  manager->StopAllTasks(absl::Seconds(1));
}
BENCHMARK(BM_AddTaskBatch)->Arg(0)->Arg(1)->ArgName("pool")->Unit(benchmark::kMillisecond);

void BM_StopTask(benchmark::State& state) {
  std::unique_ptr<weft::TaskManager> manager = MakeManager(state.range(0) == 1);
  for (auto _ : state) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      state.SkipWithError("socketpair failed");
      break;
    }
    std::atomic<std::int64_t> started{0};
    const absl::StatusOr<weft::TaskId> id = manager->AddTask([&started, fd = fds[0]] {
      weft::Connection connection(fd, weft::Endpoint{"peer", 0}, weft::Endpoint{"local", 0});
      started = 1;
      started.notify_one();
      char buffer[64];
      // Blocks until the stop wakes it with CANCELLED.
      (void)connection.Read(absl::MakeSpan(buffer));
    });
    if (!id.ok()) {
      state.SkipWithError("AddTask failed");
      break;
    }
    WaitForValue(started);
    const std::int64_t t0 = NowNs();
    manager->StopTask(*id, absl::Seconds(5));
    state.SetIterationTime(static_cast<double>(NowNs() - t0) / 1e9);
    ::close(fds[1]);
  }
  manager->StopAllTasks(absl::Seconds(1));
}
BENCHMARK(BM_StopTask)->Arg(0)->Arg(1)->ArgName("pool")->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
