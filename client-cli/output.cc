#include "client-cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "weft/base/log.h"
#include "weft/base/names.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

constexpr char kColumnGap[] = "   ";

std::string Timestamp(const google::protobuf::Timestamp& timestamp, bool present) {
  if (!present) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", TimeFromProto(timestamp), absl::UTCTimeZone());
}

// StartedCell: "2026-12-06T23:15:31.042Z (5m03s ago)".
std::string StartedCell(const google::protobuf::Timestamp& start, absl::Time now) {
  return absl::StrCat(Timestamp(start, true), " (", FormatDurationShort(now - TimeFromProto(start)),
                      " ago)");
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& cell : cells) cell = TerminalSafe(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = headers_[c].size();
    for (const auto& row : rows_) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      absl::StrAppend(&text, cells[c]);
      if (c + 1 < cells.size()) {
        text.append(widths[c] - cells[c].size(), ' ');
        text.append(kColumnGap);
      }
    }
    text.erase(text.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, text, "\n");
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string TerminalSafe(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", byte));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string ServerStateName(v1::ServerState state) {
  switch (state) {
    case v1::SERVER_STATE_RUNNING:
      return names::kServerRunning;
    case v1::SERVER_STATE_NOT_ACCEPTING:
      return names::kServerNotAccepting;
    case v1::SERVER_STATE_STOPPED:
      return names::kServerStopped;
    default:
      return names::kUnknown;
  }
}

std::string TaskStateName(v1::TaskState state) {
  switch (state) {
    case v1::TASK_STATE_QUEUED:
      return names::kTaskQueued;
    case v1::TASK_STATE_RUNNING:
      return names::kTaskRunning;
    case v1::TASK_STATE_STOPPING:
      return names::kTaskStopping;
    default:
      return names::kUnknown;
  }
}

std::string ManagerKindName(v1::ManagerKind kind) {
  switch (kind) {
    case v1::MANAGER_KIND_THREADED:
      return names::kManagerThreaded;
    case v1::MANAGER_KIND_POOL:
      return names::kManagerPool;
    case v1::MANAGER_KIND_SINGLE:
      return names::kManagerSingle;
    case v1::MANAGER_KIND_FIBER:
      return names::kManagerFiber;
    default:
      return names::kUnknown;
  }
}

std::string EventTypeName(v1::EventType type) {
  switch (type) {
    case v1::EVENT_TYPE_TASK_ADDED:
      return "task-added";
    case v1::EVENT_TYPE_TASK_STARTED:
      return "task-started";
    case v1::EVENT_TYPE_TASK_STOPPED:
      return "task-stopped";
    case v1::EVENT_TYPE_TASK_REMOVED:
      return "task-removed";
    case v1::EVENT_TYPE_CONNECTION_REFUSED:
      return "connection-refused";
    case v1::EVENT_TYPE_SERVER_STATE_CHANGED:
      return "state-changed";
    case v1::EVENT_TYPE_EVENTS_DROPPED:
      return "events-dropped";
    case v1::EVENT_TYPE_TASK_STUCK:
      return "task-stuck";
    case v1::EVENT_TYPE_DRAIN_PROGRESS:
      return "drain-progress";
    default:
      return "unknown";
  }
}

std::string ProcessStateName(v1::ProcessState state) {
  switch (state) {
    case v1::PROCESS_STATE_SERVING:
      return names::kProcessServing;
    case v1::PROCESS_STATE_DRAINING:
      return names::kProcessDraining;
    default:
      return names::kUnknown;
  }
}

std::string PeerRoleName(v1::PeerRole role) {
  switch (role) {
    case v1::PEER_ROLE_PREDECESSOR:
      return names::kProcessRolePredecessor;
    case v1::PEER_ROLE_SUCCESSOR:
      return names::kProcessRoleSuccessor;
    default:
      return names::kUnknown;
  }
}

