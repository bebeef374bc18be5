#include "client-cli/commands.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client-cli/audit.h"
#include "client-cli/output.h"
#include "client-cli/top.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

bool Multi(const CommandContext& context) { return context.invocation.global.targets.size() > 1; }
bool Wide(const CommandContext& context) {
  return context.invocation.global.output == OutputFormat::kWide;
}
bool Json(const CommandContext& context) {
  return context.invocation.global.output == OutputFormat::kJson;
}

// PerTarget runs `call` on every target, concurrently when there are several, and returns the
// results in target order.
template <typename T>
std::vector<absl::StatusOr<T>> PerTarget(
    const CommandContext& context, const std::function<absl::StatusOr<T>(TargetClient&)>& call) {
  const std::vector<Target>& targets = context.invocation.global.targets;
  std::vector<absl::StatusOr<T>> results(targets.size(), absl::UnknownError("not run"));
  auto run = [&](std::size_t i) {
    TargetClient client(targets[i], context.client, context.cancel);
    results[i] = call(client);
  };
  if (targets.size() == 1) {
    run(0);
    return results;
  }
  std::vector<std::thread> threads;
  threads.reserve(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) threads.emplace_back(run, i);
  for (std::thread& thread : threads) thread.join();
  return results;
}

template <typename T>
std::vector<absl::Status> Statuses(const std::vector<absl::StatusOr<T>>& results) {
  std::vector<absl::Status> statuses;
  statuses.reserve(results.size());
  for (const auto& result : results) statuses.push_back(result.status());
  return statuses;
}

template <typename T>
bool AnyOk(const std::vector<absl::StatusOr<T>>& results) {
  for (const auto& result : results) {
    if (result.ok()) return true;
  }
  return false;
}

// Headers prepends TARGET when there are several targets; Row its cell.
std::vector<std::string> Headers(const CommandContext& context, std::vector<std::string> headers) {
  if (Multi(context)) headers.insert(headers.begin(), "TARGET");
  return headers;
}
std::vector<std::string> Row(const CommandContext& context, const Target& target,
                             std::vector<std::string> cells) {
  if (Multi(context)) cells.insert(cells.begin(), target.name);
  return cells;
}

void Write(const CommandContext& context, const std::string& text) {
  context.out << text;
  context.out.flush();
}

// EmitJson writes the document: `value` renders a target's successful result.
template <typename T>
void EmitJson(const CommandContext& context, const std::vector<absl::StatusOr<T>>& results,
              absl::string_view key, const std::function<weft::Json(const T&)>& value) {
  JsonDocument document;
  const std::vector<Target>& targets = context.invocation.global.targets;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (results[i].ok()) {
      document.Add(targets[i].name, key, value(*results[i]));
    } else {
      document.AddError(targets[i].name, results[i].status());
    }
  }
  Write(context, document.Render());
}

// JsonObject makes an object of `members` followed by the fields of `message`.
weft::Json JsonObject(const std::vector<std::pair<std::string, weft::Json>>& members,
                      const google::protobuf::Message* message = nullptr) {
  weft::Json object = weft::Json::object();
  for (const auto& [key, value] : members) object[key] = value;
  if (message != nullptr) {
    // Named: items() refers to the object, which must outlive the loop.
    const weft::Json fields = MessageToJson(*message);
    for (const auto& [key, value] : fields.items()) object[key] = value;
  }
  return object;
}

// JsonUint64 writes a 64-bit integer as protobuf's JSON mapping does: as a string.
weft::Json JsonUint64(std::uint64_t value) { return absl::StrCat(value); }

// MessagesToJson makes an array of `messages`.
template <typename M>
weft::Json MessagesToJson(const std::vector<M>& messages) {
  weft::Json array = weft::Json::array();
  for (const M& message : messages) array.push_back(MessageToJson(message));
  return array;
}

// EmitServerRows: commands whose result is one server per target (run, stop-accepting,
// limits) print it as a `servers` row.
absl::Status EmitServerResults(const CommandContext& context,
                               const std::vector<absl::StatusOr<v1::Server>>& results) {
  if (Json(context)) {
    EmitJson<v1::Server>(context, results, "server",
                         [](const v1::Server& server) { return MessageToJson(server); });
  } else if (AnyOk(results)) {
    Table table(Headers(context, ServerHeaders(Wide(context))));
    const absl::Time now = absl::Now();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      table.AddRow(Row(context, context.invocation.global.targets[i],
                       ServerRow(*results[i], Wide(context), now)));
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

}  // namespace

absl::Status CombineFailures(const std::vector<absl::Status>& statuses) {
  absl::Status first;
  std::vector<std::string> messages;
  for (const absl::Status& status : statuses) {
    if (status.ok()) continue;
    if (first.ok()) first = status;
    messages.emplace_back(status.message());
  }
  if (messages.size() <= 1) return first;
  absl::Status combined(first.code(), absl::StrJoin(messages, "\n"));
  first.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { combined.SetPayload(url, payload); });
  return combined;
}

