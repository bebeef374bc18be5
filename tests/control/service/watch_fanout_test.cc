// WatchEvents at scale, in-process: hundreds of real streams on gRPC's callback API in front of
// a real listener. Every reading watcher gets every event; a watcher that stops reading is
// bounded by the hub's ring and told, once it reads again, how many events it lost.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "control/event_hub.h"
#include "control/fanout_observer.h"
#include "control/health_reporter.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "tests/control/service/service_harness.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/deadline.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.grpc.pb.h"
#include "weft/threaded_task_manager.h"

namespace weft::control {
namespace {

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr std::size_t kRing = 64;

// Tally: what every watcher has seen, shared so the test can wait on it.
struct Tally {
  Mutex mu;
  CondVar changed;
  int established ABSL_GUARDED_BY(mu) = 0;
  int done ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t reader_events ABSL_GUARDED_BY(mu) = 0;  // Over every reading watcher.
};

// Watcher: one WatchEvents stream on the client's callback API. A stalled one does not read
// until Resume (so the server's writes to it stop once the stream's flow-control window is
// full, like a dashboard frozen in a debugger).
class Watcher final : public grpc::ClientReadReactor<v1::Event> {
 public:
  Watcher(v1::Control::Stub* stub, Tally* tally, const std::string& server, bool stalled)
      : tally_(tally), stalled_(stalled) {
    request_.set_server(server);
    stub->async()->WatchEvents(&context_, &request_, this);
    if (!stalled_) StartRead(&event_);
    StartCall();
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (!ok) return;
    MutexLock lock(&tally_->mu);
    ++tally_->established;
    tally_->changed.SignalAll();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      MutexLock lock(&tally_->mu);
      if (event_.type() == v1::EVENT_TYPE_EVENTS_DROPPED) {
        dropped_ += event_.dropped_events();
      } else {
        ++events_;
        if (!stalled_) ++tally_->reader_events;
      }
      sequences_ok_ = sequences_ok_ && event_.sequence() > last_sequence_;
      last_sequence_ = event_.sequence();
      tally_->changed.SignalAll();
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status&) override {
    MutexLock lock(&tally_->mu);
    ++tally_->done;
    tally_->changed.SignalAll();
  }

  void Resume() { StartRead(&event_); }
  void Cancel() { context_.TryCancel(); }

  // Read with tally->mu held.
  std::uint64_t events() const { return events_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t last_sequence() const { return last_sequence_; }
  bool sequences_ok() const { return sequences_ok_; }

 private:
  Tally* const tally_;
  const bool stalled_;
  grpc::ClientContext context_;
  v1::WatchEventsRequest request_;
  v1::Event event_;
  // Guarded by tally_->mu (unannotated: the analysis cannot tell watchers_[i]->tally_->mu is
  // the fixture's tally_.mu).
  std::uint64_t events_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t last_sequence_ = 0;
  bool sequences_ok_ = true;
};

class WatchFanoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.handler = testing::EchoUntilEof;
    options.manager = std::make_unique<ThreadedTaskManager>();
    options.observer =
        std::make_shared<FanoutObserver>(std::vector<std::shared_ptr<ServerObserver>>{
            events_.ObserverFor("echo"), health_.ObserverFor("echo")});
    ASSERT_TRUE(testing::AddRunningServer(servers_, "echo", std::move(options)).ok());
    auth_ = Authenticator::Open();
    absl::StatusOr<testing::ServedControl> served =
        testing::ServeControl(&servers_, &events_, auth_.get(), &process_, &health_);
    ASSERT_TRUE(served.ok()) << served.status();
    control_ = std::move(*served);
  }

  void TearDown() override {
    for (auto& watcher : watchers_) watcher->Cancel();
    bool all_done = false;
    {
      MutexLock lock(&tally_.mu);
      all_done = tally_.changed.AwaitUntil(
          &tally_.mu,
          [&] {
            tally_.mu.AssertHeld();
            return tally_.done == static_cast<int>(watchers_.size());
          },
          DeadlineAfter(kWait));
    }
    // A watcher gRPC has not finished with cannot be freed: fail, and leak it.
    EXPECT_TRUE(all_done);
    if (!all_done) {
      for (auto& watcher : watchers_) watcher.release();
    }
    watchers_.clear();
    stubs_.clear();
    if (control_.plane != nullptr) control_.service->Shutdown();
    control_.plane.reset();
    for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
  }

  // Stub opens a connection of its own (the server takes 100 streams on one).
  std::unique_ptr<v1::Control::Stub> Stub(const grpc::ChannelArguments& base) {
    grpc::ChannelArguments args = base;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::Control::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", control_.plane->port()),
                                  grpc::InsecureChannelCredentials(), args));
  }

  // AddReaders opens `count` watchers of `server` (every server when empty) that read, on
  // connections of their own holding kPerConnection streams each.
  void AddReaders(int count, const std::string& server) {
    constexpr int kPerConnection = 90;
    const std::size_t first = stubs_.size();
    for (int c = 0; c < (count + kPerConnection - 1) / kPerConnection; ++c) {
      grpc::ChannelArguments args;
      args.SetInt("weft.test.connection", static_cast<int>(first) + c);
      stubs_.push_back(Stub(args));
    }
    for (int i = 0; i < count; ++i) {
      watchers_.push_back(std::make_unique<Watcher>(stubs_[first + i / kPerConnection].get(),
                                                    &tally_, server, /*stalled=*/false));
    }
  }

  // Await waits for `condition` (evaluated with tally_.mu held) for kWait at most.
  template <typename Condition>
  bool Await(Condition condition) {
    MutexLock lock(&tally_.mu);
    return tally_.changed.AwaitUntil(
        &tally_.mu,
        [&] {
          tally_.mu.AssertHeld();
          return condition();
        },
        DeadlineAfter(kWait));
  }

  // Normal priority: under SCHED_IDLE, a busy machine (ctest -j) could starve the delivery
  // thread past the test's deadlines. What the priority buys is measured by bench/run.
  EventHub events_{kRing, /*max_subscribers=*/1024, EventHub::DeliveryPriority::kNormal};
  HealthReporter health_;
  ServerSet servers_;
  ProcessInfo process_;
  std::unique_ptr<Authenticator> auth_;
  testing::ServedControl control_;
  Tally tally_;
  std::vector<std::unique_ptr<v1::Control::Stub>> stubs_;
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

