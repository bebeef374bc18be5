// HealthReporter: keeps the standard grpc.health.v1 service in step with the listeners — one
// service name per listener (SERVING only while it accepts), plus the overall status "" and
// the control service's own name, which a drain turns NOT_SERVING.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/health_check_service_interface.h>

#include "absl/container/flat_hash_map.h"
#include "weft/base/serial_delivery.h"
#include "weft/base/sync.h"
#include "weft/server_observer.h"

namespace weft::control {

// HealthReporter: thread-safe. gRPC's health service is never called under mu_: each change
// queues its publications on publish_ (in the order of the changes, so the last status
// published is the last one recorded) and the changing thread delivers them once it has
// released mu_. Lock order: mu_, then publish_'s leaf lock.
class HealthReporter {
 public:
  // ControlServiceName is the health service name of the control plane itself.
  static constexpr char kControlServiceName[] = "weft.control.v1.Control";

  // ObserverFor returns an observer for listener `name` that reports its state changes.
  // The reporter must outlive the server using it.
  std::shared_ptr<ServerObserver> ObserverFor(std::string name);

  // Attach starts reporting to `health` (owned by the gRPC server, which must outlive the
  // reporter's use: call Detach before it is destroyed) and publishes every known status.
  void Attach(grpc::HealthCheckServiceInterface* health) ABSL_LOCKS_EXCLUDED(mu_);
  // Detach stops reporting; when it returns, no call into the detached service is running or
  // will be made.
  void Detach() ABSL_LOCKS_EXCLUDED(mu_);

  // SetListenerServing records and publishes one listener's status.
  void SetListenerServing(const std::string& name, bool serving) ABSL_LOCKS_EXCLUDED(mu_);

  // SetDraining turns the overall and control statuses NOT_SERVING (true) or SERVING (false),
  // and every listener NOT_SERVING while draining.
  void SetDraining(bool draining) ABSL_LOCKS_EXCLUDED(mu_);

  // Ready is true when not draining and every listener is SERVING (accepting): what the admin
  // endpoint's /readyz reports.
  bool Ready() const ABSL_LOCKS_EXCLUDED(mu_);

  // Draining is true between SetDraining(true) and SetDraining(false).
  bool Draining() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // PublishAllLocked queues the publication of every status.
  void PublishAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PublishLocked queues the publication of one status.
  void PublishLocked(const std::string& service, bool serving) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  SerialDelivery publish_;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<std::string, bool> listeners_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace weft::control
