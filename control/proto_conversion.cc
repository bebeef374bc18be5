#include "control/proto_conversion.h"

#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"

namespace weft::control {
namespace {

v1::ServerState StateToProto(ServerState state) {
  switch (state) {
    case ServerState::kRunning:
      return v1::SERVER_STATE_RUNNING;
    case ServerState::kNotAccepting:
      return v1::SERVER_STATE_NOT_ACCEPTING;
    case ServerState::kStopped:
      return v1::SERVER_STATE_STOPPED;
  }
  return v1::SERVER_STATE_UNSPECIFIED;
}

v1::ManagerKind KindToProto(std::string_view kind) {
  if (kind == "threaded") return v1::MANAGER_KIND_THREADED;
  if (kind == "pool") return v1::MANAGER_KIND_POOL;
  if (kind == "single") return v1::MANAGER_KIND_SINGLE;
  if (kind == "fiber") return v1::MANAGER_KIND_FIBER;
  return v1::MANAGER_KIND_UNSPECIFIED;
}

v1::TaskState TaskStateToProto(TaskState state) {
  switch (state) {
    case TaskState::kQueued:
      return v1::TASK_STATE_QUEUED;
    case TaskState::kRunning:
      return v1::TASK_STATE_RUNNING;
    case TaskState::kStopping:
      return v1::TASK_STATE_STOPPING;
  }
  return v1::TASK_STATE_UNSPECIFIED;
}

v1::RefusalReason RefusalToProto(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kMaxConnections:
      return v1::REFUSAL_REASON_MAX_CONNECTIONS;
    case RefusalReason::kManagerFull:
      return v1::REFUSAL_REASON_MANAGER_FULL;
    case RefusalReason::kDescriptorsExhausted:
      return v1::REFUSAL_REASON_DESCRIPTORS_EXHAUSTED;
    case RefusalReason::kStopping:
      return v1::REFUSAL_REASON_STOPPING;
    case RefusalReason::kDescriptorBudget:
      return v1::REFUSAL_REASON_DESCRIPTOR_BUDGET;
  }
  return v1::REFUSAL_REASON_UNSPECIFIED;
}

v1::CloseInitiator CloseInitiatorToProto(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kPeer:
      return v1::CLOSE_INITIATOR_PEER;
    case CloseInitiator::kIdleTimeout:
      return v1::CLOSE_INITIATOR_IDLE_TIMEOUT;
    case CloseInitiator::kMaxLifetime:
      return v1::CLOSE_INITIATOR_MAX_LIFETIME;
    case CloseInitiator::kStop:
      return v1::CLOSE_INITIATOR_STOP;
    case CloseInitiator::kForced:
      return v1::CLOSE_INITIATOR_FORCED;
    case CloseInitiator::kHandler:
      return v1::CLOSE_INITIATOR_HANDLER;
  }
  return v1::CLOSE_INITIATOR_UNSPECIFIED;
}

v1::EventType EventTypeToProto(ServerEvent::Kind kind) {
  switch (kind) {
    case ServerEvent::Kind::kTaskAdded:
      return v1::EVENT_TYPE_TASK_ADDED;
    case ServerEvent::Kind::kTaskStarted:
      return v1::EVENT_TYPE_TASK_STARTED;
    case ServerEvent::Kind::kTaskFinished:
      return v1::EVENT_TYPE_TASK_STOPPED;
    case ServerEvent::Kind::kTaskRemoved:
      return v1::EVENT_TYPE_TASK_REMOVED;
    case ServerEvent::Kind::kConnectionRefused:
      return v1::EVENT_TYPE_CONNECTION_REFUSED;
    case ServerEvent::Kind::kStateChanged:
      return v1::EVENT_TYPE_SERVER_STATE_CHANGED;
    case ServerEvent::Kind::kTaskStuck:
      return v1::EVENT_TYPE_TASK_STUCK;
    case ServerEvent::Kind::kDrainProgress:
      return v1::EVENT_TYPE_DRAIN_PROGRESS;
  }
  return v1::EVENT_TYPE_UNSPECIFIED;
}

std::uint32_t Clamp32(std::uint64_t value) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::uint32_t>::max()));
}

v1::ProcessState ProcessStateToProto(bool draining) {
  return draining ? v1::PROCESS_STATE_DRAINING : v1::PROCESS_STATE_SERVING;
}

}  // namespace