// Publish publishes `n` task events of `server` straight into the hub, each with a peer of
// `peer_bytes` characters.
void Publish(EventHub& hub, const std::string& server, int n, std::size_t peer_bytes = 9) {
  for (int i = 0; i < n; ++i) {
    ServerEvent event;
    event.kind = ServerEvent::Kind::kTaskAdded;
    event.task_id = static_cast<TaskId>(1000 + i);
    event.peer.address = std::string(peer_bytes, '1');
    hub.Publish(NamedEvent{server, event});
  }
}

TEST_F(WatchFanoutTest, EveryReaderOfHundredsGetsEveryEventAndAStalledOneIsToldWhatItLost) {
  constexpr int kReaders = 200;
  // The readers watch "echo"; the stalled one every server.
  AddReaders(kReaders, "echo");
  grpc::ChannelArguments no_bdp;  // Its stream window stays at HTTP/2's initial 64 KiB.
  no_bdp.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  stubs_.push_back(Stub(no_bdp));
  watchers_.push_back(
      std::make_unique<Watcher>(stubs_.back().get(), &tally_, "", /*stalled=*/true));
  Watcher* const stalled = watchers_.back().get();
  ASSERT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return tally_.established == kReaders + 1;
  }));
  ASSERT_EQ(events_.subscriber_count(), static_cast<std::size_t>(kReaders + 1));

  // Events of another server, 2 KiB each: the ring's 64 hold 128 KiB, more than the stalled
  // stream's window, so its writes stop; the readers are not sent them.
  std::uint64_t published = 0;
  Publish(events_, "other", 200, /*peer_bytes=*/2048);
  published += 200;
  // A real connection (3 events: added, started, stopped), then waves of half a ring — each
  // awaited by every reader, so none of them is ever lapped, while the stalled one is.
  {
    absl::StatusOr<testing::LoopbackClient> client =
        testing::LoopbackClient::Connect(servers_.Find("echo")->server->port());
    ASSERT_TRUE(client.ok());
    ASSERT_EQ(client->Echo("ping").value_or(""), "ping");
  }
  std::uint64_t echo_events = 3;
  published += 3;
  ASSERT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return tally_.reader_events == echo_events * kReaders;
  }));
  constexpr int kWaves = 4;
  for (int wave = 0; wave < kWaves; ++wave) {
    Publish(events_, "echo", kRing / 2);
    echo_events += kRing / 2;
    published += kRing / 2;
    ASSERT_TRUE(Await([&] {
      tally_.mu.AssertHeld();
      return tally_.reader_events == echo_events * kReaders;
    })) << "wave "
        << wave;
  }
  {
    MutexLock lock(&tally_.mu);
    for (int i = 0; i < kReaders; ++i) {
      EXPECT_EQ(watchers_[i]->events(), echo_events) << "reader " << i;
      EXPECT_EQ(watchers_[i]->dropped(), 0u) << "reader " << i;
      EXPECT_EQ(watchers_[i]->last_sequence(), echo_events) << "reader " << i;
      EXPECT_TRUE(watchers_[i]->sequences_ok()) << "reader " << i;
    }
  }
  // The stalled one reads again: what it was sent before it stalled, a gap with the count of
  // what the ring no longer held, then the last events — everything accounted for.
  stalled->Resume();
  ASSERT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return stalled->last_sequence() == published;
  })) << "its last sequence is the last event's";
  MutexLock lock(&tally_.mu);
  EXPECT_GT(stalled->dropped(), 0u);
  EXPECT_EQ(stalled->events() + stalled->dropped(), published);
  EXPECT_TRUE(stalled->sequences_ok());
}

// Clients that go away while events flow: every stream ends, every subscription is removed,
// and no write outlives its stream (under ASan, a use after free here was a crash in weftd).
TEST_F(WatchFanoutTest, StreamsCancelledWhileEventsFlowEndCleanly) {
  constexpr int kWatchers = 200;
  AddReaders(kWatchers, "");
  ASSERT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return tally_.established == kWatchers;
  }));
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop.load()) Publish(events_, "echo", 16);
  });
  absl::Cleanup join_publisher = [&] {
    stop.store(true);
    publisher.join();
  };
  ASSERT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return tally_.reader_events >= 10u * kWatchers;
  }));
  for (auto& watcher : watchers_) watcher->Cancel();
  EXPECT_TRUE(Await([&] {
    tally_.mu.AssertHeld();
    return tally_.done == kWatchers;
  }));
  std::move(join_publisher).Invoke();
  EXPECT_TRUE(testing::WaitUntil([&] { return events_.subscriber_count() == 0; }));
}

}  // namespace
}  // namespace weft::control