absl::Status RunServersCommand(const CommandContext& context) {
  const auto results = PerTarget<std::vector<v1::Server>>(
      context, [](TargetClient& client) { return client.ListServers(); });
  if (Json(context)) {
    EmitJson<std::vector<v1::Server>>(
        context, results, "servers",
        [](const std::vector<v1::Server>& servers) { return MessagesToJson(servers); });
  } else if (AnyOk(results)) {
    Table table(Headers(context, ServerHeaders(Wide(context))));
    const absl::Time now = absl::Now();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      for (const v1::Server& server : *results[i]) {
        table.AddRow(Row(context, context.invocation.global.targets[i],
                         ServerRow(server, Wide(context), now)));
      }
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunServerCommand(const CommandContext& context) {
  const std::string& name = context.invocation.server;
  const auto results =
      PerTarget<v1::Server>(context, [&](TargetClient& client) { return client.GetServer(name); });
  if (Json(context)) {
    EmitJson<v1::Server>(context, results, "server",
                         [](const v1::Server& server) { return MessageToJson(server); });
  } else {
    const absl::Time now = absl::Now();
    std::vector<std::string> blocks;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      std::string block = Multi(context)
                              ? absl::StrCat("target:", std::string(12, ' '),
                                             context.invocation.global.targets[i].name, "\n")
                              : "";
      absl::StrAppend(&block, ServerDetails(*results[i], now));
      blocks.push_back(std::move(block));
    }
    Write(context, absl::StrJoin(blocks, "\n"));
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunRunCommand(const CommandContext& context) {
  const std::string& name = context.invocation.server;
  return EmitServerResults(context, PerTarget<v1::Server>(context, [&](TargetClient& client) {
                             return client.RunServer(name);
                           }));
}

absl::Status RunStopAcceptingCommand(const CommandContext& context) {
  const std::string& name = context.invocation.server;
  return EmitServerResults(context, PerTarget<v1::Server>(context, [&](TargetClient& client) {
                             return client.StopAccepting(name);
                           }));
}

absl::Status RunLimitsCommand(const CommandContext& context) {
  const std::string& name = context.invocation.server;
  const std::uint32_t max = context.invocation.max_connections;
  return EmitServerResults(context, PerTarget<v1::Server>(context, [&](TargetClient& client) {
                             return client.UpdateMaxConnections(name, max);
                           }));
}

absl::Status RunStopCommand(const CommandContext& context) {
  const std::string& name = context.invocation.server;
  const std::optional<absl::Duration> drain = context.invocation.drain;
  const auto results = PerTarget<v1::StopServerResponse>(
      context, [&](TargetClient& client) { return client.StopServer(name, drain); });
  if (Json(context)) {
    EmitJson<v1::StopServerResponse>(
        context, results, "stopServer",
        [](const v1::StopServerResponse& response) { return MessageToJson(response); });
  } else if (AnyOk(results)) {
    Table table(Headers(context, {"NAME", "STATE", "COOPERATIVE", "FORCED", "DROPPED", "ELAPSED"}));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      const v1::StopServerResponse& r = *results[i];
      table.AddRow(Row(
          context, context.invocation.global.targets[i],
          {r.server().name(), ServerStateName(r.server().state()),
           absl::StrCat(r.cooperative_tasks()), absl::StrCat(r.forced_tasks()),
           absl::StrCat(r.dropped_tasks()), FormatDurationShort(DurationFromProto(r.elapsed()))}));
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunTasksCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const auto results = PerTarget<std::vector<v1::Task>>(
      context, [&](TargetClient& client) -> absl::StatusOr<std::vector<v1::Task>> {
        std::vector<std::string> names;
        if (!invocation.server.empty()) {
          names.push_back(invocation.server);
        } else {
          absl::StatusOr<std::vector<v1::Server>> servers = client.ListServers();
          if (!servers.ok()) return servers.status();
          for (const v1::Server& server : *servers) names.push_back(server.name());
        }
        std::vector<v1::Task> all;
        for (const std::string& name : names) {
          absl::StatusOr<std::vector<v1::Task>> tasks =
              client.ListTasks(name, invocation.older_than, invocation.idle_than, invocation.filter,
                               invocation.order_by);
          if (!tasks.ok()) return tasks.status();
          for (v1::Task& task : *tasks) all.push_back(std::move(task));
        }
        return all;
      });
  if (Json(context)) {
    EmitJson<std::vector<v1::Task>>(
        context, results, "tasks",
        [](const std::vector<v1::Task>& tasks) { return MessagesToJson(tasks); });
  } else if (AnyOk(results)) {
    Table table(Headers(context, TaskHeaders(Wide(context))));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      for (const v1::Task& task : *results[i]) {
        table.AddRow(Row(context, invocation.global.targets[i], TaskRow(task, Wide(context))));
      }
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunTaskStopCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const auto results = PerTarget<v1::StopTaskResponse>(context, [&](TargetClient& client) {
    return client.StopTask(invocation.server, invocation.task_id, invocation.task_timeout);
  });
  if (Json(context)) {
    EmitJson<v1::StopTaskResponse>(context, results, "stopTask",
                                   [&](const v1::StopTaskResponse& response) {
                                     return JsonObject({{"server", invocation.server},
                                                        {"taskId", JsonUint64(invocation.task_id)}},
                                                       &response);
                                   });
  } else if (AnyOk(results)) {
    Table table(Headers(context, {"SERVER", "ID", "RESULT", "ELAPSED"}));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      table.AddRow(Row(context, invocation.global.targets[i],
                       {invocation.server, absl::StrCat(invocation.task_id), "stopped",
                        FormatDurationShort(DurationFromProto(results[i]->elapsed()))}));
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunTaskRemoveCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const auto results = PerTarget<bool>(context, [&](TargetClient& client) -> absl::StatusOr<bool> {
    absl::Status status = client.RemoveTask(invocation.server, invocation.task_id);
    if (!status.ok()) return status;
    return true;
  });
  if (Json(context)) {
    EmitJson<bool>(context, results, "removeTask", [&](const bool&) {
      return JsonObject(
          {{"server", invocation.server}, {"taskId", JsonUint64(invocation.task_id)}});
    });
  } else if (AnyOk(results)) {
    Table table(Headers(context, {"SERVER", "ID", "RESULT"}));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      table.AddRow(Row(context, invocation.global.targets[i],
                       {invocation.server, absl::StrCat(invocation.task_id), "removed"}));
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunHealthCommand(const CommandContext& context) {
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  const std::string& service = context.invocation.server;
  const auto results = PerTarget<ServingStatus>(
      context, [&](TargetClient& client) { return client.CheckHealth(service); });
  const std::string shown = service.empty() ? "(overall)" : service;
  if (Json(context)) {
    EmitJson<ServingStatus>(context, results, "health", [&](const ServingStatus& status) {
      return JsonObject(
          {{"service", service},
           {"status", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(status)}});
    });
  } else if (AnyOk(results)) {
    Table table(Headers(context, {"SERVICE", "STATUS"}));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      table.AddRow(
          Row(context, context.invocation.global.targets[i],
              {shown, grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*results[i])}));
    }
    Write(context, table.Render());
  }
  std::vector<absl::Status> statuses = Statuses(results);
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok() && *results[i] != grpc::health::v1::HealthCheckResponse::SERVING) {
      statuses[i] = absl::FailedPreconditionError(
          absl::StrCat(service.empty() ? "weftd" : absl::StrCat("server \"", service, "\""), " is ",
                       grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*results[i]),
                       " on ", context.invocation.global.targets[i].name));
    }
  }
  return CombineFailures(statuses);
}

absl::Status RunProcessCommand(const CommandContext& context) {
  const auto results =
      PerTarget<v1::Process>(context, [](TargetClient& client) { return client.GetProcess(); });
  if (Json(context)) {
    EmitJson<v1::Process>(context, results, "process",
                          [](const v1::Process& process) { return MessageToJson(process); });
  } else if (AnyOk(results)) {
    Table table(Headers(context, ProcessHeaders()));
    const absl::Time now = absl::Now();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      for (std::vector<std::string>& row : ProcessRows(*results[i], now)) {
        table.AddRow(Row(context, context.invocation.global.targets[i], std::move(row)));
      }
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunAuditCommand(const CommandContext& context) {
  const std::uint32_t limit = context.invocation.limit;
  const auto results = PerTarget<std::vector<v1::AuditRecord>>(
      context, [limit](TargetClient& client) { return client.ListAuditRecords(limit); });
  if (Json(context)) {
    EmitJson<std::vector<v1::AuditRecord>>(context, results, "records",
                                           MessagesToJson<v1::AuditRecord>);
  } else if (AnyOk(results)) {
    Table table(Headers(context, AuditHeaders()));
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok()) continue;
      for (const v1::AuditRecord& record : *results[i]) {
        table.AddRow(Row(context, context.invocation.global.targets[i], AuditRow(record)));
      }
    }
    Write(context, table.Render());
  }
  return CombineFailures(Statuses(results));
}

absl::Status RunWatchCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const std::vector<Target>& targets = invocation.global.targets;
  CancelGroup local_cancel;
  CancelGroup* cancel = context.cancel != nullptr ? context.cancel : &local_cancel;
  WakeFd wake;
  std::mutex output_mu;  // Serialises writes to context.out and context.err.
  const absl::TimeZone zone = absl::LocalTimeZone();
  std::vector<absl::Status> statuses(targets.size());
  std::atomic<std::size_t> ended{0};
  std::vector<std::unique_ptr<TargetClient>> clients;
  for (const Target& target : targets) {
    clients.push_back(std::make_unique<TargetClient>(target, context.client, cancel));
  }

  auto watch = [&](std::size_t i) {
    TargetClient& client = *clients[i];
    absl::StatusOr<std::unique_ptr<TargetClient::EventStream>> stream =
        client.Watch(invocation.server);
    if (!stream.ok()) {
      statuses[i] = stream.status();
    } else {
      {
        std::lock_guard<std::mutex> lock(output_mu);
        context.err << "weftctl: watching " << client.target().name
                    << (invocation.server.empty()
                            ? ""
                            : absl::StrCat(" (server ", invocation.server, ")"))
                    << std::endl;
      }
      while (std::optional<v1::Event> event = (*stream)->Next()) {
        std::string line;
        if (Json(context)) {
          weft::Json json = weft::Json::object();
          json["target"] = client.target().name;
          json["event"] = MessageToJson(*event);
          line = weft::JsonDump(json);
        } else {
          line = absl::StrCat(Multi(context) ? absl::StrCat(client.target().name, "  ") : "",
                              EventLine(*event, Wide(context), zone));
        }
        std::lock_guard<std::mutex> lock(output_mu);
        context.out << line << "\n";
        context.out.flush();
      }
      statuses[i] = (*stream)->Finish();
    }
    if (cancel->cancelled() && absl::IsCancelled(statuses[i])) statuses[i] = absl::OkStatus();
    ended.fetch_add(1);
    wake.Notify();
  };

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < targets.size(); ++i) threads.emplace_back(watch, i);
  // Wait for a signal, or for every stream to end on its own.
  absl::Status wait_status;
  while (ended.load() < targets.size()) {
    pollfd fds[2] = {{wake.fd(), POLLIN, 0}, {-1, POLLIN, 0}};
    if (context.signals != nullptr) fds[1].fd = context.signals->fd();
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      wait_status = absl::ErrnoToStatus(errno, "poll");
      cancel->CancelAll();
      break;
    }
    if ((fds[1].revents & POLLIN) != 0 && context.signals->Read() != SIGWINCH) {
      cancel->CancelAll();
      break;
    }
    if ((fds[0].revents & POLLIN) != 0) wake.Drain();
  }
  for (std::thread& thread : threads) thread.join();
  statuses.push_back(wait_status);
  return CombineFailures(statuses);
}

