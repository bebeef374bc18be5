// weft-ctlbench: control-plane figures of a running weftd, over its gRPC API.
//
//   weft-ctlbench tasks --control HOST:PORT --server NAME --expect N [--wait S] [--reps R]
//                       [--stop] [--drain S] [--label TEXT]
//       waits until the server has N live tasks (running + queued), then times ListTasks (the
//       first page, and full listings paged at the maximum page size: plain, filtered by
//       min_idle 1 ms, which every idle task passes, and ordered by "idle desc"), and with
//       --stop StopServer. One JSON line on stdout.
//   weft-ctlbench watch --control HOST:PORT [--server NAME] --duration S
//       subscribes to WatchEvents, prints "watching" once the stream is established, drains
//       events for S seconds, then prints one JSON line with the counts.
//   weft-ctlbench watchers --control HOST:PORT --count N --duration S [--stalled K]
//                          [--probe-ms MS] [--churn HOST:PORT --churn-rate R] [--label TEXT]
//       opens N WatchEvents streams from this one process on gRPC's callback API (no thread
//       per stream; over ceil(N/90) connections, the server allowing 100 streams on each), K of
//       them never reading; prints "watching N" once all are established. For S seconds it then
//       calls ListServers every MS milliseconds on a connection of its own (the worst unary
//       latency under the watchers) and, with --churn, opens and closes R echo connections a
//       second to HOST:PORT (64 bytes echoed each: the server's events). One JSON line at the
//       end: events and drops seen by the reading watchers, probe latencies, churn done.
//
// Bounded: every RPC has a deadline; the wait has --wait.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/common/json_line.h"
#include "weft/base/proto_time.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace {

namespace v1 = weft::control::v1;
using weft::bench::JsonLine;

constexpr char kUsage[] = R"(usage:
  weft-ctlbench tasks --control HOST:PORT --server NAME --expect N [--wait SECONDS]
                      [--reps R] [--stop] [--drain SECONDS] [--label TEXT]
  weft-ctlbench watch --control HOST:PORT [--server NAME] --duration SECONDS
  weft-ctlbench watchers --control HOST:PORT --count N --duration SECONDS [--stalled K]
                         [--probe-ms MS] [--churn HOST:PORT --churn-rate R] [--label TEXT]
)";

constexpr int kMaxPageSize = 1000;

struct Flags {
  std::string command;
  std::string control;
  std::string server;
  std::string label;
  int expect = 0;
  double wait_s = 60;
  int reps = 10;
  bool stop = false;
  double drain_s = 5;
  double duration_s = 10;
  int count = 1;
  int stalled = 0;
  double probe_ms = 10;
  std::string churn;
  double churn_rate = 0;
};

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoNanoseconds(d);
}

// Millis returns the q-quantile of `values` (milliseconds).
double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t rank =
      std::min(values.size() - 1, static_cast<std::size_t>(q * static_cast<double>(values.size())));
  return values[rank];
}

double ToMillis(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// ListAll pages through the listing `base` asks for (its page size and token are set here);
// returns how many tasks were listed, or -1.
int ListAll(v1::Control::Stub& stub, const v1::ListTasksRequest& base, std::string* error) {
  std::string token;
  int listed = 0;
  for (int pages = 0; pages < 10000; ++pages) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(30)));
    v1::ListTasksRequest request = base;
    request.set_page_size(kMaxPageSize);
    request.set_page_token(token);
    v1::ListTasksResponse response;
    const grpc::Status status = stub.ListTasks(&context, request, &response);
    if (!status.ok()) {
      *error = status.error_message();
      return -1;
    }
    listed += response.tasks_size();
    token = response.next_page_token();
    if (token.empty()) return listed;
  }
  *error = "too many pages";
  return -1;
}

