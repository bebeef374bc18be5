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
  MutexLock lock(&reactor->mu_);
  reactor->FinishLocked(status);
  return reactor;
}

WatchReactor* WatchReactor::Start(EventHub* hub, std::string server_filter) {
  auto* reactor = new WatchReactor(hub);
  absl::StatusOr<std::shared_ptr<Subscription>> subscription =
      hub->Subscribe(std::move(server_filter), reactor);
  if (!subscription.ok()) {
    MutexLock lock(&reactor->mu_);
    reactor->FinishLocked(ToGrpcStatus(subscription.status()));
    return reactor;
  }
  reactor->subscription_ = std::move(*subscription);
  // Headers go out at once so the client knows the watch is established.
  reactor->StartSendInitialMetadata();
  reactor->subscription_->Ready();
  return reactor;
}

void WatchReactor::Deliver(absl::Span<const Delivery> deliveries) {
  MutexLock lock(&mu_);
  // Never a write after Finish: gRPC may then run OnDone (which deletes this) before the write
  // completes. And no credit given back: nothing more comes.
  if (finished_) return;
  queue_.assign(deliveries.begin(), deliveries.end());
  WriteNextLocked();
}

void WatchReactor::WriteNextLocked() {
  Delivery& next = queue_.front();
  if (next.dropped != 0) {
    // The gap first; the event follows from OnWriteDone.
    event_.Clear();
    event_.set_type(v1::EVENT_TYPE_EVENTS_DROPPED);
    event_.set_dropped_events(next.dropped);
    *event_.mutable_time() = TimeToProto(absl::Now());
    event_.set_sequence(next.sequence - 1);
    next.dropped = 0;
    StartWriteLocked(/*more=*/true);
    return;
  }
  event_ = *next.proto;  // A copy of the shared rendering, not a conversion.
  event_.set_sequence(next.sequence);
  const bool more = next.more;
  queue_.pop_front();
  StartWriteLocked(more);
}

void WatchReactor::StartWriteLocked(bool more) {
  writing_ = true;
  // With more to follow, the transport may hold this message back and send it with the next
  // ones: fewer, larger socket writes, on gRPC's threads and in the control gateway's relay.
  // It holds them until a write without the hint, so every kMaxBuffered-th goes without.
  grpc::WriteOptions options;
  if (more && buffered_ < kMaxBuffered) {
    options.set_buffer_hint();
    ++buffered_;
  } else {
    buffered_ = 0;
  }
  StartWrite(&event_, options);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    MutexLock lock(&mu_);
    writing_ = false;
    // The stream is broken (the client has gone), ended, or finished (OnCancel) while this write
    // was in flight: no write follows, and no credit goes back.
    if (!ok || end_requested_ || finished_) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (!queue_.empty()) {
      WriteNextLocked();
      return;  // The credit goes back once the batch is written.
    }
  }
  subscription_->Ready();
}

void WatchReactor::End() {
  MutexLock lock(&mu_);
  end_requested_ = true;
  if (!writing_) FinishLocked(grpc::Status::OK);  // Else OnWriteDone finishes.
}

void WatchReactor::OnCancel() {
  {
    MutexLock lock(&mu_);
    FinishLocked(grpc::Status::OK);
  }
  // The client has gone: leave the hub now rather than in OnDone. gRPC 1.51 runs OnDone only
  // once the write in flight completes, and a write waiting on a stream the client reset
  // completes only when its connection closes (a channel shared by many streams may stay open
  // for hours). Outside mu_: Detach waits for a Deliver in progress, which takes mu_.
  if (subscription_ != nullptr) hub_->Unsubscribe(subscription_);
}

void WatchReactor::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void WatchReactor::OnDone() {
  if (subscription_ != nullptr) hub_->Unsubscribe(subscription_);
  delete this;
}

}  // namespace weft::control
