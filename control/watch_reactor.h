// WatchReactor: one WatchEvents stream on gRPC's callback API — no thread per watcher and no
// polling: events are written as the subscription's listener reports them, and a client that
// goes away ends the stream through OnCancel.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "control/event_hub.h"
#include "control/watch_dispatcher.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control {

// WatchReactor: owned by gRPC from the moment the method handler returns it; deletes itself in
// OnDone, after unsubscribing. At most one write is in flight: the reactor either waits for
// OnWriteDone or for the subscription's listener, never both, so Pump never runs twice at once
// with a delivery to write. The listener (called on the data-plane thread that published) only
// schedules Pump on the dispatcher; OnWriteDone pumps on gRPC's thread.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Event>,
                           private WatchDispatcher::Client {
 public:
  // Start subscribes to `hub` for `server_filter` and begins streaming; on a Subscribe error
  // the stream finishes with it. `hub` and `dispatcher` must outlive the stream.
  static WatchReactor* Start(EventHub* hub, WatchDispatcher* dispatcher, std::string server_filter);
  // Failed returns a reactor that finishes at once with `status`.
  static WatchReactor* Failed(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  WatchReactor(EventHub* hub, WatchDispatcher* dispatcher,
               std::shared_ptr<Subscription> subscription);

  // Pump writes the next delivery, or arms the listener when there is none, or finishes the
  // stream when the subscription has ended.
  void Pump() override;
  void FinishOnce(const grpc::Status& status);

  EventHub* const hub_;
  WatchDispatcher* const dispatcher_;
  const std::shared_ptr<Subscription> subscription_;  // Null for a failed start.
  v1::Event event_;  // The write in flight; touched only by the one Pump that may write.
  std::atomic<bool> finished_{false};
};

}  // namespace weft::control