int RunTasks(const Flags& flags, v1::Control::Stub& stub) {
  JsonLine json;
  json.Set("tool", "weft-ctlbench");
  json.Set("mode", "tasks");
  if (!flags.label.empty()) json.Set("label", flags.label);
  json.Set("expect", flags.expect);

  // 1. Wait for the tasks to be there.
  const absl::Time wait_until = absl::Now() + absl::Seconds(flags.wait_s);
  std::uint32_t live = 0;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::GetServerRequest request;
    request.set_name(flags.server);
    v1::Server response;
    const grpc::Status status = stub.GetServer(&context, request, &response);
    if (!status.ok()) {
      std::cerr << "weft-ctlbench: GetServer: " << status.error_message() << "\n";
      return 1;
    }
    live = response.active_tasks() + response.queued_tasks();
    if (live >= static_cast<std::uint32_t>(flags.expect) || absl::Now() >= wait_until) {
      json.Set("live_tasks", static_cast<std::uint64_t>(live));
      json.Set("running_tasks", static_cast<std::uint64_t>(response.active_tasks()));
      json.Set("queued_tasks", static_cast<std::uint64_t>(response.queued_tasks()));
      json.Set("refused_total", static_cast<std::uint64_t>(response.refused_total()));
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));  // Polling a remote process: no event to wait on.
  }

  // 2. ListTasks, first page at the default size.
  std::vector<double> first_page_ms;
  std::uint32_t total_size = 0;
  for (int r = 0; r < flags.reps; ++r) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(30)));
    v1::ListTasksRequest request;
    request.set_server(flags.server);
    v1::ListTasksResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = stub.ListTasks(&context, request, &response);
    first_page_ms.push_back(ToMillis(absl::Now() - start));
    if (!status.ok()) {
      std::cerr << "weft-ctlbench: ListTasks: " << status.error_message() << "\n";
      return 1;
    }
    total_size = response.total_size();
  }
  // 3. ListTasks, every task (pages of the maximum size): plain, filtered, ordered.
  v1::ListTasksRequest plain;
  plain.set_server(flags.server);
  v1::ListTasksRequest filtered = plain;
  *filtered.mutable_min_idle() = weft::DurationToProto(absl::Milliseconds(1));
  v1::ListTasksRequest ordered = plain;
  ordered.set_order_by("idle desc");
  std::vector<double> full_ms;
  std::vector<double> filtered_ms;
  std::vector<double> ordered_ms;
  int listed = 0;
  int listed_filtered = 0;
  int listed_ordered = 0;
  for (int r = 0; r < flags.reps; ++r) {
    for (auto [request, times, count] : {std::tuple(&plain, &full_ms, &listed),
                                         std::tuple(&filtered, &filtered_ms, &listed_filtered),
                                         std::tuple(&ordered, &ordered_ms, &listed_ordered)}) {
      std::string error;
      const absl::Time start = absl::Now();
      *count = ListAll(stub, *request, &error);
      times->push_back(ToMillis(absl::Now() - start));
      if (*count < 0) {
        std::cerr << "weft-ctlbench: ListTasks (all pages): " << error << "\n";
        return 1;
      }
    }
  }
  json.Set("list_total_size", static_cast<std::uint64_t>(total_size));
  json.Set("list_first_page_p50_ms", Quantile(first_page_ms, 0.5));
  json.Set("list_first_page_max_ms", Quantile(first_page_ms, 1.0));
  json.Set("list_all_tasks", listed);
  json.Set("list_all_pages", (listed + kMaxPageSize - 1) / kMaxPageSize);
  json.Set("list_all_p50_ms", Quantile(full_ms, 0.5));
  json.Set("list_all_max_ms", Quantile(full_ms, 1.0));
  json.Set("list_min_idle_tasks", listed_filtered);
  json.Set("list_min_idle_p50_ms", Quantile(filtered_ms, 0.5));
  json.Set("list_min_idle_max_ms", Quantile(filtered_ms, 1.0));
  json.Set("list_idle_desc_tasks", listed_ordered);
  json.Set("list_idle_desc_p50_ms", Quantile(ordered_ms, 0.5));
  json.Set("list_idle_desc_max_ms", Quantile(ordered_ms, 1.0));
  std::string human = absl::StrFormat(
      "ctl tasks: %u live; ListTasks first page (100 of %u) p50 %.2f ms max %.2f ms; all %d "
      "tasks (%d pages of %d) p50 %.1f ms max %.1f ms",
      live, total_size, Quantile(first_page_ms, 0.5), Quantile(first_page_ms, 1.0), listed,
      (listed + kMaxPageSize - 1) / kMaxPageSize, kMaxPageSize, Quantile(full_ms, 0.5),
      Quantile(full_ms, 1.0));
  absl::StrAppend(&human, absl::StrFormat("; min_idle 1ms: %d tasks p50 %.1f ms; \"idle desc\": "
                                          "%d tasks p50 %.1f ms",
                                          listed_filtered, Quantile(filtered_ms, 0.5),
                                          listed_ordered, Quantile(ordered_ms, 0.5)));

  // 4. StopServer with all of them open.
  bool ok = true;
  if (flags.stop) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(flags.drain_s + 60)));
    v1::StopServerRequest request;
    request.set_name(flags.server);
    *request.mutable_drain_timeout() = weft::DurationToProto(absl::Seconds(flags.drain_s));
    v1::StopServerResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = stub.StopServer(&context, request, &response);
    const double stop_ms = ToMillis(absl::Now() - start);
    if (!status.ok()) {
      std::cerr << "weft-ctlbench: StopServer: " << status.error_message() << "\n";
      ok = false;
    } else {
      json.Set("stop_ms", stop_ms);
      json.Set("stop_server_elapsed_ms", ToMillis(weft::DurationFromProto(response.elapsed())));
      json.Set("stop_cooperative", static_cast<std::uint64_t>(response.cooperative_tasks()));
      json.Set("stop_forced", static_cast<std::uint64_t>(response.forced_tasks()));
      json.Set("stop_dropped", static_cast<std::uint64_t>(response.dropped_tasks()));
      absl::StrAppend(&human,
                      absl::StrFormat("; StopServer %.1f ms (%u cooperative, %u forced, %u dropped)",
                                      stop_ms, response.cooperative_tasks(),
                                      response.forced_tasks(), response.dropped_tasks()));
    }
  }
  json.SetBool("clean", ok && live >= static_cast<std::uint32_t>(flags.expect));
  std::cout << json.ToString() << std::endl;
  std::cerr << (flags.label.empty() ? "" : flags.label + ": ") << human << "\n";
  return ok ? 0 : 1;
}