absl::Status RunCommand(const CommandContext& context) {
  switch (context.invocation.command) {
    case Command::kServers:
      return RunServersCommand(context);
    case Command::kServer:
      return RunServerCommand(context);
    case Command::kRun:
      return RunRunCommand(context);
    case Command::kStop:
      return RunStopCommand(context);
    case Command::kStopAccepting:
      return RunStopAcceptingCommand(context);
    case Command::kTasks:
      return RunTasksCommand(context);
    case Command::kTaskStop:
      return RunTaskStopCommand(context);
    case Command::kTaskRemove:
      return RunTaskRemoveCommand(context);
    case Command::kLimits:
      return RunLimitsCommand(context);
    case Command::kWatch:
      return RunWatchCommand(context);
    case Command::kTop:
      return RunTopCommand(context);
    case Command::kHealth:
      return RunHealthCommand(context);
    case Command::kProcess:
      return RunProcessCommand(context);
    case Command::kStopTasks:
      return RunStopTasksCommand(context);
    case Command::kDrain:
      return RunDrainCommand(context);
    case Command::kAudit:
      return RunAuditCommand(context);
    case Command::kHelp:
    case Command::kCompletion:
      break;
  }
  return absl::InternalError(absl::StrCat("RunCommand: ", CommandName(context.invocation.command),
                                          " does not talk to targets"));
}

}  // namespace weft::cli
