#include "control/control_service.h"

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/audit/list_audit_records.h"
#include "control/paging.h"
#include "control/proto_conversion.h"
#include "control/status_conversion.h"
#include "control/tasks/stop_tasks.h"
#include "control/watch_reactor.h"
#include "weft/base/log.h"
#include "weft/base/version.h"

namespace weft::control {
namespace {

constexpr absl::Duration kMaxTimeout = absl::Hours(1);
constexpr absl::Duration kDefaultStopTaskTimeout = absl::Seconds(5);

// QuoteName renders a client-supplied name for an error message: escaped, and cut to
// kMaxQuotedName bytes. Status messages travel back in the grpc-message trailer, which clients
// refuse beyond their metadata limit (8 KiB by default): quoting a long name whole would turn
// NOT_FOUND into RESOURCE_EXHAUSTED at the client.
constexpr std::size_t kMaxQuotedName = 128;
std::string QuoteName(const std::string& name) {
  if (name.size() <= kMaxQuotedName) return absl::StrCat("\"", absl::CHexEscape(name), "\"");
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(name).substr(0, kMaxQuotedName)),
                      "\"... (", name.size(), " bytes)");
}

absl::StatusOr<ManagedServer*> FindServer(const ServerSet& servers, const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("a server name is required");
  ManagedServer* server = servers.Find(name);
  if (server == nullptr) {
    return absl::NotFoundError(absl::StrCat("server ", QuoteName(name), " not found"));
  }
  return server;
}

absl::Status TaskNotFound(std::uint64_t id, const std::string& server) {
  return absl::NotFoundError(absl::StrCat("task ", id, " not found on server \"", server, "\""));
}

}  // namespace

#define WEFT_RETURN_IF_ERROR(expr)                                     \
  do {                                                                 \
    if (absl::Status weft_status = (expr); !weft_status.ok()) {        \
      return ToGrpcStatus(weft_status);                                \
    }                                                                  \
  } while (false)

#define WEFT_ASSIGN_OR_RETURN(lhs, expr)                              \
  auto lhs##_or = (expr);                                              \
  if (!lhs##_or.ok()) return ToGrpcStatus(lhs##_or.status());          \
  auto lhs = std::move(*lhs##_or)

ControlService::ControlService(const ServerSet* servers, EventHub* events,
                               const Authenticator* auth, const ProcessInfo* process,
                               const audit::AuditTrail* audit)
    : servers_(servers), events_(events), auth_(auth), process_(process), audit_(audit) {}

void ControlService::Shutdown() { events_->CancelAll(); }

grpc::Status ControlService::ListServers(grpc::ServerContext* context,
                                         const v1::ListServersRequest* request,
                                         v1::ListServersResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kViewer, "ListServers"));
  WEFT_ASSIGN_OR_RETURN(page_size, PageSize(request->page_size()));
  std::string after;
  if (!request->page_token().empty()) {
    WEFT_ASSIGN_OR_RETURN(last, ParsePageToken("s", request->page_token()));
    after = std::move(last);
  }
  for (const ManagedServer* server : servers_->All()) {
    if (!after.empty() && server->name <= after) continue;
    if (response->servers_size() == page_size) {
      response->set_next_page_token(
          MakePageToken("s", response->servers(response->servers_size() - 1).name()));
      break;
    }
    *response->add_servers() = ServerToProto(*server);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::GetServer(grpc::ServerContext* context,
                                       const v1::GetServerRequest* request, v1::Server* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kViewer, "GetServer"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->name()));
  *response = ServerToProto(*server);
  return grpc::Status::OK;
}

grpc::Status ControlService::RunServer(grpc::ServerContext* context,
                                       const v1::RunServerRequest* request, v1::Server* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "RunServer"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->name()));
  if (server->server->task_manager().RunsTasksOnCaller()) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "server \"", server->name, "\" uses a single-threaded manager and is run by weftd itself")));
  }
  if (absl::Status status = server->server->Run(); !status.ok()) {
    return ToGrpcStatus(absl::Status(
        status.code(), absl::StrCat("server \"", server->name, "\": ", status.message())));
  }
  LOG(INFO) << "control: RunServer " << server->name;
  *response = ServerToProto(*server);
  return grpc::Status::OK;
}

grpc::Status ControlService::StopAccepting(grpc::ServerContext* context,
                                           const v1::StopAcceptingRequest* request,
                                           v1::Server* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "StopAccepting"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->name()));
  server->server->StopAccepting();
  LOG(INFO) << "control: StopAccepting " << server->name;
  *response = ServerToProto(*server);
  return grpc::Status::OK;
}