int RunWatch(const Flags& flags, v1::Control::Stub& stub) {
  grpc::ClientContext context;
  // The deadline ends the stream: that is how a watch of bounded length stops.
  context.set_deadline(DeadlineIn(absl::Seconds(flags.duration_s)));
  v1::WatchEventsRequest request;
  request.set_server(flags.server);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub.WatchEvents(&context, request);
  reader->WaitForInitialMetadata();
  std::cout << "watching" << std::endl;
  std::uint64_t events = 0;
  std::uint64_t dropped = 0;
  std::uint64_t last_sequence = 0;
  v1::Event event;
  while (reader->Read(&event)) {
    ++events;
    last_sequence = event.sequence();
    if (event.type() == v1::EVENT_TYPE_EVENTS_DROPPED) dropped += event.dropped_events();
  }
  const grpc::Status status = reader->Finish();
  const bool ended_by_deadline = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  JsonLine json;
  json.Set("tool", "weft-ctlbench");
  json.Set("mode", "watch");
  if (!flags.label.empty()) json.Set("label", flags.label);
  json.Set("events", events);
  json.Set("dropped_events", dropped);
  json.Set("last_sequence", last_sequence);
  json.SetBool("clean", ended_by_deadline || status.ok());
  std::cout << json.ToString() << std::endl;
  std::cerr << "ctl watch: " << events << " events received, " << dropped << " dropped ("
            << (status.ok() ? std::string("ended") : status.error_message()) << ")\n";
  return ended_by_deadline || status.ok() ? 0 : 1;
}

// Watcher: one WatchEvents stream on the callback API. A stalled one never reads: the server
// must bound what it holds for it and not let it slow anything down.
class Watcher final : public grpc::ClientReadReactor<v1::Event> {
 public:
  Watcher(v1::Control::Stub* stub, bool stalled, std::atomic<int>* established)
      : stalled_(stalled), established_(established) {
    stub->async()->WatchEvents(&context_, &request_, this);
    StartRead(&event_);  // Held by gRPC until the initial metadata arrives.
    StartCall();
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (ok) established_->fetch_add(1);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    ++events_;
    if (event_.type() == v1::EVENT_TYPE_EVENTS_DROPPED) dropped_ += event_.dropped_events();
    last_sequence_ = event_.sequence();
    if (!stalled_) StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    done_cv_.notify_all();
  }

