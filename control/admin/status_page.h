// RenderStatusPage: the admin endpoint's `GET /status`, a read-only HTML page for operators.
// The servers and the busiest tasks are rendered on the server, so the page is complete with
// JavaScript off; an inline script then refreshes it from the JSON API without reloading.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control::admin {

// kStatusPageTasksShown: rows in each task table (longest-running, most idle), here and in the
// page's script.
inline constexpr std::size_t kStatusPageTasksShown = 10;

// StatusPageData: what one rendering shows.
struct StatusPageData {
  // The weftd process (GetProcess); unset when it could not be fetched.
  std::optional<weft::control::v1::Process> process;
  // Every server, in the order shown (ListServers' order: by name).
  std::vector<weft::control::v1::Server> servers;
  // The tasks of the two task tables, in the order shown; RankTasks fills both.
  std::vector<weft::control::v1::Task> longest_running;
  std::vector<weft::control::v1::Task> most_idle;
  // When the figures were taken ("generated" on the page).
  absl::Time generated;
  // weftd's version, shown in the heading.
  std::string version;
  // Why the figures are incomplete, shown on the error line; empty = they are complete.
  std::string error;
};

// RankTasks fills data.longest_running with the kStatusPageTasksShown tasks of `tasks` with the
// largest age and data.most_idle with those with the largest idle time, largest first, ties by
// ascending id: the order the page's script uses when it refreshes the tables.
void RankTasks(std::vector<weft::control::v1::Task> tasks, StatusPageData& data);

// RenderStatusPage returns a complete HTML5 document (UTF-8) showing `data`. Every string from
// configuration or clients (server names, addresses, peers, the version) is HTML-escaped. It
// loads nothing else: CSS and script are inline, within the Content-Security-Policy
// `default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'`.
//
// The script fetches `api/v1/process`, `api/v1/servers?pageSize=1000` and, per server,
// `api/v1/servers/NAME/tasks?pageSize=1000` relative to the page (so the page must be served
// at /status) every 2 s, and updates the tables in place; it shows "last updated" and, when a
// fetch fails, an error line (id "error"; on 401 it says a viewer token is needed). It sets
// `window.weftStatus = {loadedAt, refreshes, failures}` for tests and the curious.
//
// Under the heading, `p#process` shows the process's pid, generation and state (serving or
// draining), each in a `span` with a `data-field` (pid, generation, state), and, in `span#peer`
// (hidden without a peer), its hand-off peer's role and pid (peer-role, peer-pid); the line is
// hidden when `process` is unset.
//
// Stable hooks for tests: server rows are `tr[data-server=NAME]` in `#servers`, task rows
// `tr[data-server=NAME][data-task=ID]` in `#longest-running` and `#most-idle`; every cell has a
// `data-field` (servers: name, state, address, accepting, draining, open_connections, limit,
// queued, accepted, refused, bytes_in, bytes_out; tasks: server, id, peer, age, idle,
// bytes_in, bytes_out). Counts are shown as exact decimal integers.
//
// Thread-safe (a pure function).
std::string RenderStatusPage(const StatusPageData& data);

}  // namespace weft::control::admin
