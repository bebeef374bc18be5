// Daemon: weftd's composition root — listeners from the configuration, the control plane, and
// the graceful drain.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/admin/admin_server.h"
#include "control/admin/metrics_source.h"
#include "control/admin/rpc_metrics.h"
#include "control/audit/audit_trail.h"
#include "control/auth.h"
#include "control/control_plane.h"
#include "control/control_service.h"
#include "control/daemon/drain_waiter.h"
#include "control/daemon/inherited_sockets.h"
#include "control/event_hub.h"
#include "control/health_reporter.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "weft/base/sync.h"
#include "weft/base/version.h"
#include "weft/config/v1/config.pb.h"
#include "weft/control/v1/handoff.pb.h"
#include "weft/descriptor_budget.h"
#include "weft/handlers/handler_registry.h"

namespace weft::control {

// Daemon: Start, Drain and Stop are called from one thread (weftd's main thread, or Drain on
// a thread it joins); AbortDrain from anywhere.
class Daemon {
 public:
  // Create builds (but does not start) every listener and loads tokens and TLS files. A
  // listener with a socket in `inherited` (systemd's, control/daemon/systemd.h, or a
  // predecessor's, control/daemon/handoff/) accepts from it instead of binding its address,
  // and so do the control plane and admin endpoint; the others bind as configured.
  // Errors: those of token and certificate loading, and of building listeners;
  // FAILED_PRECONDITION when RLIMIT_NOFILE cannot hold the descriptor reserve and a minimum of
  // listener descriptors (the message gives the figures).
  static absl::StatusOr<std::unique_ptr<Daemon>> Create(const config::v1::Config& config,
                                                        const HandlerRegistry& registry,
                                                        InheritedSockets inherited = {});
  ~Daemon();

  // Start starts every listener, then the control plane, then sizes the descriptor budget from
  // what is open at that point (see config.proto, Descriptors). Errors: those of the listeners
  // and the control plane; FAILED_PRECONDITION when the descriptor limit is too low. On error
  // nothing is left running.
  absl::Status Start();

  // Drain is the graceful shutdown: health turns NOT_SERVING; the listeners keep accepting for
  // control.drain_delay (so that load balancers and readiness probes see NOT_SERVING and stop
  // routing here before the sockets close); then every listener stops accepting, open
  // connections get up to the longest drain_timeout to end on their own (the drain wakes as
  // each one ends: it returns as soon as the last has) — those of a listener with a
  // close_spread are asked to close one by one over it (close_spreader.h) — and the listeners
  // are stopped (remaining connections shut down). The control plane keeps answering until Stop.
  // After a hand-off (kHandedOff) there is no drain delay: a successor serves the sockets.
  enum class DrainCause { kSignal, kHandedOff };
  void Drain(DrainCause cause = DrainCause::kSignal);

  // AbortDrain ends Drain's waits at once (the listeners are then stopped with zero grace).
  // Thread-safe; may be called before, during or after Drain.
  void AbortDrain() { drain_waiter_.Abort(); }

  // Stop stops every listener at once (zero grace) and the control plane. Idempotent.
  void Stop();

  // The hand-off (control/daemon/handoff/): what this process offers a successor, and what it
  // does once the successor serves. Called from the hand-off server's thread, between Start
  // and Drain.
  //
  // OfferSockets describes every listening socket — running listeners by name, the control
  // plane, the admin endpoint — and appends a duplicate descriptor of each to `fds`, in order.
  v1::HandoffOffer OfferSockets(std::vector<UniqueFd>* fds);
  // ReleaseSockets stops accepting on what the successor took (`ready`), leaving the sockets
  // listening for it (Server::ReleaseListener, ControlGateway::ReleaseListener). Listeners it
  // did not take go on until the drain.
  void ReleaseSockets(const v1::HandoffReady& ready);
  // ResumeSockets takes released sockets back (the successor died before it was done): every
  // released listener accepts again, and so do the gateways.
  void ResumeSockets();

  // control_port: the control plane's TCP port (0 for a unix socket, or before Start).
  int control_port() const;
  // admin_port: the admin endpoint's TCP port (0 without an admin block, or before Start).
  int admin_port() const;
  const ServerSet& servers() const { return servers_; }
  // process_info: this process's pid, start time, generation, draining and hand-off peer, as
  // GetProcess and /metrics report them (Drain sets draining; the hand-off code the rest).
  ProcessInfo& process_info() { return process_info_; }

 private:
  Daemon() = default;
  // StartListener runs one listener: on a runner thread of its own when its manager runs tasks
  // on the caller. Errors: those of Server::Run.
  absl::Status StartListener(ManagedServer* managed);

  // First, so that its start time precedes everything the daemon builds.
  ProcessInfo process_info_;
  config::v1::Config config_;
  // control.drain_delay.
  absl::Duration drain_delay_ = absl::ZeroDuration();
  // control.handshake_timeout.
  absl::Duration handshake_timeout_ = absl::Seconds(5);
  // The control gateway's connection cap and the descriptors kept back from listeners.
  std::size_t control_connections_ = 0;
  // The admin endpoint's connection cap (0 without an admin block).
  std::size_t admin_connections_ = 0;
  std::uint64_t descriptor_reserve_ = 0;
  // Shared by every listener; unsized (admits all) until Start has measured what it used.
  std::shared_ptr<DescriptorBudget> budget_ = std::make_shared<DescriptorBudget>();
  EventHub events_{/*capacity=*/4096, /*max_subscribers=*/1024};
  HealthReporter health_;
  DrainWaiter drain_waiter_;
  std::unique_ptr<Authenticator> auth_;
  // Every mutating or refused control call; filed to audit.path when configured.
  std::unique_ptr<audit::AuditTrail> audit_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  ServerSet servers_;
  // Set by Drain: every server then reports draining (ManagedServer::process_draining).
  std::shared_ptr<std::atomic<bool>> draining_ = std::make_shared<std::atomic<bool>>(false);
  // The control plane's RPCs, counted by an interceptor when the admin endpoint serves them;
  // outlives the control plane.
  admin::RpcMetrics rpc_metrics_;
  admin::MetricsSource metrics_source_{&servers_, &rpc_metrics_, &process_info_, weft::kVersion};
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<ControlPlane> control_plane_;
  // control_plane_'s gateway once started, for the audit trail's peer names: calls may arrive
  // before Start has stored control_plane_ (those few keep gRPC's name for their peer).
  std::atomic<const ControlGateway*> control_gateway_{nullptr};
  std::unique_ptr<admin::AdminServer> admin_;
  // Threads serving listeners whose manager runs tasks on the Run caller.
  std::vector<std::thread> runners_;
  // Sockets inherited for the control plane and the admin endpoint, adopted by Start.
  UniqueFd inherited_control_;
  UniqueFd inherited_admin_;
  // Listeners released to a successor by ReleaseSockets (ResumeSockets runs them again).
  std::vector<ManagedServer*> released_;
  bool gateways_released_ = false;
  // The admin endpoint's listener among them: Drain lets its requests in flight finish.
  bool admin_released_ = false;
  // Listeners whose inherited socket is shared with systemd (offered as such to a successor).
  std::set<std::string> shared_listeners_;
};

}  // namespace weft::control
