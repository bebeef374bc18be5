// MetricsSource: the body of weftd's /metrics — every listener's weft_* metrics, the control
// plane's RPCs (go-grpc-prometheus names), the process_* set, weft_process_generation and
// weft_process_draining, and weft_build_info.
#pragma once

#include <string>

#include "control/admin/rpc_metrics.h"
#include "control/process_info.h"
#include "control/server_set.h"

namespace weft::control::admin {

// MetricsSource: thread-safe (Render may run on several threads at once). Borrows the server
// set, the RPC metrics and the process information, which must outlive it.
class MetricsSource {
 public:
  MetricsSource(const ServerSet* servers, const RpcMetrics* rpc, const ProcessInfo* process,
                std::string version);

  // Render returns the exposition (text format 0.0.4). Each server's figures are those
  // GetServer reports for it at that moment: both come from one ServerToProto of one stats
  // snapshot, which also gives its connection-duration histogram.
  std::string Render() const;

 private:
  const ServerSet* const servers_;
  const RpcMetrics* const rpc_;
  const ProcessInfo* const process_;
  const std::string version_;
};

}  // namespace weft::control::admin
