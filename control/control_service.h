// ControlService: the weft.control.v1.Control gRPC service — translates RPCs into library calls
// on the named servers of a ServerSet.
#pragma once

#include <grpcpp/grpcpp.h>

#include "control/audit/audit_trail.h"
#include "control/auth.h"
#include "control/event_hub.h"
#include "control/process_info.h"
#include "control/server_set.h"
#include "control/tasks/task_listing.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control {

// ControlService: thread-safe (gRPC calls it from many threads). Borrows the servers, the hub,
// the authenticator, the process information and the audit trail, which must outlive it. Every method authorises
// first (viewer for reads, operator for the rest), validates its request, and reports errors with
// canonical codes through one conversion point; no method throws. WatchEvents runs on gRPC's
// callback API (see WatchReactor); the other methods on the sync API.
class ControlService final : public v1::Control::WithCallbackMethod_WatchEvents<v1::Control::Service> {
 public:
  // `audit` may be null: ListAuditRecords then answers UNIMPLEMENTED.
  ControlService(const ServerSet* servers, EventHub* events, const Authenticator* auth,
                 const ProcessInfo* process, const audit::AuditTrail* audit = nullptr);

  // Shutdown ends every WatchEvents stream promptly (call before shutting the gRPC server down).
  void Shutdown();

  grpc::Status ListServers(grpc::ServerContext* context, const v1::ListServersRequest* request,
                           v1::ListServersResponse* response) override;
  grpc::Status GetServer(grpc::ServerContext* context, const v1::GetServerRequest* request,
                         v1::Server* response) override;
  grpc::Status RunServer(grpc::ServerContext* context, const v1::RunServerRequest* request,
                         v1::Server* response) override;
  grpc::Status StopAccepting(grpc::ServerContext* context,
                             const v1::StopAcceptingRequest* request,
                             v1::Server* response) override;
  grpc::Status StopServer(grpc::ServerContext* context, const v1::StopServerRequest* request,
                          v1::StopServerResponse* response) override;
  grpc::Status UpdateServer(grpc::ServerContext* context, const v1::UpdateServerRequest* request,
                            v1::Server* response) override;
  grpc::Status ListTasks(grpc::ServerContext* context, const v1::ListTasksRequest* request,
                         v1::ListTasksResponse* response) override;
  grpc::Status StopTask(grpc::ServerContext* context, const v1::StopTaskRequest* request,
                        v1::StopTaskResponse* response) override;
  grpc::Status RemoveTask(grpc::ServerContext* context, const v1::RemoveTaskRequest* request,
                          v1::RemoveTaskResponse* response) override;
  // StopTasks: see control/tasks/stop_tasks.h.
  grpc::Status StopTasks(grpc::ServerContext* context, const v1::StopTasksRequest* request,
                         v1::StopTasksResponse* response) override;
  // GetProcess reports `process` and weft::kVersion.
  grpc::Status GetProcess(grpc::ServerContext* context, const v1::GetProcessRequest* request,
                          v1::Process* response) override;
  // ListAuditRecords: see control/audit/list_audit_records.h.
  grpc::Status ListAuditRecords(grpc::ServerContext* context,
                                const v1::ListAuditRecordsRequest* request,
                                v1::ListAuditRecordsResponse* response) override;
  grpc::ServerWriteReactor<v1::Event>* WatchEvents(grpc::CallbackServerContext* context,
                                                   const v1::WatchEventsRequest* request) override;

 private:
  const ServerSet* const servers_;
  EventHub* const events_;
  const Authenticator* const auth_;
  const ProcessInfo* const process_;
  const audit::AuditTrail* const audit_;
  TaskListing task_listing_;
};

}  // namespace weft::control
