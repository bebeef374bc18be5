#include "control/daemon/daemon.h"

#include <fcntl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "control/admin/status_source.h"
#include "control/audit/audit_interceptor.h"
#include "control/daemon/close_spreader.h"
#include "control/daemon/config_loader.h"
#include "control/daemon/descriptor_plan.h"
#include "control/daemon/listener_builder.h"
#include "control/daemon/reuse_port_check.h"
#include "control/fanout_observer.h"
#include "control/tls_credentials.h"
#include "weft/base/address.h"
#include "weft/base/log.h"
#include "weft/descriptor_limit.h"

namespace weft::control {
namespace {

Role RoleFromConfig(config::v1::Role role) {
  return role == config::v1::ROLE_OPERATOR ? Role::kOperator : Role::kViewer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(const config::v1::Config& config,
                                                       const HandlerRegistry& registry,
                                                       InheritedSockets inherited) {
  std::unique_ptr<Daemon> daemon(new Daemon());
  daemon->config_ = config;
  const config::v1::Control& control = config.control();
  absl::StatusOr<absl::Duration> drain_delay =
      ParseConfigDuration(control.drain_delay(), absl::ZeroDuration());
  if (!drain_delay.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control.drain_delay: ", drain_delay.status().message()));
  }
  daemon->drain_delay_ = *drain_delay;
  absl::StatusOr<absl::Duration> handshake =
      ParseConfigDuration(control.handshake_timeout(), absl::Seconds(5));
  if (!handshake.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control.handshake_timeout: ", handshake.status().message()));
  }
  daemon->handshake_timeout_ = *handshake;
  daemon->control_connections_ = ControlConnectionLimit(control, SoftDescriptorLimit());
  if (config.has_admin()) {
    daemon->admin_connections_ =
        config.admin().max_connections() != 0 ? config.admin().max_connections() : 32;
  }
  const std::size_t gateway_connections = daemon->control_connections_ + daemon->admin_connections_;
  daemon->descriptor_reserve_ = DescriptorReserve(config.descriptors(), gateway_connections);
  if (const std::uint64_t needed = gateway_connections * ControlGateway::kDescriptorsPerConnection;
      daemon->descriptor_reserve_ < needed) {
    const bool admin = daemon->admin_connections_ > 0;
    return absl::FailedPreconditionError(absl::StrCat(
        "descriptors.reserve ", daemon->descriptor_reserve_, " cannot hold the control plane's ",
        daemon->control_connections_, " connections",
        admin ? absl::StrCat(" and the admin endpoint's ", daemon->admin_connections_) : "", " (",
        ControlGateway::kDescriptorsPerConnection, " descriptors each: ", needed,
        "); raise the reserve or lower control.max_connections",
        admin ? " or admin.max_connections" : ""));
  }
  // Refuse a limit that cannot work before anything binds; Start measures again at the end.
  if (absl::StatusOr<DescriptorBudgetPlan> plan =
          SizeDescriptorBudget(daemon->descriptor_reserve_, kMinListenerDescriptors);
      !plan.ok()) {
    return plan.status();
  }

  if (control.tokens_size() == 0) {
    daemon->auth_ = Authenticator::Open();
  } else {
    std::vector<TokenSource> sources;
    for (const config::v1::Token& token : control.tokens()) {
      sources.push_back(
          TokenSource{RoleFromConfig(token.role()), token.token_file(), token.name()});
    }
    absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Load(sources);
    if (!auth.ok()) return auth.status();
    daemon->auth_ = std::move(*auth);
  }

  std::unique_ptr<audit::AuditFile> audit_file;
  if (config.has_audit()) {
    absl::StatusOr<std::unique_ptr<audit::AuditFile>> file =
        audit::AuditFile::Open(config.audit().path());
    if (!file.ok()) {
      return absl::Status(file.status().code(),
                          absl::StrCat("audit.path: ", file.status().message()));
    }
    audit_file = std::move(*file);
  }
  daemon->audit_ = std::make_unique<audit::AuditTrail>(std::move(audit_file));

  std::optional<TlsFiles> tls;
  if (control.has_tls()) {
    tls = TlsFiles{control.tls().cert_file(), control.tls().key_file(),
                   control.tls().client_ca_file()};
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = MakeServerCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  daemon->credentials_ = std::move(*credentials);

  for (const config::v1::Listener& listener : config.listeners()) {
    auto observer = std::make_shared<FanoutObserver>(std::vector<std::shared_ptr<ServerObserver>>{
        daemon->events_.ObserverFor(listener.name()), daemon->health_.ObserverFor(listener.name()),
        daemon->drain_waiter_.Observer()});
    InheritedSocket socket = std::move(inherited.listeners[listener.name()]);
    if (socket.shared) daemon->shared_listeners_.insert(listener.name());
    absl::StatusOr<ManagedServer> server =
        BuildListener(listener, registry, std::move(observer), daemon->budget_, std::move(socket));
    if (!server.ok()) {
      return absl::Status(server.status().code(), absl::StrCat("listener \"", listener.name(),
                                                               "\": ", server.status().message()));
    }
    server->process_draining = daemon->draining_;
    if (absl::Status status = daemon->servers_.Add(std::move(*server)); !status.ok()) {
      return status;
    }
  }
  daemon->inherited_control_ = std::move(inherited.control);
  daemon->inherited_admin_ = std::move(inherited.admin);
  daemon->service_ =
      std::make_unique<ControlService>(&daemon->servers_, &daemon->events_, daemon->auth_.get(),
                                       &daemon->process_info_, daemon->audit_.get());
  return daemon;
}

Daemon::~Daemon() { Stop(); }

absl::Status Daemon::Start() {
  if (const std::optional<std::string> warning = ReusePortMigrationWarning(config_)) {
    LOG(WARNING) << *warning;
  }
  for (ManagedServer* managed : servers_.All()) {
    if (absl::Status status = StartListener(managed); !status.ok()) {
      Stop();
      return status;
    }
  }
  const config::v1::Control& control = config_.control();
  ControlPlaneOptions options;
  options.address = control.address().empty() ? "127.0.0.1:7070" : control.address();
  options.credentials = credentials_;
  options.max_connections = control_connections_;
  options.handshake_timeout = handshake_timeout_;
  options.listen_socket = std::move(inherited_control_);
  if (config_.has_admin()) {
    // Every Control method shows up in /metrics from the start, with zeros.
    rpc_metrics_.RegisterService(
        *v1::GetServerRequest::descriptor()->file()->FindServiceByName("Control"));
    options.interceptors.push_back(rpc_metrics_.NewInterceptorFactory());
  }
  // Calls reach gRPC through the gateway; records name the client the gateway accepted.
  options.interceptors.push_back(std::make_unique<audit::AuditInterceptorFactory>(
      audit_.get(), auth_.get(), [this](const std::string& peer) {
        const ControlGateway* gateway = control_gateway_.load(std::memory_order_acquire);
        return gateway != nullptr ? gateway->ClientAddress(peer) : peer;
      }));
  if (!IsLoopbackAddress(options.address) && !auth_->enabled() &&
      control.tls().client_ca_file().empty()) {
    LOG(WARNING) << "the control plane on " << options.address
                 << " is reachable from other hosts WITHOUT authentication (allow_insecure)";
  }
  absl::StatusOr<std::unique_ptr<ControlPlane>> plane =
      ControlPlane::Start(std::move(options), service_.get(), &health_);
  if (!plane.ok()) {
    Stop();
    return plane.status();
  }
  control_plane_ = std::move(*plane);
  control_gateway_.store(&control_plane_->gateway(), std::memory_order_release);

  if (config_.has_admin()) {
    admin::AdminServerOptions admin_options{.address = config_.admin().address(),
                                            .max_connections = admin_connections_,
                                            .listen_socket = std::move(inherited_admin_)};
    if (control.has_tls()) {
      admin_options.tls = TlsFiles{control.tls().cert_file(), control.tls().key_file(),
                                   control.tls().client_ca_file()};
    }
    std::shared_ptr<grpc::Channel> channel = control_plane_->InProcessChannel();
    admin::AdminSources sources{
        .metrics = [this] { return metrics_source_.Render(); },
        .status_page = admin::StatusPageSource(channel, weft::kVersion),
        .ready = [this] { return health_.Ready(); },
        .control_channel = channel,
    };
    absl::StatusOr<std::unique_ptr<admin::AdminServer>> admin =
        admin::AdminServer::Start(std::move(admin_options), std::move(sources), auth_.get());
    if (!admin.ok()) {
      Stop();
      return admin.status();
    }
    admin_ = std::move(*admin);
  }

  // Connections accepted since the listeners started hold budget already: they belong to the
  // listeners' share, not to the process's fixed descriptors.
  absl::StatusOr<DescriptorBudgetPlan> plan =
      SizeDescriptorBudget(descriptor_reserve_, kMinListenerDescriptors, budget_->in_use());
  if (!plan.ok()) {
    Stop();
    return plan.status();
  }
  budget_->Resize(plan->listeners);
  LOG(INFO) << "descriptors: limit " << plan->limit << ", " << plan->open << " open at start, "
            << plan->reserve << " reserved (control plane: " << control_connections_
            << " connections), " << plan->listeners << " for listeners' connections";
  return absl::OkStatus();
}

absl::Status Daemon::StartListener(ManagedServer* managed) {
  weft::Server* server = managed->server.get();
  if (server->task_manager().RunsTasksOnCaller()) {
    runners_.emplace_back([server, name = managed->name] {
      if (absl::Status status = server->Run(); !status.ok()) {
        LOG(ERROR) << "listener \"" << name << "\": " << status;
      }
    });
    return absl::OkStatus();
  }
  if (absl::Status status = server->Run(); !status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("listener \"", managed->name, "\" on ", server->address(), ":",
                                     server->port(), ": ", status.message()));
  }
  return absl::OkStatus();
}

v1::HandoffOffer Daemon::OfferSockets(std::vector<UniqueFd>* fds) {
  v1::HandoffOffer offer;
  const auto add = [&](v1::HandoffSocketKind kind, const std::string& name, int fd, bool shared) {
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy.valid()) {
      PLOG(ERROR) << "hand-off: cannot duplicate the socket of " << (name.empty() ? "?" : name);
      return;
    }
    v1::HandoffSocket* socket = offer.add_sockets();
    socket->set_kind(kind);
    socket->set_name(name);
    socket->set_address(ListeningAddress(fd));
    socket->set_shared(shared);
    fds->push_back(std::move(copy));
  };
  for (const ManagedServer* managed : servers_.All()) {
    if (const std::optional<int> fd = managed->server->socket(); fd.has_value()) {
      add(v1::HANDOFF_SOCKET_KIND_LISTENER, managed->name, *fd,
          shared_listeners_.contains(managed->name));
    }
  }
  if (control_plane_ != nullptr) {
    add(v1::HANDOFF_SOCKET_KIND_CONTROL, "", control_plane_->gateway().listen_fd(), false);
  }
  if (admin_ != nullptr) {
    add(v1::HANDOFF_SOCKET_KIND_ADMIN, "", admin_->gateway().listen_fd(), false);
  }
  return offer;
}

void Daemon::ReleaseSockets(const v1::HandoffReady& ready) {
  for (const std::string& name : ready.listeners()) {
    ManagedServer* managed = servers_.Find(name);
    if (managed == nullptr) continue;
    managed->server->ReleaseListener();
    released_.push_back(managed);
  }
  if (ready.control() && control_plane_ != nullptr) control_plane_->gateway().ReleaseListener();
  if (ready.admin() && admin_ != nullptr) admin_->gateway().ReleaseListener();
  gateways_released_ = ready.control() || ready.admin();
  admin_released_ = ready.admin() && admin_ != nullptr;
}

void Daemon::ResumeSockets() {
  for (ManagedServer* managed : released_) {
    if (absl::Status status = StartListener(managed); !status.ok()) {
      LOG(ERROR) << "hand-off: cannot take the socket back: " << status;
    }
  }
  released_.clear();
  if (gateways_released_) {
    if (control_plane_ != nullptr) control_plane_->gateway().ResumeListener();
    if (admin_ != nullptr) admin_->gateway().ResumeListener();
    gateways_released_ = false;
    admin_released_ = false;
  }
}

void Daemon::Drain(DrainCause cause) {
  process_info_.set_draining(true);
  draining_->store(true);
  health_.SetDraining(true);
  if (cause == DrainCause::kHandedOff) {
    LOG(INFO) << "draining after the hand-off: the successor accepts; finishing open connections";
  } else if (drain_delay_ > absl::ZeroDuration()) {
    LOG(INFO) << "draining: health NOT_SERVING; still accepting for the drain delay ("
              << absl::FormatDuration(drain_delay_) << ") while load balancers stop routing here";
    drain_waiter_.Wait([] { return false; }, absl::Now() + drain_delay_);
    if (drain_waiter_.aborted()) {
      for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
      return;
    }
    LOG(INFO) << "draining: drain delay over, no new connections";
  } else {
    LOG(INFO) << "draining: health NOT_SERVING, no new connections";
  }
  absl::Duration drain = absl::ZeroDuration();
  for (ManagedServer* managed : servers_.All()) {
    managed->server->StopAccepting();
    drain = std::max(drain, managed->drain_timeout);
  }
  const absl::Time drain_deadline = absl::Now() + drain;
  SpreadCloses(servers_.All(), &drain_waiter_, drain_deadline, TaskManager::kDefaultGrace);
  std::size_t open = 0;
  drain_waiter_.Wait(
      [&] {
        open = 0;
        for (const ManagedServer* managed : servers_.All()) open += managed->server->stats().open;
        return open == 0;
      },
      drain_deadline);
  if (open > 0) {
    LOG(WARNING) << "drain ended with " << open << " connections still open; closing them";
  } else {
    LOG(INFO) << "drained: every connection has ended";
  }
  // After a hand-off the admin endpoint accepts nothing more, but a request it took just before
  // the release may still be in flight, and Stop would cut it: let it finish, within the drain.
  // (Without a hand-off the endpoint serves until Stop.)
  if (cause == DrainCause::kHandedOff && admin_released_ &&
      !admin_->gateway().WaitUntilIdle(drain_deadline)) {
    LOG(WARNING) << "drain ended with admin requests still open; closing them";
  }
  for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
}

void Daemon::Stop() {
  // The admin endpoint first: its requests call the control plane.
  if (admin_ != nullptr) admin_->Stop();
  if (control_plane_ != nullptr) control_plane_->Shutdown(absl::Seconds(1));
  for (ManagedServer* managed : servers_.All()) managed->server->Stop(absl::ZeroDuration());
  for (std::thread& runner : runners_) runner.join();
  runners_.clear();
}

int Daemon::admin_port() const { return admin_ != nullptr ? admin_->port() : 0; }

int Daemon::control_port() const { return control_plane_ != nullptr ? control_plane_->port() : 0; }

}  // namespace weft::control