grpc::Status ControlService::StopServer(grpc::ServerContext* context,
                                        const v1::StopServerRequest* request,
                                        v1::StopServerResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "StopServer"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->name()));
  absl::Duration drain = server->drain_timeout;
  if (request->has_drain_timeout()) {
    WEFT_ASSIGN_OR_RETURN(requested,
                          DurationFromProto(request->drain_timeout(), "drain_timeout", kMaxTimeout));
    drain = requested;
  }
  const absl::Time start = absl::Now();
  const StopReport report = server->server->Stop(drain);
  const absl::Duration elapsed = absl::Now() - start;
  LOG(INFO) << "control: StopServer " << server->name << " in " << elapsed << ": "
            << report.cooperative << " cooperative, " << report.forced << " forced, "
            << report.dropped << " dropped";
  *response->mutable_server() = ServerToProto(*server);
  response->set_cooperative_tasks(static_cast<std::uint32_t>(report.cooperative));
  response->set_forced_tasks(static_cast<std::uint32_t>(report.forced));
  response->set_dropped_tasks(static_cast<std::uint32_t>(report.dropped));
  *response->mutable_elapsed() = DurationToProto(elapsed);
  return grpc::Status::OK;
}

grpc::Status ControlService::UpdateServer(grpc::ServerContext* context,
                                          const v1::UpdateServerRequest* request,
                                          v1::Server* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "UpdateServer"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->name()));
  if (request->has_max_connections()) {
    const std::uint32_t max = request->max_connections();
    server->server->set_max_connections(max == 0 ? std::nullopt
                                                 : std::optional<std::size_t>(max));
    LOG(INFO) << "control: UpdateServer " << server->name << " max_connections=" << max;
  }
  *response = ServerToProto(*server);
  return grpc::Status::OK;
}

grpc::Status ControlService::ListTasks(grpc::ServerContext* context,
                                       const v1::ListTasksRequest* request,
                                       v1::ListTasksResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kViewer, "ListTasks"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->server()));
  return ToGrpcStatus(
      task_listing_.List(server->name, server->server->task_manager(), *request, response));
}

grpc::Status ControlService::StopTask(grpc::ServerContext* context,
                                      const v1::StopTaskRequest* request,
                                      v1::StopTaskResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "StopTask"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->server()));
  if (request->task_id() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("task_id is required"));
  }
  absl::Duration timeout = kDefaultStopTaskTimeout;
  if (request->has_timeout()) {
    WEFT_ASSIGN_OR_RETURN(requested, DurationFromProto(request->timeout(), "timeout", kMaxTimeout));
    timeout = requested;
  }
  const absl::Time start = absl::Now();
  if (!server->server->task_manager().StopTask(request->task_id(), timeout)) {
    return ToGrpcStatus(TaskNotFound(request->task_id(), server->name));
  }
  *response->mutable_elapsed() = DurationToProto(absl::Now() - start);
  LOG(INFO) << "control: StopTask " << server->name << "/" << request->task_id();
  return grpc::Status::OK;
}

grpc::Status ControlService::RemoveTask(grpc::ServerContext* context,
                                        const v1::RemoveTaskRequest* request,
                                        v1::RemoveTaskResponse*) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "RemoveTask"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->server()));
  if (request->task_id() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("task_id is required"));
  }
  if (!server->server->task_manager().RemoveTask(request->task_id())) {
    return ToGrpcStatus(TaskNotFound(request->task_id(), server->name));
  }
  LOG(INFO) << "control: RemoveTask " << server->name << "/" << request->task_id();
  return grpc::Status::OK;
}

grpc::Status ControlService::StopTasks(grpc::ServerContext* context,
                                       const v1::StopTasksRequest* request,
                                       v1::StopTasksResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "StopTasks"));
  WEFT_ASSIGN_OR_RETURN(server, FindServer(*servers_, request->server()));
  WEFT_ASSIGN_OR_RETURN(reply, weft::control::StopTasks(*server, *request));
  *response = std::move(reply);
  return grpc::Status::OK;
}

grpc::Status ControlService::GetProcess(grpc::ServerContext* context, const v1::GetProcessRequest*,
                                        v1::Process* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kViewer, "GetProcess"));
  *response = ProcessToProto(process_->Snapshot(), weft::kVersion);
  return grpc::Status::OK;
}

grpc::Status ControlService::ListAuditRecords(grpc::ServerContext* context,
                                              const v1::ListAuditRecordsRequest* request,
                                              v1::ListAuditRecordsResponse* response) {
  WEFT_RETURN_IF_ERROR(auth_->Authorize(*context, Role::kOperator, "ListAuditRecords"));
  if (audit_ == nullptr) {
    return ToGrpcStatus(absl::UnimplementedError("this control plane keeps no audit trail"));
  }
  WEFT_RETURN_IF_ERROR(audit::ListAuditRecords(*audit_, *request, response));
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::Event>* ControlService::WatchEvents(
    grpc::CallbackServerContext* context, const v1::WatchEventsRequest* request) {
  if (absl::Status status = auth_->Authorize(*context, Role::kViewer, "WatchEvents");
      !status.ok()) {
    return WatchReactor::Failed(ToGrpcStatus(status));
  }
  if (!request->server().empty()) {
    if (absl::StatusOr<ManagedServer*> server = FindServer(*servers_, request->server());
        !server.ok()) {
      return WatchReactor::Failed(ToGrpcStatus(server.status()));
    }
  }
  return WatchReactor::Start(events_, request->server());
}

}  // namespace weft::control