std::string RefusalReasonName(v1::RefusalReason reason) {
  switch (reason) {
    case v1::REFUSAL_REASON_MAX_CONNECTIONS:
      return names::kRefusalMaxConnections;
    case v1::REFUSAL_REASON_MANAGER_FULL:
      return names::kRefusalManagerFull;
    case v1::REFUSAL_REASON_DESCRIPTORS_EXHAUSTED:
      return names::kRefusalDescriptorsExhausted;
    case v1::REFUSAL_REASON_STOPPING:
      return names::kRefusalStopping;
    case v1::REFUSAL_REASON_DESCRIPTOR_BUDGET:
      return names::kRefusalDescriptorBudget;
    default:
      return names::kUnknown;
  }
}

std::string FormatEndpoint(absl::string_view address, std::uint32_t port) {
  if (address.find(':') != absl::string_view::npos) return absl::StrCat("[", address, "]:", port);
  return absl::StrCat(address, ":", port);
}

std::string FormatDurationShort(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return "0s";
  if (duration == absl::InfiniteDuration()) return "inf";
  if (duration < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(duration), "ms");
  }
  if (duration < absl::Seconds(10)) {
    const std::int64_t tenths = absl::ToInt64Milliseconds(duration) / 100;
    return absl::StrCat(tenths / 10, ".", tenths % 10, "s");
  }
  const std::int64_t seconds = absl::ToInt64Seconds(duration);
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  if (seconds < 86400) return absl::StrFormat("%dh%02dm", seconds / 3600, seconds % 3600 / 60);
  return absl::StrFormat("%dd%02dh", seconds / 86400, seconds % 86400 / 3600);
}

std::string FormatBytes(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (value < 10) {
    // Truncate, not round: 1023.99KiB must not print as "1024KiB" nor 9.99 as "10.0".
    return absl::StrFormat("%.1f%s", static_cast<double>(static_cast<int>(value * 10)) / 10,
                           kUnits[unit]);
  }
  return absl::StrFormat("%d%s", static_cast<int>(value), kUnits[unit]);
}

std::string LimitCell(const v1::Server& server) {
  std::string limit = "-";
  if (server.manager().limit() > 0) {
    limit = absl::StrCat(server.manager().limit());
  } else if (server.max_connections() > 0) {
    limit = absl::StrCat(server.max_connections());
  }
  return absl::StrCat(server.active_tasks(), "/", server.queued_tasks(), "/", limit);
}

std::vector<std::string> ServerHeaders(bool wide) {
  std::vector<std::string> headers = {"NAME",     "ADDRESS", "STATE", "ACTIVE/QUEUED/LIMIT",
                                      "ACCEPTED", "REFUSED"};
  if (wide) {
    headers.insert(headers.end(), {"OPEN", "FAILED", "HANDLER", "MANAGER", "MAX-CONN", "UPTIME"});
  }
  return headers;
}

std::vector<std::string> ServerRow(const v1::Server& server, bool wide, absl::Time now) {
  std::vector<std::string> row = {server.name(),
                                  FormatEndpoint(server.address(), server.port()),
                                  ServerStateName(server.state()),
                                  LimitCell(server),
                                  absl::StrCat(server.accepted_total()),
                                  absl::StrCat(server.refused_total())};
  if (wide) {
    const bool up = server.state() != v1::SERVER_STATE_STOPPED && server.has_start_time();
    row.insert(row.end(),
               {absl::StrCat(server.open_connections()), absl::StrCat(server.failed_total()),
                server.handler(), ManagerKindName(server.manager().kind()),
                server.max_connections() == 0 ? "-" : absl::StrCat(server.max_connections()),
                up ? FormatDurationShort(now - TimeFromProto(server.start_time())) : "-"});
  }
  return row;
}

std::vector<std::string> TaskHeaders(bool wide) {
  std::vector<std::string> headers = {"SERVER", "ID", "PEER", "STATE", "AGE", "IDLE", "IN", "OUT"};
  if (wide) headers.insert(headers.end(), {"CREATED", "STARTED", "LAST-ACTIVITY"});
  return headers;
}