  void Cancel() { context_.TryCancel(); }
  // WaitDone waits for OnDone; false when `deadline` passed first.
  bool WaitDone(std::chrono::system_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return done_cv_.wait_until(lock, deadline, [this] { return done_; });
  }
  // Read after WaitDone: OnReadDone has no more calls to make.
  std::uint64_t events() const { return events_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t last_sequence() const { return last_sequence_; }
  bool stalled() const { return stalled_; }

 private:
  const bool stalled_;
  std::atomic<int>* const established_;
  grpc::ClientContext context_;
  v1::WatchEventsRequest request_;
  v1::Event event_;
  std::uint64_t events_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  grpc::Status status_;
};

// Churn opens and closes `rate` echo connections a second to `target` until `stop`: connect,
// 64 bytes out, 64 back, close. Counts the connections done and failed.
void Churn(const std::string& target, double rate, const std::atomic<bool>* stop,
           std::uint64_t* done, std::uint64_t* failed) {
  std::vector<std::string> parts = absl::StrSplit(target, ':');
  int port = 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) ||
      inet_pton(AF_INET, parts[0].c_str(), &address.sin_addr) != 1) {
    std::cerr << "weft-ctlbench: bad --churn " << target << "\n";
    ++*failed;
    return;
  }
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
  auto next = std::chrono::steady_clock::now();
  char buffer[64] = {};
  while (!stop->load()) {
    next += period;
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 &&
              connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 &&
              send(fd, buffer, sizeof(buffer), MSG_NOSIGNAL) == sizeof(buffer);
    std::size_t got = 0;
    while (ok && got < sizeof(buffer)) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer) - got, 0);
      if (n <= 0) ok = false;
      got += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    if (fd >= 0) close(fd);
    ++*(ok ? done : failed);
    std::this_thread::sleep_until(next);  // Pacing a load, not synchronising.
  }
}

