// WatchReactor: one WatchEvents stream on gRPC's callback API — no thread per watcher and no
// polling: the event hub's delivery thread hands it events, one write in flight at a time, and
// a client that goes away ends the stream through OnCancel.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>

#include "absl/types/span.h"
#include "control/event_hub.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control {

// WatchReactor: owned by gRPC from the moment the method handler returns it; unsubscribes in
// OnCancel (or else OnDone) and deletes itself in OnDone. It is its subscription's sink:
// Deliver (on the hub's delivery thread) starts writing a batch, OnWriteDone (on a gRPC
// thread) writes the rest of it, one write in flight, and then gives the hub its credit back —
// so a client that stops reading holds one batch, and the hub counts what it misses.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Event>, private EventSink {
 public:
  // Start subscribes to `hub` for `server_filter` and begins streaming; on a Subscribe error
  // the stream finishes with it. `hub` must outlive the stream.
  static WatchReactor* Start(EventHub* hub, std::string server_filter);
  // Failed returns a reactor that finishes at once with `status`.
  static WatchReactor* Failed(const grpc::Status& status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  explicit WatchReactor(EventHub* hub) : hub_(hub) {}

  void Deliver(absl::Span<const Delivery> deliveries) override ABSL_LOCKS_EXCLUDED(mu_);
  // WriteNextLocked writes what comes next from queue_ (the front delivery's gap notice, or
  // its event); StartWriteLocked writes event_.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWriteLocked(bool more) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void End() override ABSL_LOCKS_EXCLUDED(mu_);
  // FinishLocked finishes the stream once.
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EventHub* const hub_;
  std::shared_ptr<Subscription> subscription_;  // Null for a failed start.
  // Held while starting a write or Finish, so that no write starts after Finish. (gRPC never
  // runs a reaction inline from StartWrite or Finish on the server.)
  Mutex mu_;
  v1::Event event_ ABSL_GUARDED_BY(mu_);  // The write in flight.
  // The batch being written, one write at a time (the hub's credit goes back once it is
  // empty); a delivery whose gap notice was written has its `dropped` cleared.
  std::deque<Delivery> queue_ ABSL_GUARDED_BY(mu_);
  int buffered_ ABSL_GUARDED_BY(mu_) = 0;  // Writes held back by the transport in a row.
  // A write is in flight / the hub ended the subscription: whichever of End and OnWriteDone
  // comes second finishes the stream, so it never finishes under a write.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool end_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace weft::control
