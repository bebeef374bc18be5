#include "weft/server.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <optional>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/internal/acceptor.h"
#include "server/internal/socket.h"
#include "server/internal/task_control.h"
#include "weft/base/log.h"
#include "weft/base/names.h"
#include "weft/base/serial_delivery.h"
#include "weft/base/sync.h"
#include "weft/base/thread.h"
#include "weft/task_context.h"
#include "weft/threaded_task_manager.h"

namespace weft {
namespace internal {

// ConnectionTicket: travels inside a connection's thunk. It counts the connection as open (and
// holds the descriptor it took from the budget) for as long as it lives, and reports
// kTaskRemoved if the task was admitted but dropped before it ran (a dropped task releases its
// slot as surely as a finished one).
class ConnectionTicket {
 public:
  ConnectionTicket(ServerImpl* server, Endpoint peer);
  ConnectionTicket(ConnectionTicket&& other) noexcept
      : server_(std::exchange(other.server_, nullptr)),
        peer_(std::move(other.peer_)),
        admitted_id_(std::move(other.admitted_id_)),
        admitted_ns_(other.admitted_ns_),
        ran_(other.ran_) {}
  ConnectionTicket& operator=(ConnectionTicket&&) = delete;
  ~ConnectionTicket();

  const Endpoint& peer() const { return peer_; }
  // admitted_id is shared with the task's on_admitted callback, which stores the id.
  const std::shared_ptr<std::atomic<TaskId>>& admitted_id() const { return admitted_id_; }
  void MarkRan() { ran_ = true; }
  // age returns how long since the connection was admitted.
  absl::Duration age() const { return absl::Nanoseconds(SteadyNanos() - admitted_ns_); }
  // Close stops counting the connection as open and returns its descriptor to the budget,
  // before the ticket is destroyed: called once the connection's socket is closed, so that an
  // observer told kTaskFinished already sees it gone from ServerStats::open.
  void Close();

 private:
  ServerImpl* server_;
  Endpoint peer_;
  std::shared_ptr<std::atomic<TaskId>> admitted_id_ = std::make_shared<std::atomic<TaskId>>(0);
  std::int64_t admitted_ns_ = SteadyNanos();
  bool ran_ = false;
};

// ServerStopListener: turns the manager's stop reports into the server's events and counts.
// Shared with the manager, which holds it while a stop runs; the server detaches it from the
// manager before it goes.
class ServerStopListener final : public StopListener {
 public:
  explicit ServerStopListener(ServerImpl* server) : server_(server) {}
  void OnStopProgress(const StopProgress& progress) override;
  void OnTaskStuck(const TaskInfo& task, absl::Duration since_request) override;

 private:
  ServerImpl* const server_;
};

class ServerImpl {
 public:
  explicit ServerImpl(ServerOptions options) : options_(std::move(options)) {
    CHECK(options_.handler) << "ServerOptions.handler is required";
    if (options_.manager == nullptr) options_.manager = std::make_unique<ThreadedTaskManager>();
    manager_ = options_.manager.get();
    manager_->set_stop_listener(stop_listener_);
  }
  ~ServerImpl() { options_.manager->set_stop_listener(nullptr); }

  absl::Status Run() ABSL_LOCKS_EXCLUDED(lifecycle_, mu_);
  StopReport Stop(absl::Duration grace) ABSL_LOCKS_EXCLUDED(lifecycle_, mu_);
  void StopAccepting() ABSL_LOCKS_EXCLUDED(lifecycle_, mu_) {
    absl::Cleanup deliver = [this] { state_events_.Flush(); };  // After the lock is released.
    MutexLock lock(&lifecycle_);
    StopAcceptingLocked(Acceptor::StopMode::kShutDown);
  }

  void ReleaseListener() ABSL_LOCKS_EXCLUDED(lifecycle_, mu_);

