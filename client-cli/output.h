// Output formatting of weftctl: aligned text tables, the short human forms of states,
// durations and addresses, and the JSON documents of -o json. No I/O; thread-safe (no state).
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "weft/base/json.h"
#include "weft/control/v1/control.pb.h"

namespace weft::cli {

namespace v1 = ::weft::control::v1;

// Table: rows of cells rendered as left-aligned columns separated by three spaces, headers
// first, no trailing spaces. Cells are made safe for a terminal (see TerminalSafe).
// Thread-compatible.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // AddRow appends a row; missing cells are blank, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  // Render returns the headers and the rows, each line ending in "\n".
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// TerminalSafe returns `text` with control bytes (below 0x20, and 0x7f) replaced by "\xNN", so
// that text from a server cannot drive the terminal.
std::string TerminalSafe(absl::string_view text);

// Short human names, e.g. "running", "not-accepting", "stopped"; "unknown" for
// unspecified or unrecognised values.
std::string ServerStateName(v1::ServerState state);
std::string TaskStateName(v1::TaskState state);
std::string ManagerKindName(v1::ManagerKind kind);
std::string EventTypeName(v1::EventType type);
std::string RefusalReasonName(v1::RefusalReason reason);
std::string ProcessStateName(v1::ProcessState state);
std::string PeerRoleName(v1::PeerRole role);

// FormatEndpoint joins an address and a port: "127.0.0.1:7007", "[::1]:7007".
std::string FormatEndpoint(absl::string_view address, std::uint32_t port);

// FormatDurationShort renders a duration in at most about six characters, for columns:
// "0s", "850ms", "4.2s", "59s", "3m07s", "2h05m", "3d04h". Negative durations render as "0s".
std::string FormatDurationShort(absl::Duration duration);

// FormatBytes renders a byte count for humans: "512B", "1.5KiB", "20MiB", "3.1GiB".
std::string FormatBytes(std::uint64_t bytes);

// LimitCell is the ACTIVE/QUEUED/LIMIT cell of a server: running and queued tasks, and its
// effective limit (the manager's limit, else max_connections, "-" for none).
std::string LimitCell(const v1::Server& server);

// ServerRow is the `servers` table row of `server` (without the TARGET cell); `wide` adds
// columns. ServerHeaders are the matching headers.
std::vector<std::string> ServerHeaders(bool wide);
std::vector<std::string> ServerRow(const v1::Server& server, bool wide, absl::Time now);

// TaskHeaders and TaskRow: the `tasks` table.
std::vector<std::string> TaskHeaders(bool wide);
std::vector<std::string> TaskRow(const v1::Task& task, bool wide);

// ProcessHeaders and ProcessRows: the `process` table. The first row is the answering process
// (ROLE "this"), then its hand-off peer when it has one (ROLE "predecessor" or "successor").
// STARTED is the RFC 3339 start time and the age at `now`, e.g.
// "2026-12-06T23:15:31.042Z (5m03s ago)".
std::vector<std::string> ProcessHeaders();
std::vector<std::vector<std::string>> ProcessRows(const v1::Process& process, absl::Time now);

// ServerDetails is `weftctl server NAME`: one "field: value" line per field.
std::string ServerDetails(const v1::Server& server, absl::Time now);

// EventLine is one line of `weftctl watch` (without the target prefix and the newline):
// time, server, event and its details. `wide` shows the full timestamp and the sequence.
std::string EventLine(const v1::Event& event, bool wide, absl::TimeZone zone);

// MessageJson returns `message` in protobuf's JSON mapping, compact: lowerCamelCase names,
// enums by name, 64-bit integers as strings, durations as "1.5s", timestamps in RFC 3339, and
// every scalar field present even when zero (so the document's shape does not vary).
std::string MessageJson(const google::protobuf::Message& message);

// MessageToJson is MessageJson as a Json value (fields in the same order), to nest in a document.
Json MessageToJson(const google::protobuf::Message& message);

// JsonDocument: the one document of a -o json run,
//   {"targets":[{"target":"HOST:PORT", KEY: VALUE}, {"target":"...","error":{...}}]}
// Thread-compatible.
class JsonDocument {
 public:
  // Add appends a target's result.
  void Add(absl::string_view target, absl::string_view key, Json value);
  // AddError appends a target's failure: {"code":"NOT_FOUND","message":"..."}.
  void AddError(absl::string_view target, const absl::Status& status);
  // Render returns the document (see JsonDump) and a newline.
  std::string Render() const;

 private:
  Json entries_ = Json::array();
};

}  // namespace weft::cli
