#include "control/watch_reactor.h"

#include <utility>

#include "absl/time/clock.h"
#include "control/proto_conversion.h"
#include "control/status_conversion.h"

namespace weft::control {
namespace {

// Consecutive writes the transport may hold back (see Deliver).
constexpr int kMaxBuffered = 16;

}  // namespace

WatchReactor* WatchReactor::Failed(const grpc::Status& status) {
  auto* reactor = new WatchReactor(nullptr);
  reactor->FinishOnce(status);
  return reactor;
}

WatchReactor* WatchReactor::Start(EventHub* hub, std::string server_filter) {
  auto* reactor = new WatchReactor(hub);
  absl::StatusOr<std::shared_ptr<Subscription>> subscription =
      hub->Subscribe(std::move(server_filter), reactor);
  if (!subscription.ok()) {
    reactor->FinishOnce(ToGrpcStatus(subscription.status()));
    return reactor;
  }
  reactor->subscription_ = std::move(*subscription);
  // Headers go out at once so the client knows the watch is established.
  reactor->StartSendInitialMetadata();
  reactor->subscription_->Ready();
  return reactor;
}

void WatchReactor::Deliver(const Delivery& delivery) {
  if (finished_.load()) return;  // No credit given back: nothing more comes.
  if (delivery.proto != nullptr) {
    event_ = *delivery.proto;  // A copy of the shared rendering, not a conversion.
  } else {
    event_.Clear();
    event_.set_type(v1::EVENT_TYPE_EVENTS_DROPPED);
    event_.set_dropped_events(delivery.dropped);
    *event_.mutable_time() = TimeToProto(absl::Now());
  }
  event_.set_sequence(delivery.sequence);
  writing_.store(true);
  // With more to follow, the transport may hold this message back and send it with the next
  // ones: fewer, larger socket writes, on gRPC's threads and in the control gateway's relay.
  // It holds them until a write without the hint, so every kMaxBuffered-th goes without.
  grpc::WriteOptions options;
  if (delivery.more && buffered_ < kMaxBuffered) {
    options.set_buffer_hint();
    ++buffered_;
  } else {
    buffered_ = 0;
  }
  StartWrite(&event_, options);
}

void WatchReactor::OnWriteDone(bool ok) {
  writing_.store(false);
  if (!ok || end_requested_.load()) {
    FinishOnce(grpc::Status::OK);  // The stream is broken (the client has gone), or ended.
    return;
  }
  subscription_->Ready();
}

void WatchReactor::End() {
  end_requested_.store(true);
  if (!writing_.load()) FinishOnce(grpc::Status::OK);
}

void WatchReactor::OnCancel() { FinishOnce(grpc::Status::OK); }

void WatchReactor::FinishOnce(const grpc::Status& status) {
  if (finished_.exchange(true)) return;
  Finish(status);
}

void WatchReactor::OnDone() {
  if (subscription_ != nullptr) hub_->Unsubscribe(subscription_);
  delete this;
}

}  // namespace weft::control
