#include "control/watch_reactor.h"

#include <utility>

#include "absl/time/clock.h"
#include "control/proto_conversion.h"
#include "control/status_conversion.h"

namespace weft::control {

WatchReactor::WatchReactor(EventHub* hub, WatchDispatcher* dispatcher,
                           std::shared_ptr<Subscription> subscription)
    : hub_(hub), dispatcher_(dispatcher), subscription_(std::move(subscription)) {}

WatchReactor* WatchReactor::Failed(const grpc::Status& status) {
  auto* reactor = new WatchReactor(nullptr, nullptr, nullptr);
  reactor->FinishOnce(status);
  return reactor;
}

WatchReactor* WatchReactor::Start(EventHub* hub, WatchDispatcher* dispatcher,
                                  std::string server_filter) {
  absl::StatusOr<std::shared_ptr<Subscription>> subscription =
      hub->Subscribe(std::move(server_filter));
  if (!subscription.ok()) return Failed(ToGrpcStatus(subscription.status()));
  auto* reactor = new WatchReactor(hub, dispatcher, std::move(*subscription));
  reactor->subscription_->SetListener([reactor] { reactor->dispatcher_->Schedule(reactor); });
  // Headers go out at once so the client knows the watch is established.
  reactor->StartSendInitialMetadata();
  reactor->Pump();
  return reactor;
}

void WatchReactor::Pump() {
  if (finished_.load()) return;
  std::optional<Subscription::Delivery> delivery = subscription_->TryNext();
  if (!delivery.has_value()) return;  // The listener calls Pump again.
  if (delivery->ended) {
    FinishOnce(grpc::Status::OK);
    return;
  }
  if (delivery->event.has_value()) {
    event_ = EventToProto(*delivery->event);
  } else {
    event_.Clear();
    event_.set_type(v1::EVENT_TYPE_EVENTS_DROPPED);
    event_.set_dropped_events(delivery->dropped);
    *event_.mutable_time() = TimeToProto(absl::Now());
  }
  event_.set_sequence(delivery->sequence);
  StartWrite(&event_);
}

void WatchReactor::OnWriteDone(bool ok) {
  if (!ok) {
    FinishOnce(grpc::Status::OK);  // The stream is broken: the client has gone.
    return;
  }
  Pump();
}

void WatchReactor::OnCancel() {
  if (subscription_ != nullptr) subscription_->Cancel();  // Wakes an armed listener: Finish.
}

void WatchReactor::FinishOnce(const grpc::Status& status) {
  if (finished_.exchange(true)) return;
  Finish(status);
}

void WatchReactor::OnDone() {
  if (subscription_ != nullptr) {
    subscription_->ClearListener();
    dispatcher_->Forget(this);
    hub_->Unsubscribe(subscription_);
  }
  delete this;
}

}  // namespace weft::control
