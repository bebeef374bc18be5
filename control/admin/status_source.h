// StatusPageSource: weftd's AdminSources::status_page, the figures of the /status page taken
// from the control plane itself.
#pragma once

#include <grpcpp/channel.h>

#include <functional>
#include <memory>
#include <string>

namespace weft::control::admin {

// StatusPageSource returns a function that renders the status page (RenderStatusPage) from
// GetProcess, ListServers and one ListTasks per server (1000 of each at most), called on
// `control_channel` (the control plane's in-process channel) with the request's Authorization
// header, each call bounded by AdminServer::kCallTimeout. A failed call is shown on the page's
// error line with what was gathered before it. The function is thread-safe; `version` is shown in
// the heading.
std::function<std::string(const std::string& authorization)> StatusPageSource(
    std::shared_ptr<grpc::Channel> control_channel, std::string version);

}  // namespace weft::control::admin