  TaskManager& task_manager() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return *manager_;
  }
  ConnectionLimits connection_limits() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return options_.limits;
  }
  absl::Status set_task_manager(TaskManagerPtr manager) ABSL_LOCKS_EXCLUDED(lifecycle_, mu_);
  std::optional<int> socket() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (state_ != ServerState::kRunning) return std::nullopt;
    return acceptor_->listen_fd();
  }
  std::string address() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (listen_socket_.valid()) return LocalEndpoint(listen_socket_.get()).address;
    return options_.address;
  }
  void set_address(std::string address) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    options_.address = std::move(address);
  }
  bool reuse_port() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return options_.reuse_port;
  }
  std::uint16_t port() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (listen_socket_.valid()) return LocalEndpoint(listen_socket_.get()).port;
    return state_ == ServerState::kRunning ? bound_port_ : options_.port;
  }
  void set_port(std::uint16_t port) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    options_.port = port;
  }
  Handler connection_handler() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return *handler_;
  }
  void set_connection_handler(Handler handler) ABSL_LOCKS_EXCLUDED(mu_) {
    CHECK(handler) << "a server needs a handler";
    MutexLock lock(&mu_);
    handler_ = std::make_shared<const Handler>(std::move(handler));
  }
  std::optional<std::size_t> max_connections() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return options_.max_connections;
  }
  void set_max_connections(std::optional<std::size_t> max) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    options_.max_connections = max;
  }
  ServerState state() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return state_;
  }
  absl::Duration stop_grace() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return options_.stop_grace;
  }
  ServerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Emit stamps and delivers an event to the observer, if any. Call without locks held.
  void Emit(ServerEvent event) const;
  std::atomic<std::size_t>& open() { return open_; }
  // budget: ServerOptions::descriptor_budget, null if none. A ConnectionTicket releases the
  // descriptor its connection took.
  DescriptorBudget* budget() const { return budget_.get(); }
  std::atomic<std::uint64_t>& stuck() { return stuck_; }

 private:
  // SetState changes the state and queues its kStateChanged event on state_events_; whoever
  // changed it delivers the event (Flush) once it holds no lock.
  // Returns the event's sequence number in state_events_.
  std::uint64_t SetState(ServerState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Refuse(const Endpoint& peer, RefusalReason reason);
  // StopAcceptingLocked stops the acceptor with `mode`, or leaves the socket listening whatever
  // the mode when it is shared (ServerOptions::listen_socket_shared).
  void StopAcceptingLocked(Acceptor::StopMode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_)
      ABSL_LOCKS_EXCLUDED(mu_);
  // OnAccept admits a connection; `listener_local` is its local address when the listener is
  // bound to one address (all its connections share it), nullopt for a wildcard listener.
  void OnAccept(UniqueFd fd, Endpoint peer, const std::optional<Endpoint>& listener_local)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnShed(const Endpoint& peer);
  void Serve(UniqueFd fd, ConnectionTicket& ticket, const Handler& handler, const HandlerArgs& args,
             const ConnectionLimits& limits, const std::optional<Endpoint>& listener_local);
  // CountClose counts a connection that ran, once its socket is closed: its initiator (decided
  // now by its task) and its duration. Called on the task.
  void CountClose(const ConnectionTicket& ticket);
  // RunLoopOnCaller serves on the Run caller's thread (managers without threads).
  void RunLoopOnCaller() ABSL_LOCKS_EXCLUDED(mu_);

  // Lock order: lifecycle_, then mu_; state_events_' own lock is a leaf under both. No observer
  // callback runs under any of them (see ServerObserver).
  Mutex lifecycle_;  // Serialises Run, Stop and StopAccepting.
  std::thread acceptor_thread_ ABSL_GUARDED_BY(lifecycle_);

  mutable Mutex mu_ ABSL_ACQUIRED_AFTER(lifecycle_);
  CondVar loop_exited_;
  ServerOptions options_ ABSL_GUARDED_BY(mu_);
  // Fixed at construction; read without the lock.
  const std::shared_ptr<ServerObserver> observer_ = options_.observer;
  const std::shared_ptr<DescriptorBudget> budget_ = options_.descriptor_budget;
  // The socket each Run accepts from (a duplicate of it) instead of binding:
  // ServerOptions::listen_socket, or the server's own kept by ReleaseListener (released_, closed
  // by Stop).
  UniqueFd listen_socket_ ABSL_GUARDED_BY(mu_) = std::move(options_.listen_socket);
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  const bool listen_socket_shared_ = options_.listen_socket_shared;
  TaskManager* manager_ ABSL_GUARDED_BY(mu_);  // options_.manager; changes only when stopped.
  std::shared_ptr<const Handler> handler_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const Handler>(options_.handler);
  std::shared_ptr<const HandlerArgs> args_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const HandlerArgs>(options_.args);
  std::unique_ptr<Acceptor> acceptor_ ABSL_GUARDED_BY(mu_);
  ServerState state_ ABSL_GUARDED_BY(mu_) = ServerState::kStopped;
  std::uint16_t bound_port_ ABSL_GUARDED_BY(mu_) = 0;
  bool loop_on_caller_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // State events, queued under mu_ in the order the states were taken.
  SerialDelivery state_events_;

  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::array<std::atomic<std::uint64_t>, kRefusalReasonCount> refused_by_reason_{};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> stuck_{0};
  std::atomic<std::size_t> open_{0};
  // Traffic totals in shards (a connection adds to the one of its task id), so that connections
  // on different cores do not fight over one cache line on every read and write.
  static constexpr std::size_t kIoTotalShards = 8;
  std::array<IoTotals, kIoTotalShards> io_totals_;
  std::array<std::atomic<std::uint64_t>, kCloseInitiatorCount> closed_by_initiator_{};
  base::Histogram durations_{base::DurationBucketsSeconds()};
  // Cleared under mu_ with the change to kStopped, and read with the state: a stopped server is
  // never seen draining.
  std::atomic<bool> draining_{false};
  const std::shared_ptr<ServerStopListener> stop_listener_ =
      std::make_shared<ServerStopListener>(this);
};

