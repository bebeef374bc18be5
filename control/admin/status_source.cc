#include "control/admin/status_source.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/admin/admin_server.h"
#include "control/admin/json_api.h"
#include "control/admin/status_page.h"
#include "weft/control/v1/control.grpc.pb.h"

namespace weft::control::admin {
namespace {

// kPageSize: the most the control plane returns in one page.
constexpr int kPageSize = 1000;

}  // namespace

std::function<std::string(const std::string& authorization)> StatusPageSource(
    std::shared_ptr<grpc::Channel> control_channel, std::string version) {
  // Stubs are thread-safe: one for every request.
  std::shared_ptr<v1::Control::Stub> stub = v1::Control::NewStub(std::move(control_channel));
  return [stub, version = std::move(version)](const std::string& authorization) {
    StatusPageData data;
    data.version = version;
    data.generated = absl::Now();
    v1::ListServersRequest servers_request;
    servers_request.set_page_size(kPageSize);
    v1::ListServersResponse servers;
    const ControlCall call{stub.get(), authorization, AdminServer::kCallTimeout};
    v1::Process process;
    const grpc::Status got =
        CallControl(call, &v1::Control::Stub::GetProcess, v1::GetProcessRequest(), &process);
    if (!got.ok()) {
      data.error = absl::StrCat("cannot get the process: ", got.error_message());
      return RenderStatusPage(data);
    }
    data.process = std::move(process);
    const grpc::Status listed =
        CallControl(call, &v1::Control::Stub::ListServers, servers_request, &servers);
    if (!listed.ok()) {
      data.error = absl::StrCat("cannot list the servers: ", listed.error_message());
      return RenderStatusPage(data);
    }
    data.servers.assign(servers.servers().begin(), servers.servers().end());
    std::vector<v1::Task> tasks;
    for (const v1::Server& server : data.servers) {
      v1::ListTasksRequest tasks_request;
      tasks_request.set_server(server.name());
      tasks_request.set_page_size(kPageSize);
      v1::ListTasksResponse response;
      const grpc::Status status =
          CallControl(call, &v1::Control::Stub::ListTasks, tasks_request, &response);
      // A server removed since ListServers has no tasks to show.
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;
      if (!status.ok()) {
        data.error =
            absl::StrCat("cannot list the tasks of ", server.name(), ": ", status.error_message());
        break;
      }
      tasks.insert(tasks.end(), response.tasks().begin(), response.tasks().end());
    }
    RankTasks(std::move(tasks), data);
    return RenderStatusPage(data);
  };
}

}  // namespace weft::control::admin