int RunWatchers(const Flags& flags) {
  const int per_channel = 90;
  const int channels = std::max(1, (flags.count + per_channel - 1) / per_channel);
  std::vector<std::unique_ptr<v1::Control::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // A connection per channel.
    args.SetInt("weft.ctlbench.channel", c);
    stubs.push_back(v1::Control::NewStub(
        grpc::CreateCustomChannel(flags.control, grpc::InsecureChannelCredentials(), args)));
  }
  std::atomic<int> established{0};
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < flags.count; ++i) {
    watchers.push_back(
        std::make_unique<Watcher>(stubs[i % channels].get(), i < flags.stalled, &established));
  }
  const absl::Time established_by = absl::Now() + absl::Seconds(60);
  while (established.load() < flags.count && absl::Now() < established_by) {
    absl::SleepFor(absl::Milliseconds(10));  // Polling a count the reactors raise.
  }
  std::cout << "watching " << established.load() << std::endl;

  std::atomic<bool> stop_churn{false};
  std::uint64_t churn_done = 0;
  std::uint64_t churn_failed = 0;
  std::thread churn;
  if (!flags.churn.empty() && flags.churn_rate > 0) {
    churn =
        std::thread(Churn, flags.churn, flags.churn_rate, &stop_churn, &churn_done, &churn_failed);
  }
  grpc::ChannelArguments probe_args;
  probe_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto probe_stub = v1::Control::NewStub(
      grpc::CreateCustomChannel(flags.control, grpc::InsecureChannelCredentials(), probe_args));
  std::vector<double> probe_ms;
  int probe_failures = 0;
  const absl::Time end = absl::Now() + absl::Seconds(flags.duration_s);
  while (absl::Now() < end) {
    if (flags.probe_ms <= 0) {
      absl::SleepFor(std::min(absl::Milliseconds(100), end - absl::Now()));
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::ListServersRequest request;
    v1::ListServersResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = probe_stub->ListServers(&context, request, &response);
    probe_ms.push_back(ToMillis(absl::Now() - start));
    if (!status.ok()) ++probe_failures;
    absl::SleepFor(absl::Milliseconds(flags.probe_ms));  // The probe's period.
  }
  stop_churn.store(true);
  if (churn.joinable()) churn.join();

  for (auto& watcher : watchers) watcher->Cancel();
  int unfinished = 0;
  std::uint64_t events = 0;
  std::uint64_t dropped = 0;
  std::uint64_t min_events = UINT64_MAX;
  std::uint64_t max_sequence = 0;
  std::uint64_t stalled_events = 0;
  const auto done_by = DeadlineIn(absl::Seconds(30));
  for (auto& watcher : watchers) {
    if (!watcher->WaitDone(done_by)) {
      ++unfinished;
      continue;
    }
    if (watcher->stalled()) {
      stalled_events += watcher->events();
      continue;
    }
    events += watcher->events();
    dropped += watcher->dropped();
    min_events = std::min(min_events, watcher->events());
    max_sequence = std::max(max_sequence, watcher->last_sequence());
  }
  if (min_events == UINT64_MAX) min_events = 0;
  JsonLine json;
  json.Set("tool", "weft-ctlbench");
  json.Set("mode", "watchers");
  if (!flags.label.empty()) json.Set("label", flags.label);
  json.Set("watchers", flags.count);
  json.Set("stalled", flags.stalled);
  json.Set("established", established.load());
  json.Set("events", events);
  json.Set("stalled_events", stalled_events);  // Taken by the never-reading watchers.
  json.Set("dropped_events", dropped);
  json.Set("min_events_per_watcher", min_events);
  json.Set("max_last_sequence", max_sequence);
  json.Set("probes", static_cast<std::uint64_t>(probe_ms.size()));
  json.Set("probe_failures", probe_failures);
  json.Set("probe_p50_ms", Quantile(probe_ms, 0.5));
  json.Set("probe_p99_ms", Quantile(probe_ms, 0.99));
  json.Set("probe_max_ms", Quantile(probe_ms, 1.0));
  json.Set("churn_conns", churn_done);
  json.Set("churn_failed", churn_failed);
  const bool clean = established.load() == flags.count && unfinished == 0 && probe_failures == 0 &&
                     churn_failed == 0;
  json.SetBool("clean", clean);
  std::cout << json.ToString() << std::endl;
  std::cerr << absl::StrFormat(
      "ctl watchers%s: %d/%d established (%d stalled); reading ones got %u events (%u dropped, "
      "fewest %u, last sequence %u); ListServers x%zu p50 %.2f ms p99 %.2f ms max %.2f ms "
      "(%d failed); churn %u conns (%u failed); %d unfinished\n",
      flags.label.empty() ? "" : " " + flags.label, established.load(), flags.count, flags.stalled,
      events, dropped, min_events, max_sequence, probe_ms.size(), Quantile(probe_ms, 0.5),
      Quantile(probe_ms, 0.99), Quantile(probe_ms, 1.0), probe_failures, churn_done, churn_failed,
      unfinished);
  // A watcher whose OnDone never came is still owned by gRPC: leak it rather than free it.
  if (unfinished > 0) {
    for (auto& watcher : watchers) watcher.release();
  }
  return clean ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  flags.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--stop") {
      flags.stop = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "weft-ctlbench: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
    const std::string value = argv[++i];
    bool ok = true;
    if (arg == "--control") {
      flags.control = value;
    } else if (arg == "--server") {
      flags.server = value;
    } else if (arg == "--label") {
      flags.label = value;
    } else if (arg == "--expect") {
      ok = absl::SimpleAtoi(value, &flags.expect) && flags.expect >= 0;
    } else if (arg == "--wait") {
      ok = absl::SimpleAtod(value, &flags.wait_s) && flags.wait_s >= 0;
    } else if (arg == "--reps") {
      ok = absl::SimpleAtoi(value, &flags.reps) && flags.reps >= 1;
    } else if (arg == "--drain") {
      ok = absl::SimpleAtod(value, &flags.drain_s) && flags.drain_s >= 0;
    } else if (arg == "--count") {
      ok = absl::SimpleAtoi(value, &flags.count) && flags.count >= 0;
    } else if (arg == "--stalled") {
      ok = absl::SimpleAtoi(value, &flags.stalled) && flags.stalled >= 0;
    } else if (arg == "--probe-ms") {
      ok = absl::SimpleAtod(value, &flags.probe_ms) && flags.probe_ms >= 0;
    } else if (arg == "--churn") {
      flags.churn = value;
    } else if (arg == "--churn-rate") {
      ok = absl::SimpleAtod(value, &flags.churn_rate) && flags.churn_rate >= 0;
    } else if (arg == "--duration") {
      ok = absl::SimpleAtod(value, &flags.duration_s) && flags.duration_s > 0;
    } else {
      std::cerr << "weft-ctlbench: unknown argument \"" << arg << "\"\n" << kUsage;
      return 2;
    }
    if (!ok) {
      std::cerr << "weft-ctlbench: bad value \"" << value << "\" for " << arg << "\n";
      return 2;
    }
  }
  if (flags.control.empty()) {
    std::cerr << "weft-ctlbench: --control is required\n" << kUsage;
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(flags.control, grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Control::Stub> stub = v1::Control::NewStub(channel);
  if (flags.command == "tasks") {
    if (flags.server.empty()) {
      std::cerr << "weft-ctlbench: tasks needs --server\n";
      return 2;
    }
    return RunTasks(flags, *stub);
  }
  if (flags.command == "watch") return RunWatch(flags, *stub);
  if (flags.command == "watchers") return RunWatchers(flags);
  std::cerr << kUsage;
  return 2;
}