namespace {

// EndpointFromPeer reads a task's peer label back ("127.0.0.1:80", "[::1]:80"); a label that
// is not an endpoint becomes the address with port 0.
Endpoint EndpointFromPeer(absl::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  std::uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(peer.substr(colon + 1), &port) ||
      port > 65535) {
    return Endpoint{std::string(peer), 0};
  }
  absl::string_view address = peer.substr(0, colon);
  if (absl::ConsumePrefix(&address, "[")) absl::ConsumeSuffix(&address, "]");
  return Endpoint{std::string(address), static_cast<std::uint16_t>(port)};
}

}  // namespace

void ServerStopListener::OnStopProgress(const StopProgress& progress) {
  ServerEvent event{.kind = ServerEvent::Kind::kDrainProgress};
  event.drain = progress;
  server_->Emit(std::move(event));
}

void ServerStopListener::OnTaskStuck(const TaskInfo& task, absl::Duration since_request) {
  server_->stuck().fetch_add(1);
  ServerEvent event{.kind = ServerEvent::Kind::kTaskStuck};
  event.task_id = task.id;
  event.peer = EndpointFromPeer(task.peer);
  event.stuck_for = since_request;
  server_->Emit(std::move(event));
}

absl::Status ServerImpl::Run() {
  absl::Cleanup deliver = [this] { state_events_.Flush(); };  // After the locks are released.
  MutexLock lifecycle(&lifecycle_);
  std::string address;
  std::uint16_t port;
  int backlog;
  ListenTcpOptions listen_options;
  std::optional<absl::StatusOr<UniqueFd>> kept;
  {
    MutexLock lock(&mu_);
    if (state_ == ServerState::kRunning) {
      return absl::FailedPreconditionError(absl::StrCat(
          "server is already running on ", Endpoint{options_.address, bound_port_}.ToString()));
    }
    if (loop_on_caller_) {
      return absl::FailedPreconditionError(
          "the previous Run is still serving its remaining connections");
    }
    address = options_.address;
    port = options_.port;
    backlog = options_.backlog;
    listen_options.reuse_port = options_.reuse_port;
    if (listen_socket_.valid()) kept = DuplicateListeningSocket(listen_socket_.get());
  }
  absl::StatusOr<UniqueFd> listen_fd =
      kept.has_value() ? std::move(*kept) : ListenTcp(address, port, backlog, listen_options);
  if (!listen_fd.ok()) return listen_fd.status();
  const Endpoint local = LocalEndpoint(listen_fd->get());
  // A listener bound to one address gives every connection that local address: no
  // getsockname() per connection then.
  std::optional<Endpoint> listener_local;
  if (!IsWildcard(local)) listener_local = local;
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor = Acceptor::Create(
      std::move(*listen_fd),
      [this, listener_local](UniqueFd fd, Endpoint peer) {
        OnAccept(std::move(fd), peer, listener_local);
      },
      [this](Endpoint peer) { OnShed(peer); });
  if (!acceptor.ok()) return acceptor.status();

  Acceptor* loop;
  bool on_caller;
  std::uint64_t running_event = 0;
  {
    MutexLock lock(&mu_);
    if (state_ == ServerState::kStopped) started_ = absl::Now();
    running_event = SetState(ServerState::kRunning);
    bound_port_ = local.port;
    acceptor_ = std::move(*acceptor);
    loop = acceptor_.get();
    on_caller = manager_->RunsTasksOnCaller();
    loop_on_caller_ = on_caller;
  }
  LOG(INFO) << "listening on " << local.ToString() << (kept.has_value() ? " (adopted socket)" : "");
  if (!on_caller) {
    // kRunning is seen before the first connection's events: the acceptor waits until it has
    // been delivered (by this Run's return, or whoever flushes first). It only waits, never
    // delivers: StopAccepting joins this thread while holding lifecycle_.
    acceptor_thread_ = std::thread([this, loop, running_event] {
      pthread_setname_np(pthread_self(), "weft-accept");  // For top -H, perf and /proc.
      // Woken by each new connection, the loop would preempt the threads serving the ones it
      // accepted before: a switch each. As a batch thread it accepts when they block.
      if (absl::Status s = base::UseBatchScheduling(); !s.ok()) {
        LOG(WARNING) << "the accept loop keeps its scheduling policy: " << s;
      }
      state_events_.AwaitDelivered(running_event);
      loop->Loop([] {});
    });
    return absl::OkStatus();
  }
  lifecycle_.Unlock();
  state_events_.Flush();  // kRunning is seen before the first connection is served.
  RunLoopOnCaller();
  lifecycle_.Lock();
  return absl::OkStatus();
}