std::vector<std::string> TaskRow(const v1::Task& task, bool wide) {
  std::vector<std::string> row = {task.server(),
                                  absl::StrCat(task.id()),
                                  task.peer(),
                                  task.stuck() ? "stuck" : TaskStateName(task.state()),
                                  FormatDurationShort(DurationFromProto(task.age())),
                                  FormatDurationShort(DurationFromProto(task.idle())),
                                  absl::StrCat(task.bytes_in()),
                                  absl::StrCat(task.bytes_out())};
  if (wide) {
    row.insert(row.end(), {Timestamp(task.create_time(), task.has_create_time()),
                           Timestamp(task.start_time(), task.has_start_time()),
                           Timestamp(task.last_activity_time(), task.has_last_activity_time())});
  }
  return row;
}

std::vector<std::string> ProcessHeaders() {
  return {"ROLE", "PID", "STARTED", "GENERATION", "STATE"};
}

std::vector<std::vector<std::string>> ProcessRows(const v1::Process& process, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({names::kProcessRoleThis, absl::StrCat(process.pid()),
                  StartedCell(process.start_time(), now), absl::StrCat(process.generation()),
                  ProcessStateName(process.state())});
  if (process.has_peer()) {
    const v1::ProcessPeer& peer = process.peer();
    rows.push_back({PeerRoleName(peer.role()), absl::StrCat(peer.pid()),
                    StartedCell(peer.start_time(), now), absl::StrCat(peer.generation()),
                    ProcessStateName(peer.state())});
  }
  return rows;
}

std::string ServerDetails(const v1::Server& server, absl::Time now) {
  auto optional_duration = [](bool present, const google::protobuf::Duration& d) {
    return present ? FormatDurationShort(DurationFromProto(d)) : std::string("none");
  };
  const v1::TaskManager& manager = server.manager();
  std::string max_connections =
      server.max_connections() == 0 ? "unlimited" : absl::StrCat(server.max_connections());
  if (server.max_connections() > 0 && manager.limit() > 0) {
    absl::StrAppend(&max_connections, " (the manager's limit applies)");
  }
  std::string started = "never";
  if (server.has_start_time()) {
    started = StartedCell(server.start_time(), now);
  }
  std::string refused = absl::StrCat(server.refused_total());
  if (!server.refused_by_reason().empty()) {
    std::vector<std::string> reasons;
    for (const v1::RefusalCount& count : server.refused_by_reason()) {
      reasons.push_back(absl::StrCat(RefusalReasonName(count.reason()), " ", count.count()));
    }
    absl::StrAppend(&refused, " (", absl::StrJoin(reasons, ", "), ")");
  }
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"name", server.name()},
      {"address", FormatEndpoint(server.address(), server.port())},
      {"state", ServerStateName(server.state())},
      {"handler", server.handler()},
      {"manager", absl::StrCat(ManagerKindName(manager.kind()), " (limit ",
                               manager.limit() == 0 ? "none" : absl::StrCat(manager.limit()),
                               ", max queued ", manager.max_queued(), ")")},
      {"max connections", max_connections},
      {"active tasks", absl::StrCat(server.active_tasks())},
      {"queued tasks", absl::StrCat(server.queued_tasks())},
      {"open connections", absl::StrCat(server.open_connections())},
      {"accepted", absl::StrCat(server.accepted_total())},
      {"refused", refused},
      {"failed", absl::StrCat(server.failed_total())},
      {"started", started},
      {"idle timeout", optional_duration(server.has_idle_timeout(), server.idle_timeout())},
      {"max lifetime", optional_duration(server.has_max_lifetime(), server.max_lifetime())},
      {"drain timeout", optional_duration(server.has_drain_timeout(), server.drain_timeout())},
  };
  std::string out;
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&out, key, ":", std::string(18 - key.size(), ' '), TerminalSafe(value), "\n");
  }
  return out;
}

