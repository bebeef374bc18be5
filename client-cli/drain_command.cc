// weftctl drain: StopServer while a WatchEvents stream, opened first, shows the drain's
// progress — a bar redrawn in place on a terminal, one line per update otherwise.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client-cli/commands.h"
#include "client-cli/output.h"
#include "weft/base/proto_time.h"
#include "weft/base/sync.h"

namespace weft::cli {
namespace {

constexpr int kBarWidth = 24;
// How long to wait, after StopServer returned, for the stream to deliver the drain's last
// report (the server sends it before the reply; only the stream may lag).
constexpr absl::Duration kLastReportWait = absl::Seconds(2);

// ProgressText renders one report: a bar for a terminal, a plain line otherwise.
std::string ProgressText(const std::string& server, const v1::DrainProgress& progress, bool bar) {
  const std::uint64_t ended =
      static_cast<std::uint64_t>(progress.cooperative_tasks()) + progress.forced_tasks();
  const std::uint64_t total = ended + progress.remaining_tasks();
  const std::string counts = absl::StrCat(
      "remaining ", progress.remaining_tasks(), ", cooperative ", progress.cooperative_tasks(),
      ", forced ", progress.forced_tasks(), ", dropped ", progress.dropped_tasks(), ", ",
      FormatDurationShort(DurationFromProto(progress.elapsed())), " of ",
      FormatDurationShort(DurationFromProto(progress.timeout())));
  if (!bar) {
    return absl::StrCat("drain ", server, ": ", counts, progress.done() ? " (done)" : "", "\n");
  }
  const int filled = total == 0
                         ? kBarWidth
                         : static_cast<int>(ended * kBarWidth / std::max<std::uint64_t>(total, 1));
  // \r and "erase to the end of the line": each report overwrites the previous one.
  return absl::StrCat("\r\x1b[K", server, " [", std::string(filled, '#'),
                      std::string(kBarWidth - filled, '-'), "] ", counts,
                      progress.done() ? "\n" : "");
}

// DrainOne drains `server` on `target`, writing progress to context.out; returns StopServer's
// reply.
absl::StatusOr<v1::StopServerResponse> DrainOne(const CommandContext& context,
                                                const Target& target) {
  const Invocation& invocation = context.invocation;
  const std::string server = TerminalSafe(invocation.server);
  CancelGroup watch_cancel;
  TargetClient watcher(target, context.client, &watch_cancel);
  absl::StatusOr<std::unique_ptr<TargetClient::EventStream>> stream =
      watcher.Watch(invocation.server);
  if (!stream.ok()) return stream.status();

  Mutex mu;
  CondVar changed;
  bool saw_done = false;
  // With -o json only the final document is written.
  const bool show = invocation.global.output != OutputFormat::kJson;
  std::thread reader([&] {
    while (std::optional<v1::Event> event = (*stream)->Next()) {
      if (event->type() != v1::EVENT_TYPE_DRAIN_PROGRESS) continue;
      if (show) {
        context.out << ProgressText(server, event->drain_progress(), context.terminal);
        context.out.flush();
      }
      if (event->drain_progress().done()) {
        MutexLock lock(&mu);
        saw_done = true;
        changed.SignalAll();
      }
    }
  });

  TargetClient client(target, context.client, context.cancel);
  absl::StatusOr<v1::StopServerResponse> response =
      client.StopServer(invocation.server, invocation.drain);
  if (response.ok()) {
    MutexLock lock(&mu);
    changed.AwaitUntil(
        &mu,
        [&]() {
          mu.AssertHeld();
          return saw_done;
        },
        DeadlineAfter(kLastReportWait));
  }
  watch_cancel.CancelAll();
  reader.join();
  (void)(*stream)->Finish();  // Cancelled by us: not a failure of the drain.
  return response;
}

}  // namespace

absl::Status RunDrainCommand(const CommandContext& context) {
  const Invocation& invocation = context.invocation;
  const bool json = invocation.global.output == OutputFormat::kJson;
  const bool multi = invocation.global.targets.size() > 1;
  JsonDocument document;
  std::vector<absl::Status> statuses;
  for (const Target& target : invocation.global.targets) {
    absl::StatusOr<v1::StopServerResponse> response = DrainOne(context, target);
    statuses.push_back(response.status());
    if (json) {
      if (response.ok()) {
        document.Add(target.name, "stopServer", MessageToJson(*response));
      } else {
        document.AddError(target.name, response.status());
      }
      continue;
    }
    if (!response.ok()) continue;
    context.out << (multi ? absl::StrCat(target.name, "  ") : "") << "stopped "
                << TerminalSafe(invocation.server) << ": " << response->cooperative_tasks()
                << " cooperative, " << response->forced_tasks() << " forced, "
                << response->dropped_tasks() << " dropped in "
                << FormatDurationShort(DurationFromProto(response->elapsed())) << "\n";
  }
  if (json) context.out << document.Render();
  context.out.flush();
  return CombineFailures(statuses);
}

}  // namespace weft::cli