void ServerImpl::RunLoopOnCaller() {
  Acceptor* loop;
  TaskManager* manager;
  {
    MutexLock lock(&mu_);
    loop = acceptor_.get();
    manager = manager_;
  }
  loop->Loop([manager] { manager->RunPendingTasks(); });
  // Accepting has stopped; connections already admitted are still served (StopAccepting) or
  // have been dropped (Stop).
  manager->RunPendingTasks();
  MutexLock lock(&mu_);
  acceptor_.reset();
  loop_on_caller_ = false;
  loop_exited_.SignalAll();
}

void ServerImpl::StopAcceptingLocked(Acceptor::StopMode mode) {
  {
    MutexLock lock(&mu_);
    if (state_ != ServerState::kRunning) return;
    SetState(ServerState::kNotAccepting);
    acceptor_->Stop(listen_socket_shared_ ? Acceptor::StopMode::kLeaveListening : mode);
  }
  if (acceptor_thread_.joinable()) {
    acceptor_thread_.join();
    MutexLock lock(&mu_);
    acceptor_.reset();
  }
  LOG(INFO) << "stopped accepting";
}

void ServerImpl::ReleaseListener() {
  absl::Cleanup deliver = [this] { state_events_.Flush(); };  // After the lock is released.
  MutexLock lifecycle(&lifecycle_);
  {
    MutexLock lock(&mu_);
    if (state_ != ServerState::kRunning) return;
    if (!listen_socket_.valid()) {
      // Keep a descriptor of the server's own socket: the acceptor closes its own.
      listen_socket_ = UniqueFd(::fcntl(acceptor_->listen_fd(), F_DUPFD_CLOEXEC, 0));
      if (!listen_socket_.valid()) {
        PLOG(ERROR) << "cannot keep the released listening socket; it closes with the acceptor";
      }
      released_ = listen_socket_.valid();
    }
  }
  StopAcceptingLocked(Acceptor::StopMode::kLeaveListening);
  LOG(INFO) << "released the listening socket (it goes on listening for its other holders)";
}