std::string EventLine(const v1::Event& event, bool wide, absl::TimeZone zone) {
  const absl::Time time = TimeFromProto(event.time());
  std::string line = wide ? absl::StrCat("#", event.sequence(), " ",
                                         absl::FormatTime("%Y-%m-%dT%H:%M:%E6S%Ez", time, zone))
                          : absl::FormatTime("%H:%M:%E3S", time, zone);
  const std::string server = event.server().empty() ? "-" : event.server();
  absl::StrAppend(&line, "  ",
                  absl::StrFormat("%-12s  %-18s", server, EventTypeName(event.type())));
  std::vector<std::string> details;
  switch (event.type()) {
    case v1::EVENT_TYPE_TASK_ADDED:
    case v1::EVENT_TYPE_TASK_STARTED:
    case v1::EVENT_TYPE_TASK_REMOVED:
    case v1::EVENT_TYPE_TASK_STOPPED:
      details.push_back(absl::StrCat("task=", event.task_id()));
      details.push_back(absl::StrCat("peer=", event.peer()));
      if (event.failed()) details.push_back("failed");
      break;
    case v1::EVENT_TYPE_CONNECTION_REFUSED:
      details.push_back(absl::StrCat("peer=", event.peer()));
      details.push_back(absl::StrCat("reason=", RefusalReasonName(event.refusal_reason())));
      break;
    case v1::EVENT_TYPE_SERVER_STATE_CHANGED:
      details.push_back(absl::StrCat("state=", ServerStateName(event.server_state())));
      break;
    case v1::EVENT_TYPE_EVENTS_DROPPED:
      details.push_back(absl::StrCat("dropped=", event.dropped_events()));
      break;
    case v1::EVENT_TYPE_TASK_STUCK:
      details.push_back(absl::StrCat("task=", event.task_id()));
      details.push_back(absl::StrCat("peer=", event.peer()));
      details.push_back(
          absl::StrCat("stuck-for=", FormatDurationShort(DurationFromProto(event.stuck_for()))));
      break;
    case v1::EVENT_TYPE_DRAIN_PROGRESS: {
      const v1::DrainProgress& drain = event.drain_progress();
      details.push_back(absl::StrCat("remaining=", drain.remaining_tasks()));
      details.push_back(absl::StrCat("cooperative=", drain.cooperative_tasks()));
      details.push_back(absl::StrCat("forced=", drain.forced_tasks()));
      details.push_back(absl::StrCat("dropped=", drain.dropped_tasks()));
      details.push_back(
          absl::StrCat("elapsed=", FormatDurationShort(DurationFromProto(drain.elapsed())), "/",
                       FormatDurationShort(DurationFromProto(drain.timeout()))));
      if (drain.done()) details.push_back("done");
      break;
    }
    default:
      break;
  }
  absl::StrAppend(&line, "  ", absl::StrJoin(details, " "));
  line.erase(line.find_last_not_of(' ') + 1);
  return TerminalSafe(line);
}

std::string MessageJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  // Only an Any of an unknown type can fail, and these messages hold none.
  CHECK(status.ok()) << "MessageToJsonString(" << message.GetTypeName()
                     << "): " << status.ToString();
  return json;
}

Json MessageToJson(const google::protobuf::Message& message) {
  absl::StatusOr<Json> json = JsonParse(MessageJson(message));
  CHECK(json.ok()) << "protobuf wrote JSON nlohmann cannot read: " << json.status();
  return *std::move(json);
}

void JsonDocument::Add(absl::string_view target, absl::string_view key, Json value) {
  Json entry = Json::object();
  entry["target"] = std::string(target);
  entry[std::string(key)] = std::move(value);
  entries_.push_back(std::move(entry));
}

void JsonDocument::AddError(absl::string_view target, const absl::Status& status) {
  Json error = Json::object();
  error["code"] = absl::StatusCodeToString(status.code());
  error["message"] = std::string(status.message());
  Add(target, "error", std::move(error));
}

std::string JsonDocument::Render() const {
  Json document = Json::object();
  document["targets"] = entries_;
  return JsonDump(document) + "\n";
}

}  // namespace weft::cli
