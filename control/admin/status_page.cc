#include "control/admin/status_page.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "weft/base/names.h"
#include "weft/base/proto_time.h"

namespace weft::control::admin {
namespace {

using v1::Server;
using v1::Task;

// A column: the cell's data-field, its heading, and its text for one row. The script looks
// columns up by data-field (from the heading row), so the order is defined here only.
template <typename Row>
struct Column {
  const char* field;
  const char* heading;
  std::function<std::string(const Row&)> text;
};

std::string Escape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

// StateLabel: "SERVER_STATE_NOT_ACCEPTING" -> "not accepting" (the script's stateLabel).
std::string StateLabel(v1::ServerState state) {
  std::string name(absl::StripPrefix(v1::ServerState_Name(state), "SERVER_STATE_"));
  absl::AsciiStrToLower(&name);
  return absl::StrReplaceAll(name, {{"_", " "}});
}

// HostPort: "127.0.0.1:7000", "[::1]:7000" (the script's hostPort).
std::string HostPort(const Server& server) {
  const std::string& host = server.address();
  return host.find(':') == std::string::npos ? absl::StrCat(host, ":", server.port())
                                             : absl::StrCat("[", host, "]:", server.port());
}

// Limit: the manager's limit when it has one, else max_connections; 0 means none (the script's
// limitLabel).
std::string Limit(const Server& server) {
  const std::uint32_t limit =
      server.manager().limit() != 0 ? server.manager().limit() : server.max_connections();
  return limit == 0 ? "none" : absl::StrCat(limit);
}

// FormatSeconds: "12.3s" under a minute, "4m 05s" under an hour, "2h 03m 04s" beyond (the
// script's formatSeconds).
std::string FormatSeconds(double seconds) {
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const auto total = static_cast<std::int64_t>(std::floor(seconds));
  const std::int64_t hours = total / 3600;
  const std::int64_t minutes = total % 3600 / 60;
  const std::int64_t rest = total % 60;
  return hours == 0 ? absl::StrFormat("%dm %02ds", minutes, rest)
                    : absl::StrFormat("%dh %02dm %02ds", hours, minutes, rest);
}

std::string FormatDuration(const google::protobuf::Duration& duration) {
  return FormatSeconds(absl::ToDoubleSeconds(weft::DurationFromProto(duration)));
}

const std::vector<Column<Server>>& ServerColumns() {
  static const auto* const columns = new std::vector<Column<Server>>{
      {"name", "server", [](const Server& s) { return s.name(); }},
      {"state", "state", [](const Server& s) { return StateLabel(s.state()); }},
      {"address", "address", [](const Server& s) { return HostPort(s); }},
      {"accepting", "accepting",
       [](const Server& s) { return YesNo(s.state() == v1::SERVER_STATE_RUNNING); }},
      {"draining", "draining", [](const Server& s) { return YesNo(s.draining()); }},
      {"open_connections", "active",
       [](const Server& s) { return absl::StrCat(s.open_connections()); }},
      {"limit", "limit", [](const Server& s) { return Limit(s); }},
      {"queued", "queued", [](const Server& s) { return absl::StrCat(s.queued_tasks()); }},
      {"accepted", "accepted", [](const Server& s) { return absl::StrCat(s.accepted_total()); }},
      {"refused", "refused", [](const Server& s) { return absl::StrCat(s.refused_total()); }},
      {"bytes_in", "bytes in",
       [](const Server& s) { return absl::StrCat(s.received_bytes_total()); }},
      {"bytes_out", "bytes out",
       [](const Server& s) { return absl::StrCat(s.sent_bytes_total()); }},
  };
  return *columns;
}

const std::vector<Column<Task>>& TaskColumns() {
  static const auto* const columns = new std::vector<Column<Task>>{
      {"server", "server", [](const Task& t) { return t.server(); }},
      {"id", "task", [](const Task& t) { return absl::StrCat(t.id()); }},
      {"peer", "peer", [](const Task& t) { return t.peer(); }},
      {"age", "age", [](const Task& t) { return FormatDuration(t.age()); }},
      {"idle", "idle", [](const Task& t) { return FormatDuration(t.idle()); }},
      {"bytes_in", "bytes in", [](const Task& t) { return absl::StrCat(t.bytes_in()); }},
      {"bytes_out", "bytes out", [](const Task& t) { return absl::StrCat(t.bytes_out()); }},
  };
  return *columns;
}

std::string RowAttributes(const Server& server) {
  return absl::StrCat(" data-server=\"", Escape(server.name()), "\"");
}

std::string RowAttributes(const Task& task) {
  return absl::StrCat(" data-server=\"", Escape(task.server()), "\" data-task=\"", task.id(), "\"");
}

template <typename Row>
void AppendTable(const char* id, const char* caption, const std::vector<Column<Row>>& columns,
                 const std::vector<Row>& rows, std::string& html) {
  absl::StrAppend(&html, "<table id=\"", id, "\">\n<caption>", caption, "</caption>\n<thead><tr>");
  for (const Column<Row>& column : columns) {
    absl::StrAppend(&html, "<th data-field=\"", column.field, "\">", column.heading, "</th>");
  }
  absl::StrAppend(&html, "</tr></thead>\n<tbody>\n");
  for (const Row& row : rows) {
    absl::StrAppend(&html, "<tr", RowAttributes(row), ">");
    for (const Column<Row>& column : columns) {
      absl::StrAppend(&html, "<td data-field=\"", column.field, "\">", Escape(column.text(row)),
                      "</td>");
    }
    absl::StrAppend(&html, "</tr>\n");
  }
  absl::StrAppend(&html, "</tbody>\n</table>\n");
}

// Ranked: the kStatusPageTasksShown tasks with the largest key, largest first, ties by id.
std::vector<Task> Ranked(std::vector<Task> tasks,
                         const google::protobuf::Duration& (Task::*key)() const) {
  const auto before = [key](const Task& a, const Task& b) {
    const absl::Duration ka = weft::DurationFromProto((a.*key)());
    const absl::Duration kb = weft::DurationFromProto((b.*key)());
    return ka != kb ? ka > kb : a.id() < b.id();
  };
  const std::size_t shown = std::min(tasks.size(), kStatusPageTasksShown);
  std::partial_sort(tasks.begin(), tasks.begin() + static_cast<std::ptrdiff_t>(shown), tasks.end(),
                    before);
  tasks.resize(shown);
  return tasks;
}

constexpr absl::string_view kStyle = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
#meta { color: #555; margin: 0 0 1em; }
#error { color: #fff; background: #b00020; padding: .4em .6em; }
table { border-collapse: collapse; margin: 0 0 1.5em; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; }
td[data-field=name], td[data-field=server], td[data-field=state], td[data-field=address],
td[data-field=peer] { text-align: left; }
tbody:empty::after { content: "none"; color: #777; padding: .2em .6em; }
)css";

// The refresh script. It must stay in step with the columns above (it looks them up by
// data-field) and with StateLabel, HostPort, Limit and FormatSeconds; the process line with
// ProcessLine (its spans, by data-field) and weft::names.
constexpr absl::string_view kScript = R"js(
(function () {
  'use strict';
  var REFRESH_MS = 2000;
  var TASKS_SHOWN = Number(document.body.dataset.tasksShown);
  var status = window.weftStatus = {loadedAt: Date.now(), refreshes: 0, failures: 0};

  function yesNo(b) { return b ? 'yes' : 'no'; }
  function count(v) { return v === undefined || v === null ? '0' : String(v); }
  function stateLabel(s) {
    return String(s || '').replace(/^SERVER_STATE_/, '').toLowerCase().replace(/_/g, ' ');
  }
  function hostPort(s) {
    var host = s.address || '';
    return (host.indexOf(':') >= 0 ? '[' + host + ']' : host) + ':' + (s.port || 0);
  }
  function limitLabel(s) {
    var limit = (s.manager && s.manager.limit) || s.maxConnections || 0;
    return limit ? String(limit) : 'none';
  }
  function seconds(d) { return d ? parseFloat(d) : 0; }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function formatSeconds(sec) {
    if (sec < 60) return sec.toFixed(1) + 's';
    var total = Math.floor(sec), h = Math.floor(total / 3600), m = Math.floor(total % 3600 / 60);
    var s = total % 60;
    return h === 0 ? m + 'm ' + pad2(s) + 's' : h + 'h ' + pad2(m) + 'm ' + pad2(s) + 's';
  }

  var PROCESS_STATES = {PROCESS_STATE_SERVING: 'serving', PROCESS_STATE_DRAINING: 'draining'};
  var PEER_ROLES = {PEER_ROLE_PREDECESSOR: 'predecessor', PEER_ROLE_SUCCESSOR: 'successor'};
  var PROCESS_FIELDS = {
    pid: function (p) { return count(p.pid); },
    generation: function (p) { return count(p.generation); },
    state: function (p) { return PROCESS_STATES[p.state] || 'unknown'; },
    'peer-role': function (p) { return (p.peer && PEER_ROLES[p.peer.role]) || 'unknown'; },
    'peer-pid': function (p) { return count(p.peer && p.peer.pid); }
  };

  var SERVER_FIELDS = {
    name: function (s) { return s.name; },
    state: function (s) { return stateLabel(s.state); },
    address: hostPort,
    accepting: function (s) { return yesNo(s.state === 'SERVER_STATE_RUNNING'); },
    draining: function (s) { return yesNo(s.draining); },
    open_connections: function (s) { return count(s.openConnections); },
    limit: limitLabel,
    queued: function (s) { return count(s.queuedTasks); },
    accepted: function (s) { return count(s.acceptedTotal); },
    refused: function (s) { return count(s.refusedTotal); },
    bytes_in: function (s) { return count(s.receivedBytesTotal); },
    bytes_out: function (s) { return count(s.sentBytesTotal); }
  };
  var TASK_FIELDS = {
    server: function (t) { return t.server; },
    id: function (t) { return count(t.id); },
    peer: function (t) { return t.peer; },
    age: function (t) { return formatSeconds(seconds(t.age)); },
    idle: function (t) { return formatSeconds(seconds(t.idle)); },
    bytes_in: function (t) { return count(t.bytesIn); },
    bytes_out: function (t) { return count(t.bytesOut); }
  };

  // syncTable makes the body of `table` show `items` in order, reusing the row whose
  // attributes match an item (so rows and cells keep their identity across refreshes) and
  // setting text only, never markup.
  function syncTable(table, items, attributes, fields) {
    var columns = Array.prototype.map.call(table.tHead.rows[0].cells,
                                           function (th) { return th.dataset.field; });
    var body = table.tBodies[0];
    var old = {};
    Array.prototype.forEach.call(body.rows, function (tr) {
      old[JSON.stringify([tr.dataset.server, tr.dataset.task])] = tr;
    });
    var rows = items.map(function (item) {
      var attrs = attributes(item);
      var key = JSON.stringify([attrs.server, attrs.task]);
      var tr = old[key];
      delete old[key];
      if (!tr) {
        tr = document.createElement('tr');
        Object.keys(attrs).forEach(function (k) { tr.dataset[k] = attrs[k]; });
        columns.forEach(function (field) {
          var td = document.createElement('td');
          td.dataset.field = field;
          tr.appendChild(td);
        });
      }
      Array.prototype.forEach.call(tr.cells, function (td) {
        var text = fields[td.dataset.field](item);
        if (td.textContent !== text) td.textContent = text;
      });
      return tr;
    });
    rows.forEach(function (tr, i) {
      if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
    });
    Object.keys(old).forEach(function (key) { body.removeChild(old[key]); });
  }

  function ranked(tasks, key) {
    return tasks.slice().sort(function (a, b) {
      var d = seconds(b[key]) - seconds(a[key]);
      if (d !== 0) return d;
      var ia = BigInt(a.id || 0), ib = BigInt(b.id || 0);
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    }).slice(0, TASKS_SHOWN);
  }

  function FetchError(url, response) {
    this.status = response.status;
    this.message = response.status === 401
        ? 'HTTP 401 from ' + url + ': the admin API needs a viewer token ' +
          '(Authorization: Bearer TOKEN)'
        : 'HTTP ' + response.status + ' from ' + url;
  }

  async function getJson(url) {
    var options = {cache: 'no-store', credentials: 'same-origin'};
    if (window.AbortSignal && AbortSignal.timeout) options.signal = AbortSignal.timeout(10000);
    var response = await fetch(url, options);
    if (!response.ok) throw new FetchError(url, response);
    return response.json();
  }

  async function tasksOf(server) {
    try {
      var url = 'api/v1/servers/' + encodeURIComponent(server.name) + '/tasks?pageSize=1000';
      return (await getJson(url)).tasks || [];
    } catch (e) {
      // A server removed between the two requests has no tasks to show.
      if (e instanceof FetchError && e.status === 404) return [];
      throw e;
    }
  }

  // syncProcess shows `process` (GetProcess's JSON) on the process line.
  function syncProcess(process) {
    var line = document.getElementById('process');
    Array.prototype.forEach.call(line.querySelectorAll('[data-field]'), function (span) {
      var text = PROCESS_FIELDS[span.dataset.field](process);
      if (span.textContent !== text) span.textContent = text;
    });
    document.getElementById('peer').hidden = !process.peer;
    line.hidden = false;
  }

  var errorLine = document.getElementById('error');
  var lastUpdated = document.getElementById('last-updated');

  async function refresh() {
    try {
      var fetched = await Promise.all([getJson('api/v1/process'),
                                       getJson('api/v1/servers?pageSize=1000')]);
      syncProcess(fetched[0]);
      var servers = fetched[1].servers || [];
      var tasks = [].concat.apply([], await Promise.all(servers.map(tasksOf)));
      var serverAttrs = function (s) { return {server: s.name}; };
      var taskAttrs = function (t) { return {server: t.server, task: count(t.id)}; };
      syncTable(document.getElementById('servers'), servers, serverAttrs, SERVER_FIELDS);
      syncTable(document.getElementById('longest-running'), ranked(tasks, 'age'), taskAttrs,
                TASK_FIELDS);
      syncTable(document.getElementById('most-idle'), ranked(tasks, 'idle'), taskAttrs,
                TASK_FIELDS);
      status.refreshes++;
      lastUpdated.textContent = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      errorLine.hidden = true;
      errorLine.textContent = '';
    } catch (e) {
      status.failures++;
      errorLine.textContent = 'Refresh failed: ' + (e && e.message ? e.message : String(e)) +
                              '. The figures are from the last update.';
      errorLine.hidden = false;
    }
    setTimeout(refresh, REFRESH_MS);
  }

  setTimeout(refresh, REFRESH_MS);
})();
)js";

// ProcessLine: the `p#process` line (see RenderStatusPage), hidden while `process` is unset;
// the peer's part (span#peer) is hidden while it has no peer. Every part is always there, so
// the script only sets text and `hidden`.
std::string ProcessLine(const std::optional<v1::Process>& process) {
  const v1::Process shown = process.value_or(v1::Process());
  const auto field = [](absl::string_view name, absl::string_view value) {
    return absl::StrCat("<span data-field=\"", name, "\">", Escape(value), "</span>");
  };
  const auto state = [](v1::ProcessState state) -> absl::string_view {
    if (state == v1::PROCESS_STATE_SERVING) return names::kProcessServing;
    if (state == v1::PROCESS_STATE_DRAINING) return names::kProcessDraining;
    return names::kUnknown;
  };
  const auto role = [](v1::PeerRole role) -> absl::string_view {
    if (role == v1::PEER_ROLE_PREDECESSOR) return names::kProcessRolePredecessor;
    if (role == v1::PEER_ROLE_SUCCESSOR) return names::kProcessRoleSuccessor;
    return names::kUnknown;
  };
  return absl::StrCat("<p id=\"process\"", process.has_value() ? ">" : " hidden>", "pid ",
                      field("pid", absl::StrCat(shown.pid())), " &middot; generation ",
                      field("generation", absl::StrCat(shown.generation())), " &middot; ",
                      field("state", state(shown.state())), "<span id=\"peer\"",
                      shown.has_peer() ? ">" : " hidden>", " &middot; hand-off ",
                      field("peer-role", role(shown.peer().role())), " pid ",
                      field("peer-pid", absl::StrCat(shown.peer().pid())), "</span></p>\n");
}

}  // namespace