StopReport ServerImpl::Stop(absl::Duration grace) {
  // Observers learn kNotAccepting now, not after the grace period: health turns NOT_SERVING
  // while the tasks drain.
  StopAccepting();
  absl::Cleanup deliver = [this] { state_events_.Flush(); };  // After the locks are released.
  MutexLock lifecycle(&lifecycle_);
  TaskManager* manager;
  {
    MutexLock lock(&mu_);
    if (state_ == ServerState::kStopped) return StopReport{};
    manager = manager_;
  }
  // A Run may have slipped in since StopAccepting.
  StopAcceptingLocked(Acceptor::StopMode::kShutDown);
  draining_.store(true);
  const StopReport report = manager->StopAllTasks(grace);
  MutexLock lock(&mu_);
  loop_exited_.Await(&mu_, [this]() {
    mu_.AssertHeld();
    return !loop_on_caller_;
  });
  draining_.store(false);
  if (released_) {
    listen_socket_.Reset();  // Closed, never shut down: its other holders go on listening.
    released_ = false;
  }
  SetState(ServerState::kStopped);
  LOG(INFO) << "stopped: " << report.cooperative << " tasks ended cooperatively, " << report.forced
            << " forced, " << report.dropped << " queued dropped";
  return report;
}

absl::Status ServerImpl::set_task_manager(TaskManagerPtr manager) {
  CHECK(manager != nullptr);
  MutexLock lifecycle(&lifecycle_);
  MutexLock lock(&mu_);
  if (state_ != ServerState::kStopped || loop_on_caller_) {
    return absl::FailedPreconditionError("the task manager can only be replaced while stopped");
  }
  options_.manager->set_stop_listener(nullptr);
  options_.manager = std::move(manager);
  manager_ = options_.manager.get();
  manager_->set_stop_listener(stop_listener_);
  return absl::OkStatus();
}

ServerStats ServerImpl::stats() const {
  ServerStats stats;
  TaskManager* manager;
  {
    MutexLock lock(&mu_);
    stats.state = state_;
    stats.started = started_;
    stats.draining = draining_.load();
    manager = manager_;
  }
  const TaskManagerStats tasks = manager->Stats();
  stats.running = tasks.running;
  stats.queued = tasks.queued;
  stats.idle_threads = tasks.idle_threads;
  stats.accepted = accepted_.load();
  stats.refused = refused_.load();
  for (int i = 0; i < kRefusalReasonCount; ++i) {
    stats.refused_by_reason[i] = refused_by_reason_[i].load();
  }
  stats.failed = failed_.load();
  stats.stuck_total = stuck_.load();
  stats.open = open_.load();
  for (const IoTotals& shard : io_totals_) {
    stats.received_bytes += shard.bytes_in.load(std::memory_order_relaxed);
    stats.sent_bytes += shard.bytes_out.load(std::memory_order_relaxed);
  }
  for (int i = 0; i < kCloseInitiatorCount; ++i) {
    stats.closed_by_initiator[i] = closed_by_initiator_[i].load(std::memory_order_acquire);
  }
  stats.connection_durations = durations_.Snapshot();  // After the closes: see CountClose.
  return stats;
}

std::uint64_t ServerImpl::SetState(ServerState state) {
  state_ = state;
  ServerEvent event{.kind = ServerEvent::Kind::kStateChanged};
  event.state = state;
  event.time = absl::Now();
  return state_events_.Post([this, event] {
    if (observer_ != nullptr) observer_->OnEvent(event);
  });
}

void ServerImpl::Emit(ServerEvent event) const {
  if (observer_ == nullptr) return;
  event.time = absl::Now();
  observer_->OnEvent(event);
}

void ServerImpl::Refuse(const Endpoint& peer, RefusalReason reason) {
  refused_.fetch_add(1);
  refused_by_reason_[static_cast<int>(reason)].fetch_add(1);
  ServerEvent event{.kind = ServerEvent::Kind::kConnectionRefused};
  event.peer = peer;
  event.refusal = reason;
  Emit(std::move(event));
}

void ServerImpl::OnShed(const Endpoint& peer) {
  Refuse(peer, RefusalReason::kDescriptorsExhausted);
  LOG_EVERY_N(WARNING, 100) << "refused " << peer.ToString() << ": out of file descriptors ("
                            << WEFT_LOG_OCCURRENCES << " so far)";
}

