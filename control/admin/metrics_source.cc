#include "control/admin/metrics_source.h"

#include <utility>
#include <vector>

#include "control/admin/metrics_writer.h"
#include "control/admin/process_metrics.h"
#include "control/admin/server_metrics.h"
#include "control/proto_conversion.h"

namespace weft::control::admin {

MetricsSource::MetricsSource(const ServerSet* servers, const RpcMetrics* rpc,
                             const ProcessInfo* process, std::string version)
    : servers_(servers), rpc_(rpc), process_(process), version_(std::move(version)) {}

std::string MetricsSource::Render() const {
  std::vector<ServerSample> samples;
  for (const ManagedServer* managed : servers_->All()) {
    ServerStats stats = managed->server->stats();
    ServerSample& sample = samples.emplace_back();
    sample.server = ServerToProto(*managed, stats);
    sample.connection_durations = std::move(stats.connection_durations);
  }
  MetricsWriter writer;
  AppendBuildInfo(version_, writer);
  AppendServerMetrics(samples, writer);
  rpc_->Append(writer);
  AppendProcessMetrics(writer);
  const ProcessSnapshot process = process_->Snapshot();
  AppendProcessStateMetrics(process.generation, process.draining, writer);
  return std::move(writer).Finish();
}

}  // namespace weft::control::admin