void RankTasks(std::vector<Task> tasks, StatusPageData& data) {
  data.longest_running = Ranked(tasks, &Task::age);
  data.most_idle = Ranked(std::move(tasks), &Task::idle);
}

std::string RenderStatusPage(const StatusPageData& data) {
  const std::string generated =
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", data.generated, absl::UTCTimeZone());
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>weftd status</title>\n<style>",
      kStyle, "</style>\n</head>\n<body data-tasks-shown=\"", kStatusPageTasksShown,
      "\">\n<h1>weftd status</h1>\n<p id=\"meta\">weftd ", Escape(data.version),
      " &middot; last updated <time id=\"last-updated\">", generated,
      "</time> &middot; refreshes every 2 s with JavaScript on</p>\n", ProcessLine(data.process),
      "<p id=\"error\" role=\"alert\"", data.error.empty() ? " hidden>" : ">", Escape(data.error),
      "</p>\n");
  AppendTable("servers", "Servers", ServerColumns(), data.servers, html);
  AppendTable("longest-running", "Longest-running tasks", TaskColumns(), data.longest_running,
              html);
  AppendTable("most-idle", "Most idle tasks", TaskColumns(), data.most_idle, html);
  absl::StrAppend(&html, "<script>", kScript, "</script>\n</body>\n</html>\n");
  return html;
}

}  // namespace weft::control::admin