void ServerImpl::OnAccept(UniqueFd fd, Endpoint peer,
                          const std::optional<Endpoint>& listener_local) {
  std::shared_ptr<const Handler> handler;
  std::shared_ptr<const HandlerArgs> args;
  ConnectionLimits limits;
  TaskManager* manager;
  std::optional<std::size_t> max_connections;
  {
    MutexLock lock(&mu_);
    handler = handler_;
    args = args_;
    limits = options_.limits;
    manager = manager_;
    max_connections = options_.max_connections;
  }
  // As in the seed, a manager's own limit takes precedence over max_connections.
  if (!manager->limit().has_value() && max_connections.has_value() &&
      open_.load() >= *max_connections) {
    Refuse(peer, RefusalReason::kMaxConnections);
    LOG(DEBUG) << "refused " << peer.ToString() << ": max_connections " << *max_connections;
    return;
  }
  if (budget_ != nullptr && !budget_->TryAcquire()) {
    Refuse(peer, RefusalReason::kDescriptorBudget);  // Counted before the client sees EOF.
    fd.Reset();
    LOG_EVERY_N(WARNING, 100) << "refused " << peer.ToString() << ": descriptor budget of "
                              << budget_->capacity() << " spent (" << WEFT_LOG_OCCURRENCES << " so far)";
    return;
  }
  ConnectionTicket ticket(this, peer);
  TaskSpec spec;
  spec.peer = peer.ToString();
  spec.on_admitted = [this, peer, admitted = ticket.admitted_id()](TaskId id) {
    admitted->store(id);
    ServerEvent event{.kind = ServerEvent::Kind::kTaskAdded};
    event.task_id = id;
    event.peer = peer;
    Emit(std::move(event));
  };
  // The socket is declared after the ticket so that it is closed first when a task is dropped
  // unrun: kTaskRemoved is reported for a closed connection.
  struct Admitted {
    ConnectionTicket ticket;
    UniqueFd fd;
  };
  spec.run = [this, admitted = Admitted{std::move(ticket), std::move(fd)}, handler, args, limits,
              listener_local]() mutable {
    Serve(std::move(admitted.fd), admitted.ticket, *handler, *args, limits, listener_local);
  };
  absl::StatusOr<TaskId> id = manager->AddTask(std::move(spec));
  if (!id.ok()) {
    Refuse(peer, absl::IsUnavailable(id.status()) ? RefusalReason::kStopping
                                                  : RefusalReason::kManagerFull);
    LOG_EVERY_N(WARNING, 100) << "refused " << peer.ToString() << ": " << id.status();
    return;
  }
  accepted_.fetch_add(1);
}

void ServerImpl::Serve(UniqueFd fd, ConnectionTicket& ticket, const Handler& handler,
                       const HandlerArgs& args, const ConnectionLimits& limits,
                       const std::optional<Endpoint>& listener_local) {
  ticket.MarkRan();
  const Endpoint& peer = ticket.peer();
  ServerEvent event{.kind = ServerEvent::Kind::kTaskStarted};
  event.task_id = CurrentTaskId().value_or(0);
  event.peer = peer;
  Emit(event);
  event.kind = ServerEvent::Kind::kTaskFinished;
  // Finished is reported however the handler ends, ThreadShutdown included.
  struct ReportFinished {
    ServerImpl* server;
    ConnectionTicket* ticket;
    ServerEvent* event;
    ~ReportFinished() {
      server->CountClose(*ticket);
      ticket->Close();
      server->Emit(*event);
    }
  } report{this, &ticket, &event};

  TaskControl* const task = CurrentTask();
  if (task != nullptr) task->set_io_totals(&io_totals_[task->id() % kIoTotalShards]);
  const int raw = fd.Release();
  Connection connection(raw, peer, listener_local.has_value() ? *listener_local : LocalEndpoint(raw),
                        limits);
  try {
    handler(connection, args);
  } catch (const ThreadShutdown&) {
    throw;  // Handled by the manager at the task boundary.
  } catch (const std::exception& e) {
    failed_.fetch_add(1);
    event.failed = true;
    LOG(WARNING) << "handler for " << peer.ToString() << " threw: " << e.what();
  } catch (...) {
    failed_.fetch_add(1);
    event.failed = true;
    LOG(WARNING) << "handler for " << peer.ToString() << " threw a non-standard exception";
  }
}

void ServerImpl::CountClose(const ConnectionTicket& ticket) {
  TaskControl* const task = CurrentTask();
  const CloseInitiator initiator =
      task != nullptr ? task->ConcludeEnding() : CloseInitiator::kHandler;
  // Observed before the close is counted, and counted with release: whoever reads a close with
  // acquire (Stats) also sees its duration.
  durations_.Observe(absl::ToDoubleSeconds(ticket.age()));
  closed_by_initiator_[static_cast<int>(initiator)].fetch_add(1, std::memory_order_release);
}

