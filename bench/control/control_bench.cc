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
//
// Bounded: every RPC has a deadline; the wait has --wait.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
  std::cerr << kUsage;
  return 2;
}
