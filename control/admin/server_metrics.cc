#include "control/admin/server_metrics.h"

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "weft/base/log.h"

namespace weft::control::admin {
namespace {

namespace v1 = weft::control::v1;

// kRefusalReasons and kCloseInitiators: every label value, in enum order, with its enum.
constexpr std::pair<v1::RefusalReason, const char*> kRefusalReasons[] = {
    {v1::REFUSAL_REASON_MAX_CONNECTIONS, "max_connections"},
    {v1::REFUSAL_REASON_MANAGER_FULL, "manager_full"},
    {v1::REFUSAL_REASON_DESCRIPTORS_EXHAUSTED, "descriptors_exhausted"},
    {v1::REFUSAL_REASON_STOPPING, "stopping"},
    {v1::REFUSAL_REASON_DESCRIPTOR_BUDGET, "descriptor_budget"},
};
constexpr std::pair<v1::CloseInitiator, const char*> kCloseInitiators[] = {
    {v1::CLOSE_INITIATOR_PEER, "peer"},
    {v1::CLOSE_INITIATOR_IDLE_TIMEOUT, "idle_timeout"},
    {v1::CLOSE_INITIATOR_MAX_LIFETIME, "max_lifetime"},
    {v1::CLOSE_INITIATOR_STOP, "stop"},
    {v1::CLOSE_INITIATOR_FORCED, "forced"},
    {v1::CLOSE_INITIATOR_HANDLER, "handler"},
};

// AppendPerServer appends the family `name` with one sample per server, valued by `value`.
void AppendPerServer(const std::vector<ServerSample>& servers, MetricsWriter& writer,
                     const char* name, MetricType type, const char* help,
                     const std::function<double(const v1::Server&)>& value) {
  writer.Family(name, type, help);
  for (const ServerSample& sample : servers) {
    writer.Sample(name, {{"server", sample.server.name()}}, value(sample.server));
  }
}

// Counts: a server's counts by enum value (RefusalReason or CloseInitiator).
using Counts = absl::flat_hash_map<int, std::uint64_t>;

Counts RefusalCounts(const v1::Server& server) {
  Counts counts;
  for (const v1::RefusalCount& entry : server.refused_by_reason()) {
    counts[entry.reason()] += entry.count();
  }
  return counts;
}

Counts CloseCounts(const v1::Server& server) {
  Counts counts;
  for (const v1::CloseCount& entry : server.closed_by_initiator()) {
    counts[entry.initiator()] += entry.count();
  }
  return counts;
}

// AppendByKey appends the counter `name` with one sample per server and key of `keys`
// (labelled `label`), valued by that key's entry of `counts`, 0 if absent.
template <typename Key, size_t N>
void AppendByKey(const std::vector<ServerSample>& servers, MetricsWriter& writer, const char* name,
                 const char* help, const char* label, const std::pair<Key, const char*> (&keys)[N],
                 Counts (*counts_of)(const v1::Server&)) {
  writer.Family(name, MetricType::kCounter, help);
  for (const ServerSample& sample : servers) {
    const Counts counts = counts_of(sample.server);
    for (const auto& [key, label_value] : keys) {
      const auto it = counts.find(key);
      writer.Sample(name, {{"server", sample.server.name()}, {label, label_value}},
                    it == counts.end() ? 0 : static_cast<double>(it->second));
    }
  }
}

}  // namespace

void AppendServerMetrics(const std::vector<ServerSample>& servers, MetricsWriter& writer) {
  AppendPerServer(servers, writer, "weft_connections_accepted_total", MetricType::kCounter,
                  "Connections handed to the task manager since the process started.",
                  [](const v1::Server& s) { return static_cast<double>(s.accepted_total()); });
  AppendPerServer(servers, writer, "weft_connections_active", MetricType::kGauge,
                  "Connections open now, running or queued.",
                  [](const v1::Server& s) { return static_cast<double>(s.open_connections()); });
  AppendPerServer(servers, writer, "weft_connections_limit", MetricType::kGauge,
                  "The connection limit: the task manager's limit, else max_connections; "
                  "0 = no limit.",
                  [](const v1::Server& s) {
                    return static_cast<double>(s.manager().limit() != 0 ? s.manager().limit()
                                                                        : s.max_connections());
                  });
  AppendByKey(servers, writer, "weft_connections_rejected_total",
              "Connections accepted and closed at once since the process started, by reason.",
              "reason", kRefusalReasons, &RefusalCounts);
  AppendByKey(servers, writer, "weft_connections_closed_total",
              "Connections closed since the process started, by who ended them.", "initiator",
              kCloseInitiators, &CloseCounts);
  AppendPerServer(servers, writer, "weft_received_bytes_total", MetricType::kCounter,
                  "Bytes read from clients since the process started.", [](const v1::Server& s) {
                    return static_cast<double>(s.received_bytes_total());
                  });
  AppendPerServer(servers, writer, "weft_sent_bytes_total", MetricType::kCounter,
                  "Bytes written to clients since the process started.",
                  [](const v1::Server& s) { return static_cast<double>(s.sent_bytes_total()); });
  AppendPerServer(servers, writer, "weft_tasks_stuck_total", MetricType::kCounter,
                  "Tasks still running when the grace of a stop ran out (they ignored their "
                  "stop flag) since the process started.",
                  [](const v1::Server& s) { return static_cast<double>(s.stuck_tasks_total()); });
  writer.Family("weft_connection_duration_seconds", MetricType::kHistogram,
                "How long closed connections were open, in seconds.");
  for (const ServerSample& sample : servers) {
    writer.Histogram("weft_connection_duration_seconds", {{"server", sample.server.name()}},
                     sample.connection_durations);
  }
  AppendPerServer(servers, writer, "weft_listener_accepting", MetricType::kGauge,
                  "1 while the server accepts connections, else 0.", [](const v1::Server& s) {
                    return s.state() == v1::SERVER_STATE_RUNNING ? 1.0 : 0.0;
                  });
  AppendPerServer(servers, writer, "weft_server_draining", MetricType::kGauge,
                  "1 while a stop waits for the server's tasks to end, else 0.",
                  [](const v1::Server& s) { return s.draining() ? 1.0 : 0.0; });
  AppendPerServer(servers, writer, "weft_tasks_queued", MetricType::kGauge,
                  "Tasks waiting for the task manager now.",
                  [](const v1::Server& s) { return static_cast<double>(s.queued_tasks()); });
  AppendPerServer(servers, writer, "weft_tasks_running", MetricType::kGauge, "Tasks running now.",
                  [](const v1::Server& s) { return static_cast<double>(s.active_tasks()); });
  AppendPerServer(servers, writer, "weft_task_threads_idle", MetricType::kGauge,
                  "Task manager threads waiting for their next connection now.",
                  [](const v1::Server& s) { return static_cast<double>(s.idle_threads()); });
}

void AppendProcessStateMetrics(std::uint64_t generation, bool draining, MetricsWriter& writer) {
  writer.Family("weft_process_generation", MetricType::kGauge,
                "Hand-off generation of this weftd process: 1 when started fresh, the "
                "predecessor's plus one when it took a running weftd's sockets over.");
  writer.Sample("weft_process_generation", {}, static_cast<double>(generation));
  writer.Family("weft_process_draining", MetricType::kGauge,
                "1 while this weftd process drains (after SIGTERM or a hand-off), else 0.");
  writer.Sample("weft_process_draining", {}, draining ? 1 : 0);
}

void AppendBuildInfo(absl::string_view version, MetricsWriter& writer) {
  writer.Family("weft_build_info", MetricType::kGauge,
                "Always 1; the label says which version of weftd is running.");
  writer.Sample("weft_build_info", {{"version", version}}, 1);
}

}  // namespace weft::control::admin