ConnectionTicket::ConnectionTicket(ServerImpl* server, Endpoint peer)
    : server_(server), peer_(std::move(peer)) {
  server_->open().fetch_add(1);
}

void ConnectionTicket::Close() {
  if (server_ == nullptr) return;  // Moved from, or closed.
  server_->open().fetch_sub(1);
  if (server_->budget() != nullptr) server_->budget()->Release();
  server_ = nullptr;
}

ConnectionTicket::~ConnectionTicket() {
  if (server_ == nullptr) return;  // Moved from, or closed.
  ServerImpl* const server = server_;
  Close();
  const TaskId id = admitted_id_->load();
  if (ran_ || id == 0) return;
  ServerEvent event{.kind = ServerEvent::Kind::kTaskRemoved};
  event.task_id = id;
  event.peer = peer_;
  server->Emit(std::move(event));
}

}  // namespace internal

const char* RefusalReasonName(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kMaxConnections:
      return names::kRefusalMaxConnections;
    case RefusalReason::kManagerFull:
      return names::kRefusalManagerFull;
    case RefusalReason::kDescriptorsExhausted:
      return names::kRefusalDescriptorsExhausted;
    case RefusalReason::kStopping:
      return names::kRefusalStopping;
    case RefusalReason::kDescriptorBudget:
      return names::kRefusalDescriptorBudget;
  }
  return names::kUnknown;
}

const char* CloseInitiatorName(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kPeer:
      return names::kClosePeer;
    case CloseInitiator::kIdleTimeout:
      return names::kCloseIdleTimeout;
    case CloseInitiator::kMaxLifetime:
      return names::kCloseMaxLifetime;
    case CloseInitiator::kStop:
      return names::kCloseStop;
    case CloseInitiator::kForced:
      return names::kCloseForced;
    case CloseInitiator::kHandler:
      return names::kCloseHandler;
  }
  return names::kUnknown;
}

const char* ServerStateName(ServerState state) {
  switch (state) {
    case ServerState::kStopped:
      return names::kServerStopped;
    case ServerState::kRunning:
      return names::kServerRunning;
    case ServerState::kNotAccepting:
      return names::kServerNotAccepting;
  }
  return names::kUnknown;
}

Server::Server(ServerOptions options)
    : impl_(std::make_unique<internal::ServerImpl>(std::move(options))) {}
Server::~Server() { impl_->Stop(impl_->stop_grace()); }

absl::Status Server::Run() { return impl_->Run(); }
StopReport Server::Stop() { return impl_->Stop(impl_->stop_grace()); }
StopReport Server::Stop(absl::Duration grace) { return impl_->Stop(grace); }
void Server::StopAccepting() { impl_->StopAccepting(); }
void Server::ReleaseListener() { impl_->ReleaseListener(); }
TaskManager& Server::task_manager() { return impl_->task_manager(); }
const TaskManager& Server::task_manager() const { return impl_->task_manager(); }
ConnectionLimits Server::connection_limits() const { return impl_->connection_limits(); }
absl::Status Server::set_task_manager(TaskManagerPtr manager) {
  return impl_->set_task_manager(std::move(manager));
}
std::optional<int> Server::socket() const { return impl_->socket(); }
std::string Server::address() const { return impl_->address(); }
void Server::set_address(std::string address) { impl_->set_address(std::move(address)); }
std::uint16_t Server::port() const { return impl_->port(); }
void Server::set_port(std::uint16_t port) { impl_->set_port(port); }
bool Server::reuse_port() const { return impl_->reuse_port(); }
Handler Server::connection_handler() const { return impl_->connection_handler(); }
void Server::set_connection_handler(Handler handler) {
  impl_->set_connection_handler(std::move(handler));
}
std::optional<std::size_t> Server::max_connections() const { return impl_->max_connections(); }
void Server::set_max_connections(std::optional<std::size_t> max_connections) {
  impl_->set_max_connections(max_connections);
}
ServerState Server::state() const { return impl_->state(); }
ServerStats Server::stats() const { return impl_->stats(); }

}  // namespace weft
