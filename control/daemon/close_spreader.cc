#include "control/daemon/close_spreader.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "weft/base/log.h"

namespace weft::control {

std::vector<absl::Time> SpreadCloseTimes(absl::Time start, absl::Duration window,
                                         std::size_t count) {
  std::vector<absl::Time> times;
  times.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // Multiply before dividing: the last time lands exactly on start + window.
    times.push_back(start +
                    window * static_cast<std::int64_t>(i + 1) / static_cast<std::int64_t>(count));
  }
  return times;
}

std::vector<ScheduledClose> PlanCloses(const std::vector<ManagedServer*>& servers,
                                       absl::Time start) {
  std::vector<ScheduledClose> plan;
  for (ManagedServer* server : servers) {
    if (server->close_spread <= absl::ZeroDuration()) continue;
    std::vector<TaskId> tasks = server->server->task_manager().AllTasks();
    if (tasks.empty()) continue;
    std::sort(tasks.begin(), tasks.end());
    LOG(INFO) << "draining: closing " << tasks.size() << " idle connections on listener \""
              << server->name << "\" spread over " << absl::FormatDuration(server->close_spread);
    const std::vector<absl::Time> times =
        SpreadCloseTimes(start, server->close_spread, tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      plan.push_back(ScheduledClose{.at = times[i], .server = server, .task = tasks[i]});
    }
  }
  // Stable: a tie between listeners keeps listener order, within one the task order.
  std::stable_sort(plan.begin(), plan.end(),
                   [](const ScheduledClose& a, const ScheduledClose& b) { return a.at < b.at; });
  return plan;
}

CloseSpreadReport SpreadCloses(const std::vector<ManagedServer*>& servers, DrainWaiter* waiter,
                               absl::Time deadline, absl::Duration grace) {
  CloseSpreadReport report;
  const std::vector<ScheduledClose> plan = PlanCloses(servers, absl::Now());
  if (plan.empty()) return report;
  for (const ScheduledClose& close : plan) {
    // Wakes early on every connection end elsewhere; done() stays false, so it waits on.
    waiter->Wait([] { return false; }, std::min(close.at, deadline));
    if (waiter->aborted()) {
      report.aborted = true;
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    if (close.server->server->task_manager().StopTask(close.task, std::min(grace, left))) {
      ++report.closed;
    } else {
      ++report.skipped;
    }
  }
  LOG(INFO) << "draining: close spread " << (report.aborted ? "aborted" : "done") << ": "
            << report.closed << " connections asked to close, " << report.skipped
            << " had ended by themselves"
            << (report.closed + report.skipped < plan.size()
                    ? absl::StrCat(", ", plan.size() - report.closed - report.skipped,
                                   " left to the drain's end")
                    : "");
  return report;
}

}  // namespace weft::control
