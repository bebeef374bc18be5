// weftctl stop-tasks: StopTasks with the task filter flags, a dry run, a confirmation when a
// person is at a terminal, and the counts of how the tasks ended.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client-cli/commands.h"
#include "client-cli/output.h"
#include "client-cli/task_filter_flags.h"
#include "weft/base/proto_time.h"

namespace weft::cli {
namespace {

// How many matching tasks a preview shows.
constexpr int kPreviewTasks = 10;

// Cells prepends the target when there are several.
std::vector<std::string> Cells(const CommandContext& context, const Target& target,
                               std::vector<std::string> cells) {
  if (context.invocation.global.targets.size() > 1) cells.insert(cells.begin(), target.name);
  return cells;
}

// Preview renders a dry run: how many tasks match and the first of them.
std::string Preview(const CommandContext& context, const Target& target,
                    const v1::StopTasksResponse& response) {
  const bool wide = context.invocation.global.output == OutputFormat::kWide;
  std::string text = absl::StrCat(
      response.matched_tasks(), response.matched_tasks() == 1 ? " task matches " : " tasks match ",
      DescribeTaskFilter(context.invocation.filter), " on server \"",
      TerminalSafe(context.invocation.server), "\"",
      context.invocation.global.targets.size() > 1 ? absl::StrCat(" (", target.name, ")") : "",
      "\n");
  if (response.tasks_size() > 0) {
    Table table(TaskHeaders(wide));
    for (const v1::Task& task : response.tasks()) table.AddRow(TaskRow(task, wide));
    absl::StrAppend(&text, table.Render());
    if (response.matched_tasks() > static_cast<std::uint32_t>(response.tasks_size())) {
      absl::StrAppend(&text, "... and ", response.matched_tasks() - response.tasks_size(),
                      " more\n");
    }
  }
  return text;
}

// Confirm asks whether to stop `count` tasks; true for "y" or "yes".
bool Confirm(const CommandContext& context, std::uint32_t count) {
  context.out << "Stop " << count << (count == 1 ? " task" : " tasks") << " on "
              << TerminalSafe(context.invocation.server) << "? [y/N] ";
  context.out.flush();
  std::string answer;
  if (context.in == nullptr || !std::getline(*context.in, answer)) return false;
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  return answer == "y" || answer == "yes";
}

}  // namespace

absl::Status RunStopTasksCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const bool json = invocation.global.output == OutputFormat::kJson;
  v1::StopTasksRequest request;
  request.set_server(invocation.server);
  *request.mutable_filter() = invocation.filter;
  request.set_max_count(invocation.max_count.value_or(0));
  if (invocation.task_timeout.has_value()) {
    *request.mutable_timeout() = DurationToProto(*invocation.task_timeout);
  }
  request.set_page_size(kPreviewTasks);
  // Scripts (no terminal) are not asked: --max guards them, --dry-run previews.
  const bool ask = context.interactive && !invocation.dry_run && !invocation.yes && !json;

  JsonDocument document;
  Table results(Cells(context, Target{.name = "TARGET"},
                      {"SERVER", "MATCHED", "COOPERATIVE", "FORCED", "DROPPED", "ELAPSED"}));
  std::vector<absl::Status> statuses;
  for (const Target& target : invocation.global.targets) {
    TargetClient client(target, context.client, context.cancel);
    if (ask) {
      v1::StopTasksRequest dry_run = request;
      dry_run.set_dry_run(true);
      absl::StatusOr<v1::StopTasksResponse> preview = client.StopTasks(dry_run);
      if (!preview.ok()) {
        statuses.push_back(preview.status());
        continue;
      }
      context.out << Preview(context, target, *preview);
      if (preview->matched_tasks() == 0) {
        statuses.push_back(absl::OkStatus());
        continue;
      }
      if (!Confirm(context, preview->matched_tasks())) {
        statuses.push_back(absl::AbortedError(
            absl::StrCat("not confirmed: nothing was stopped on ", target.name)));
        continue;
      }
    }
    request.set_dry_run(invocation.dry_run);
    absl::StatusOr<v1::StopTasksResponse> response = client.StopTasks(request);
    statuses.push_back(response.status());
    if (!response.ok()) {
      if (json) document.AddError(target.name, response.status());
      continue;
    }
    if (json) {
      document.Add(target.name, invocation.dry_run ? "dryRun" : "stopTasks",
                   MessageToJson(*response));
    } else if (invocation.dry_run) {
      context.out << Preview(context, target, *response);
    } else {
      results.AddRow(
          Cells(context, target,
                {invocation.server, absl::StrCat(response->matched_tasks()),
                 absl::StrCat(response->cooperative_tasks()),
                 absl::StrCat(response->forced_tasks()), absl::StrCat(response->dropped_tasks()),
                 FormatDurationShort(DurationFromProto(response->elapsed()))}));
    }
  }
  if (json) {
    context.out << document.Render();
  } else if (!results.empty()) {
    context.out << results.Render();
  }
  context.out.flush();
  return CombineFailures(statuses);
}

}  // namespace weft::cli