absl::StatusOr<absl::Duration> DurationFromProto(const google::protobuf::Duration& duration,
                                                 const char* field, absl::Duration max) {
  const std::int64_t seconds = duration.seconds();
  const std::int32_t nanos = duration.nanos();
  if (nanos <= -1000000000 || nanos >= 1000000000 || (seconds > 0 && nanos < 0) ||
      (seconds < 0 && nanos > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a valid duration"));
  }
  if (seconds < 0 || nanos < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must not be negative"));
  }
  if (seconds > absl::ToInt64Seconds(max)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be at most ", absl::FormatDuration(max)));
  }
  return weft::DurationFromProto(duration);
}

v1::Server ServerToProto(const ManagedServer& managed) {
  return ServerToProto(managed, managed.server->stats());
}

v1::Server ServerToProto(const ManagedServer& managed, const ServerStats& stats) {
  const weft::Server& server = *managed.server;
  v1::Server out;
  out.set_name(managed.name);
  out.set_address(server.address());
  out.set_port(server.port());
  out.set_reuse_port(server.reuse_port());
  out.set_state(StateToProto(stats.state));
  out.set_handler(managed.handler);
  const TaskManager& manager = server.task_manager();
  out.mutable_manager()->set_kind(KindToProto(manager.kind()));
  out.mutable_manager()->set_limit(Clamp32(manager.limit().value_or(0)));
  out.mutable_manager()->set_max_queued(Clamp32(manager.max_queued()));
  out.set_max_connections(Clamp32(server.max_connections().value_or(0)));
  out.set_active_tasks(Clamp32(stats.running));
  out.set_queued_tasks(Clamp32(stats.queued));
  out.set_idle_threads(Clamp32(stats.idle_threads));
  out.set_open_connections(Clamp32(stats.open));
  out.set_accepted_total(stats.accepted);
  out.set_refused_total(stats.refused);
  for (int i = 0; i < kRefusalReasonCount; ++i) {
    if (stats.refused_by_reason[i] == 0) continue;
    v1::RefusalCount* count = out.add_refused_by_reason();
    count->set_reason(RefusalToProto(static_cast<RefusalReason>(i)));
    count->set_count(stats.refused_by_reason[i]);
  }
  out.set_failed_total(stats.failed);
  out.set_stuck_tasks_total(stats.stuck_total);
  out.set_received_bytes_total(stats.received_bytes);
  out.set_sent_bytes_total(stats.sent_bytes);
  for (int i = 0; i < kCloseInitiatorCount; ++i) {
    if (stats.closed_by_initiator[i] == 0) continue;
    v1::CloseCount* count = out.add_closed_by_initiator();
    count->set_initiator(CloseInitiatorToProto(static_cast<CloseInitiator>(i)));
    count->set_count(stats.closed_by_initiator[i]);
  }
  out.set_draining(stats.draining ||
                   (managed.process_draining != nullptr && managed.process_draining->load()));
  if (stats.started != absl::InfinitePast()) *out.mutable_start_time() = TimeToProto(stats.started);
  const ConnectionLimits limits = server.connection_limits();
  if (limits.idle_timeout != absl::InfiniteDuration()) {
    *out.mutable_idle_timeout() = DurationToProto(limits.idle_timeout);
  }
  if (limits.max_lifetime != absl::InfiniteDuration()) {
    *out.mutable_max_lifetime() = DurationToProto(limits.max_lifetime);
  }
  *out.mutable_drain_timeout() = DurationToProto(managed.drain_timeout);
  return out;
}

v1::Task TaskToProto(const TaskInfo& task, const std::string& server) {
  v1::Task out;
  out.set_id(task.id);
  out.set_server(server);
  out.set_state(TaskStateToProto(task.state));
  out.set_peer(task.peer);
  *out.mutable_create_time() = TimeToProto(task.created);
  if (task.started != absl::InfinitePast()) *out.mutable_start_time() = TimeToProto(task.started);
  if (task.last_activity != absl::InfinitePast()) {
    *out.mutable_last_activity_time() = TimeToProto(task.last_activity);
  }
  *out.mutable_age() = DurationToProto(task.age);
  *out.mutable_idle() = DurationToProto(task.idle);
  out.set_bytes_in(task.bytes_in);
  out.set_bytes_out(task.bytes_out);
  if (task.stop_requested != absl::InfinitePast()) {
    *out.mutable_stop_request_time() = TimeToProto(task.stop_requested);
  }
  out.set_stuck(task.stuck);
  return out;
}

v1::Process ProcessToProto(const ProcessSnapshot& snapshot, absl::string_view version) {
  v1::Process process;
  process.set_pid(snapshot.pid);
  *process.mutable_start_time() = TimeToProto(snapshot.start_time);
  process.set_generation(snapshot.generation);
  process.set_state(ProcessStateToProto(snapshot.draining));
  process.set_version(std::string(version));
  if (snapshot.peer.has_value()) {
    const ProcessPeer& peer = *snapshot.peer;
    v1::ProcessPeer* out = process.mutable_peer();
    out->set_role(peer.role == ProcessPeer::kSuccessor ? v1::PEER_ROLE_SUCCESSOR
                                                       : v1::PEER_ROLE_PREDECESSOR);
    out->set_pid(peer.pid);
    *out->mutable_start_time() = TimeToProto(peer.start_time);
    out->set_generation(peer.generation);
    out->set_state(ProcessStateToProto(peer.draining));
  }
  return process;
}

v1::Event EventToProto(const NamedEvent& named) {
  const ServerEvent& event = named.event;
  v1::Event out;
  *out.mutable_time() = TimeToProto(event.time);
  out.set_server(named.server);
  out.set_type(EventTypeToProto(event.kind));
  out.set_task_id(event.task_id);
  if (!event.peer.address.empty()) out.set_peer(event.peer.ToString());
  out.set_failed(event.failed);
  if (event.kind == ServerEvent::Kind::kConnectionRefused) {
    out.set_refusal_reason(RefusalToProto(event.refusal));
  }
  if (event.kind == ServerEvent::Kind::kStateChanged) {
    out.set_server_state(StateToProto(event.state));
  }
  if (event.kind == ServerEvent::Kind::kTaskStuck) {
    *out.mutable_stuck_for() = DurationToProto(event.stuck_for);
  }
  if (event.kind == ServerEvent::Kind::kDrainProgress) {
    const StopProgress& drain = event.drain;
    v1::DrainProgress* progress = out.mutable_drain_progress();
    progress->set_remaining_tasks(Clamp32(drain.remaining));
    progress->set_cooperative_tasks(Clamp32(drain.cooperative));
    progress->set_forced_tasks(Clamp32(drain.forced));
    progress->set_dropped_tasks(Clamp32(drain.dropped));
    *progress->mutable_elapsed() = DurationToProto(drain.elapsed);
    *progress->mutable_timeout() = DurationToProto(drain.grace);
    progress->set_done(drain.done);
  }
  return out;
}

}  // namespace weft::control
