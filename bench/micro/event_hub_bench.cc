// Micro-benchmarks of the event hub's publishing side: what a data-plane thread pays per event
// with no watcher, and with watchers that read nothing (the delivery thread then only moves
// events into its ring), on 1 and 4 publishing threads.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "control/event_hub.h"

namespace weft::control {
namespace {

// IgnoringSink takes its first delivery and never gives its credit back (a stalled watcher).
class IgnoringSink final : public EventSink {
 public:
  void Deliver(absl::Span<const Delivery>) override {}
  void End() override {}
};

void BM_Publish(benchmark::State& state) {
  static EventHub* hub = nullptr;
  static std::vector<std::unique_ptr<IgnoringSink>>* sinks = nullptr;
  static std::vector<std::shared_ptr<Subscription>>* subscriptions = nullptr;
  if (state.thread_index() == 0) {
    hub = new EventHub(/*capacity=*/1024, /*max_subscribers=*/1024);
    sinks = new std::vector<std::unique_ptr<IgnoringSink>>();
    subscriptions = new std::vector<std::shared_ptr<Subscription>>();
    for (int i = 0; i < state.range(0); ++i) {
      sinks->push_back(std::make_unique<IgnoringSink>());
      subscriptions->push_back(hub->Subscribe("", sinks->back().get()).value());
    }
  }
  ServerEvent event;
  event.kind = ServerEvent::Kind::kTaskAdded;
  event.task_id = 42;
  event.peer.address = "127.0.0.1";
  event.peer.port = 40000;
  const NamedEvent named{"echo", event};
  for (auto _ : state) hub->Publish(named);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    for (const auto& subscription : *subscriptions) hub->Unsubscribe(subscription);
    delete subscriptions;
    delete sinks;
    delete hub;
  }
}
BENCHMARK(BM_Publish)->Arg(0)->Arg(1)->Arg(1000)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace weft::control

BENCHMARK_MAIN();
