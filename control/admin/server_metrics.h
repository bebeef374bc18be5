// The per-server weft_* metrics, the process's weft_process_* gauges and weft_build_info, rendered
// from the control API's messages.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "control/admin/metrics_writer.h"
#include "weft/base/histogram.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control::admin {

// ServerSample: one server at one moment, as the control plane describes it.
struct ServerSample {
  // What GetServer returns (ServerToProto), so /metrics and the API agree by construction.
  weft::control::v1::Server server;
  // The durations of its closed connections, in seconds.
  weft::base::HistogramSnapshot connection_durations;
};

// AppendServerMetrics appends one family per metric, each with one sample (or one sample per
// reason / initiator) per server labelled server="NAME", in the order of `servers`:
//   weft_connections_accepted_total            counter    accepted_total
//   weft_connections_active                    gauge      open_connections
//   weft_connections_limit                     gauge      manager.limit if non-zero, else
//                                                         max_connections (0 = no limit)
//   weft_connections_rejected_total{reason}    counter    refused_by_reason; every reason
//       (max_connections, manager_full, descriptors_exhausted, stopping, descriptor_budget)
//       always present, 0 included
//   weft_connections_closed_total{initiator}   counter    closed_by_initiator; every initiator
//       (peer, idle_timeout, max_lifetime, stop, forced, handler) always present
//   weft_received_bytes_total                  counter    received_bytes_total
//   weft_sent_bytes_total                      counter    sent_bytes_total
//   weft_connection_duration_seconds           histogram  connection_durations
//   weft_listener_accepting                    gauge      1 if state is RUNNING, else 0
//   weft_server_draining                       gauge      1 if draining, else 0
//   weft_tasks_queued                          gauge      queued_tasks
//   weft_tasks_running                         gauge      active_tasks
//   weft_task_threads_idle                     gauge      idle_threads
// Nothing is written for an empty `servers`.
// Requires: server names are distinct (one series per server). Thread-compatible.
void AppendServerMetrics(const std::vector<ServerSample>& servers, MetricsWriter& writer);

// AppendProcessStateMetrics appends two gauges of the weftd process (GetProcess's figures):
//   weft_process_generation  the hand-off generation: 1 when started fresh, the predecessor's
//                            plus one after a takeover
//   weft_process_draining    1 while the process drains, else 0
// Thread-compatible.
void AppendProcessStateMetrics(std::uint64_t generation, bool draining, MetricsWriter& writer);

// AppendBuildInfo appends the gauge weft_build_info{version="VERSION"} 1.
void AppendBuildInfo(absl::string_view version, MetricsWriter& writer);

}  // namespace weft::control::admin
