// End to end: the real weftctl binary against real weftd processes started from temporary
// configurations (control plane and listeners on port 0; the ports come from weftd's ready
// line). Every command and output mode, several targets, tokens, TLS, an unreachable target,
// watch under SIGINT, and top under a pseudo-terminal.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/unique_fd.h"
#include "tests/client-cli/test_process.h"
#include "tests/testing/loopback_client.h"

namespace weft::cli_test {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::weft::testing::LoopbackClient;
using ::weft::testing::WaitUntil;
using Stream = ChildProcess::Stream;

// Generous: the suite also runs under AddressSanitizer on two busy cores.
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kPrompt = absl::Seconds(15);

constexpr char kListeners[] = R"(
listeners { name: "echo" port: 0 handler { name: "echo" } drain_timeout: "1s" }
listeners { name: "web" port: 0 handler { name: "http-hello" } max_connections: 10
            drain_timeout: "1s" }
)";

std::filesystem::path MakeTempDir() {
  std::string pattern = (std::filesystem::path(::testing::TempDir()) / "weftctl_test.XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

void WriteFile(const std::filesystem::path& path, const std::string& contents, mode_t mode = 0600) {
  std::ofstream(path) << contents;
  ::chmod(path.c_str(), mode);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

// Weftd: one weftd process and the ports of its ready line.
class Weftd {
 public:
  // Start writes `config` to DIR/NAME.conf and runs weftd on it (stderr to DIR/NAME.log).
  static absl::StatusOr<std::unique_ptr<Weftd>> Start(const std::filesystem::path& dir,
                                                      const std::string& name,
                                                      const std::string& config) {
    auto weftd = std::unique_ptr<Weftd>(new Weftd());
    weftd->log_ = dir / absl::StrCat(name, ".log");
    const std::filesystem::path config_path = dir / absl::StrCat(name, ".conf");
    WriteFile(config_path, config);
    absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Spawn(
        {WEFTD_PATH, "--config", config_path.string()}, Environment(), weftd->log_.string());
    if (!process.ok()) return process.status();
    weftd->process_ = *std::move(process);
    absl::StatusOr<std::string> out =
        weftd->process_->ReadUntilContains(Stream::kOut, "\n", kStartTimeout);
    if (!out.ok()) {
      return absl::InternalError(absl::StrCat("weftd did not get ready: ", out.status().message(),
                                              "\nlog:\n", ReadFile(weftd->log_)));
    }
    // weftd ready control_port=N listeners=NAME=PORT,NAME=PORT
    const std::string line = out->substr(0, out->find('\n'));
    for (absl::string_view field : absl::StrSplit(line, ' ')) {
      if (absl::ConsumePrefix(&field, "control_port=")) {
        if (!absl::SimpleAtoi(field, &weftd->control_port_)) break;
      } else if (absl::ConsumePrefix(&field, "listeners=")) {
        for (absl::string_view pair : absl::StrSplit(field, ',', absl::SkipEmpty())) {
          std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
          int port = 0;
          if (absl::SimpleAtoi(kv.second, &port)) weftd->ports_[kv.first] = port;
        }
      }
    }
    if (!absl::StartsWith(line, "weftd ready ")) {
      return absl::InternalError(absl::StrCat("unexpected ready line: ", line));
    }
    return weftd;
  }

  // Stop drains weftd with SIGTERM and reaps it; the ChildProcess destructor kills it if it
  // does not exit in time.
  void Stop() {
    if (process_ == nullptr) return;
    if (process_->Signal(SIGTERM).ok()) {
      absl::StatusOr<ExitResult> exit = process_->Wait(kPrompt);
      if (!exit.ok() || exit->exit_code != 0) {
        ADD_FAILURE() << "weftd did not stop cleanly: "
                      << (exit.ok() ? DescribeExit(*exit) : exit.status().ToString()) << "\nlog:\n"
                      << ReadFile(log_);
      }
    }
    process_.reset();
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", control_port_); }
  int control_port() const { return control_port_; }
  std::uint16_t port(const std::string& listener) const {
    auto it = ports_.find(listener);
    return it == ports_.end() ? 0 : static_cast<std::uint16_t>(it->second);
  }
  std::string log() const { return ReadFile(log_); }
  pid_t pid() const { return process_->pid(); }
  absl::Status Signal(int signal) { return process_->Signal(signal); }

 private:
  Weftd() = default;
  std::unique_ptr<ChildProcess> process_;
  std::filesystem::path log_;
  int control_port_ = 0;
  std::map<std::string, int> ports_;
};

// Json parses a JSON document (into protobuf's Struct, which any JSON object fits).
google::protobuf::Struct Json(const std::string& text) {
  google::protobuf::Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(text, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in: " << text;
  return parsed;
}

// At follows a path of object keys and list indexes through parsed JSON.
const google::protobuf::Value& At(const google::protobuf::Struct& root,
                                  const std::vector<std::string>& path) {
  static const google::protobuf::Value* const kMissing = new google::protobuf::Value();
  google::protobuf::Value holder;
  *holder.mutable_struct_value() = root;
  const google::protobuf::Value* value = nullptr;
  const google::protobuf::Struct* object = &root;
  for (const std::string& step : path) {
    std::size_t index = 0;
    if (value != nullptr && value->has_list_value() && absl::SimpleAtoi(step, &index)) {
      if (index >= static_cast<std::size_t>(value->list_value().values_size())) return *kMissing;
      value = &value->list_value().values(static_cast<int>(index));
    } else {
      if (value != nullptr) {
        if (!value->has_struct_value()) return *kMissing;
        object = &value->struct_value();
      }
      auto it = object->fields().find(step);
      if (it == object->fields().end()) return *kMissing;
      value = &it->second;
    }
  }
  return value == nullptr ? *kMissing : *value;
}

std::string Str(const google::protobuf::Struct& root, const std::vector<std::string>& path) {
  return At(root, path).string_value();
}

std::string PeerOf(const LoopbackClient& client) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&address), &length);
  return absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
}

// ClosedPort returns a loopback port that nothing listens on (bound, then released).
std::uint16_t ClosedPort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// Lines splits output into lines.
std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::vector<std::string> Words(const std::string& line) {
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

// RowOf returns the line of a table whose cells include all of `cells` (whitespace-separated),
// or "" if there is none.
std::string RowOf(const std::string& table, const std::vector<std::string>& cells) {
  for (const std::string& line : Lines(table)) {
    const std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    bool all = true;
    for (const std::string& cell : cells) {
      all = all && std::find(words.begin(), words.end(), cell) != words.end();
    }
    if (all) return line;
  }
  return "";
}

class WeftctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    weftd_ = StartWeftd("a", absl::StrCat("control { address: \"127.0.0.1:0\" }\n", kListeners));
    ASSERT_NE(weftd_, nullptr);
  }

  void TearDown() override {
    for (auto& weftd : weftds_) weftd->Stop();
    weftds_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // StartWeftd starts one more weftd; null (after a test failure) if it does not get ready.
  Weftd* StartWeftd(const std::string& name, const std::string& config) {
    absl::StatusOr<std::unique_ptr<Weftd>> weftd = Weftd::Start(dir_, name, config);
    EXPECT_TRUE(weftd.ok()) << weftd.status();
    if (!weftd.ok()) return nullptr;
    weftds_.push_back(*std::move(weftd));
    return weftds_.back().get();
  }

  // Ctl runs weftctl with `args`; a failure to run it fails the test (and returns exit -1).
  RunResult Ctl(const std::vector<std::string>& args, const Environment& env = Environment()) {
    std::vector<std::string> argv = {WEFTCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RunResult> result = RunToCompletion(argv, env, absl::Seconds(60));
    EXPECT_TRUE(result.ok()) << absl::StrJoin(argv, " ") << ": " << result.status();
    return result.ok() ? *result : RunResult{};
  }

  // On runs weftctl against the fixture's weftd.
  RunResult On(std::vector<std::string> args) {
    args.insert(args.begin(), {"--target", weftd_->target()});
    return Ctl(args);
  }

  // Connected returns an echo client whose task is running (it has echoed once).
  LoopbackClient Connected(const std::string& listener = "echo") {
    absl::StatusOr<LoopbackClient> client = LoopbackClient::Connect(weftd_->port(listener));
    EXPECT_TRUE(client.ok()) << client.status();
    absl::StatusOr<std::string> echoed = client->Echo("hello");
    EXPECT_TRUE(echoed.ok()) << echoed.status();
    return *std::move(client);
  }

  // TaskIdOf returns the id of the task serving `peer` on `listener`, from tasks -o json.
  std::string TaskIdOf(const std::string& peer, const std::string& listener = "echo") {
    const RunResult r = On({"tasks", listener, "-o", "json"});
    EXPECT_EQ(r.exit.exit_code, 0) << r.err;
    const google::protobuf::Struct doc = Json(r.out);
    const google::protobuf::Value& tasks = At(doc, {"targets", "0", "tasks"});
    for (const google::protobuf::Value& task : tasks.list_value().values()) {
      const auto& fields = task.struct_value().fields();
      if (fields.at("peer").string_value() == peer) return fields.at("id").string_value();
    }
    ADD_FAILURE() << "no task for " << peer << " in " << r.out;
    return "";
  }

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Weftd>> weftds_;
  Weftd* weftd_ = nullptr;
};

#define EXPECT_EXIT_CODE(result, code)                                                       \
  EXPECT_EQ((result).exit.exit_code, (code)) << DescribeExit((result).exit) << "\nstdout:\n" \
                                             << (result).out << "\nstderr:\n"                \
                                             << (result).err

TEST_F(WeftctlTest, ServersListsEveryListenerWithItsBoundPort) {
  const RunResult r = On({"servers"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(Words(lines[0]), ElementsAre("NAME", "ADDRESS", "STATE", "ACTIVE/QUEUED/LIMIT",
                                           "ACCEPTED", "REFUSED"));
  EXPECT_NE(RowOf(r.out, {"echo", absl::StrCat("127.0.0.1:", weftd_->port("echo")), "running",
                          "0/0/-", "0", "0"}),
            "")
      << r.out;
  EXPECT_NE(
      RowOf(r.out, {"web", absl::StrCat("127.0.0.1:", weftd_->port("web")), "running", "0/0/10"}),
      "")
      << r.out;
}

TEST_F(WeftctlTest, StatusIsAnAliasAndWideAddsColumns) {
  const RunResult status = On({"status"});
  EXPECT_EXIT_CODE(status, 0);
  EXPECT_EQ(status.out, On({"servers"}).out);

  const RunResult wide = On({"servers", "-o", "wide"});
  EXPECT_EXIT_CODE(wide, 0);
  EXPECT_THAT(Words(Lines(wide.out)[0]),
              ElementsAre("NAME", "ADDRESS", "STATE", "ACTIVE/QUEUED/LIMIT", "ACCEPTED", "REFUSED",
                          "OPEN", "FAILED", "HANDLER", "MANAGER", "MAX-CONN", "UPTIME"));
  EXPECT_NE(RowOf(wide.out, {"web", "http-hello", "threaded", "10"}), "") << wide.out;
}

TEST_F(WeftctlTest, ServersJsonIsOneDocumentWithProtobufFieldNames) {
  const RunResult r = On({"servers", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  const google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "target"}), weftd_->target());
  EXPECT_EQ(At(doc, {"targets", "0", "servers"}).list_value().values_size(), 2);
  EXPECT_EQ(Str(doc, {"targets", "0", "servers", "0", "name"}), "echo");
  EXPECT_EQ(At(doc, {"targets", "0", "servers", "0", "port"}).number_value(), weftd_->port("echo"));
  EXPECT_EQ(Str(doc, {"targets", "0", "servers", "0", "state"}), "SERVER_STATE_RUNNING");
  EXPECT_TRUE(At(doc, {"targets", "0", "servers", "0", "activeTasks"}).has_number_value());
  EXPECT_EQ(Str(doc, {"targets", "0", "servers", "1", "acceptedTotal"}), "0");
  EXPECT_EQ(At(doc, {"targets", "0", "servers", "1", "maxConnections"}).number_value(), 10);
}

TEST_F(WeftctlTest, TargetComesFromTheEnvironment) {
  const RunResult r = Ctl({"servers"}, Environment().Set("WEFT_TARGET", weftd_->target()));
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo"}), "");
}

TEST_F(WeftctlTest, ServerShowsOneListenerAndAnUnknownOneExits3) {
  const RunResult r = On({"server", "echo"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("name:              echo\n"));
  EXPECT_THAT(r.out,
              HasSubstr(absl::StrCat("address:           127.0.0.1:", weftd_->port("echo"), "\n")));
  EXPECT_THAT(r.out, HasSubstr("drain timeout:     1.0s\n"));

  const RunResult json = On({"server", "web", "-o", "json"});
  EXPECT_EXIT_CODE(json, 0);
  EXPECT_EQ(Str(Json(json.out), {"targets", "0", "server", "handler"}), "http-hello");

  const RunResult missing = On({"server", "nope"});
  EXPECT_EXIT_CODE(missing, 3);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err,
            absl::StrCat("weftctl: server \"nope\" not found on ", weftd_->target(), "\n"));

  const RunResult missing_json = On({"server", "nope", "-o", "json"});
  EXPECT_EXIT_CODE(missing_json, 3);
  EXPECT_EQ(Str(Json(missing_json.out), {"targets", "0", "error", "code"}), "NOT_FOUND");
}

TEST_F(WeftctlTest, StopAcceptingRunAndStopChangeTheListenersState) {
  RunResult r = On({"stop-accepting", "web"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"web", "not-accepting"}), "") << r.out;
  EXPECT_FALSE(LoopbackClient::Connect(weftd_->port("web")).ok())
      << "web still accepts after stop-accepting";

  r = On({"health", "web"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_NE(RowOf(r.out, {"web", "NOT_SERVING"}), "") << r.out;
  EXPECT_EQ(r.err,
            absl::StrCat("weftctl: server \"web\" is NOT_SERVING on ", weftd_->target(), "\n"));

  r = On({"run", "web", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "server", "state"}), "SERVER_STATE_RUNNING");
  const int port = static_cast<int>(At(doc, {"targets", "0", "server", "port"}).number_value());
  ASSERT_GT(port, 0);
  EXPECT_TRUE(LoopbackClient::Connect(static_cast<std::uint16_t>(port)).ok());
  EXPECT_EXIT_CODE(On({"health", "web"}), 0);

  r = On({"run", "web"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, StartsWith(absl::StrCat("weftctl: cannot run server \"web\" on ",
                                             weftd_->target(), ": ")));

  r = On({"stop", "web", "--drain", "1s"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Words(Lines(r.out)[0]),
              ElementsAre("NAME", "STATE", "COOPERATIVE", "FORCED", "DROPPED", "ELAPSED"));
  EXPECT_NE(RowOf(r.out, {"web", "stopped", "0", "0", "0"}), "") << r.out;

  r = On({"run", "web"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"web", "running"}), "") << r.out;

  // Without --drain the server's own drain_timeout applies (and bounds the deadline).
  r = On({"stop", "web", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(Str(Json(r.out), {"targets", "0", "stopServer", "server", "state"}),
            "SERVER_STATE_STOPPED");
}

TEST_F(WeftctlTest, StopDrainsALiveConnectionAndCountsIt) {
  LoopbackClient client = Connected();
  const RunResult r = On({"stop", "echo", "--drain", "200ms", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  // The echo handler waits for its client: the drain ends by force.
  EXPECT_EQ(At(doc, {"targets", "0", "stopServer", "cooperativeTasks"}).number_value() +
                At(doc, {"targets", "0", "stopServer", "forcedTasks"}).number_value(),
            1)
      << r.out;
  EXPECT_TRUE(client.ReadUntilClosed(kPrompt).ok());
}

TEST_F(WeftctlTest, HealthReportsOverallAndPerListener) {
  RunResult r = On({"health"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"(overall)", "SERVING"}), "") << r.out;

  r = On({"health", "echo", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "health", "service"}), "echo");
  EXPECT_EQ(Str(doc, {"targets", "0", "health", "status"}), "SERVING");

  r = On({"health", "nope"});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("server \"nope\" not found on ", weftd_->target())));
}

// process against a weftd of its own, with a drain delay long enough that its control plane
// surely still answers while it drains (a second SIGTERM from TearDown ends the drain).
TEST_F(WeftctlTest, ProcessShowsTheAnsweringWeftdAndThatItDrainsAfterSigterm) {
  const absl::Time before = absl::Now();
  Weftd* weftd = StartWeftd(
      "drainer",
      absl::StrCat("control { address: \"127.0.0.1:0\" drain_delay: \"60s\" }\n", kListeners));
  const absl::Time after = absl::Now();
  ASSERT_NE(weftd, nullptr);
  const std::string pid = absl::StrCat(weftd->pid());
  auto process = [&](const std::string& output) {
    return Ctl({"--target", weftd->target(), "process", "-o", output});
  };

  RunResult r = process("table");
  EXPECT_EXIT_CODE(r, 0);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << "no hand-off, so no peer row:\n" << r.out;
  EXPECT_THAT(Words(lines[0]), ElementsAre("ROLE", "PID", "STARTED", "GENERATION", "STATE"));
  // STARTED is "RFC3339 (AGE ago)": three words.
  std::vector<std::string> row = Words(lines[1]);
  ASSERT_EQ(row.size(), 7u) << lines[1];
  EXPECT_EQ(row[0], "this");
  EXPECT_EQ(row[1], pid);
  absl::Time shown;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, row[2], &shown, &error)) << row[2] << error;
  EXPECT_GE(shown, before - absl::Milliseconds(1)) << "the table shows milliseconds, truncated";
  EXPECT_LE(shown, after);
  EXPECT_THAT(row[3], StartsWith("("));
  EXPECT_EQ(row[4], "ago)");
  EXPECT_EQ(row[5], "1");
  EXPECT_EQ(row[6], "serving");
  const std::string started_cell = row[2];

  r = process("json");
  EXPECT_EXIT_CODE(r, 0);
  google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "process", "pid"}), pid);
  absl::Time started;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full,
                              Str(doc, {"targets", "0", "process", "startTime"}), &started, &error))
      << r.out << error;
  EXPECT_GE(started, before);
  EXPECT_LE(started, after);
  EXPECT_EQ(Str(doc, {"targets", "0", "process", "generation"}), "1");
  EXPECT_EQ(Str(doc, {"targets", "0", "process", "state"}), "PROCESS_STATE_SERVING");
  EXPECT_NE(Str(doc, {"targets", "0", "process", "version"}), "");
  EXPECT_FALSE(At(doc, {"targets", "0", "process", "peer"}).has_struct_value());

  ASSERT_TRUE(weftd->Signal(SIGTERM).ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        const RunResult json = process("json");
        return json.exit.exit_code == 0 &&
               Str(Json(json.out), {"targets", "0", "process", "state"}) ==
                   "PROCESS_STATE_DRAINING";
      },
      kPrompt))
      << "weftd never reported draining after SIGTERM; log:\n"
      << weftd->log();
  r = process("table");
  EXPECT_EXIT_CODE(r, 0);
  lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  row = Words(lines[1]);
  ASSERT_EQ(row.size(), 7u) << lines[1];
  EXPECT_EQ(row[1], pid);
  EXPECT_EQ(row[2], started_cell) << "the start time never moves";
  EXPECT_EQ(row[5], "1");
  EXPECT_EQ(row[6], "draining");
}

TEST_F(WeftctlTest, TasksShowsALiveConnection) {
  LoopbackClient client = Connected();
  const std::string peer = PeerOf(client);

  RunResult r = On({"tasks"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Words(Lines(r.out)[0]),
              ElementsAre("SERVER", "ID", "PEER", "STATE", "AGE", "IDLE", "IN", "OUT"));
  EXPECT_NE(RowOf(r.out, {"echo", peer, "running", "5", "5"}), "") << r.out;

  r = On({"tasks", "echo", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  ASSERT_EQ(At(doc, {"targets", "0", "tasks"}).list_value().values_size(), 1) << r.out;
  EXPECT_EQ(Str(doc, {"targets", "0", "tasks", "0", "peer"}), peer);
  EXPECT_EQ(Str(doc, {"targets", "0", "tasks", "0", "server"}), "echo");
  EXPECT_EQ(Str(doc, {"targets", "0", "tasks", "0", "bytesIn"}), "5");
  EXPECT_EQ(Str(doc, {"targets", "0", "tasks", "0", "state"}), "TASK_STATE_RUNNING");

  r = On({"tasks", "web"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;

  r = On({"tasks", "--older-than", "10m"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(RowOf(r.out, {peer}), "") << r.out;
  r = On({"tasks", "--older-than", "0s", "--idle-than", "0s"});
  EXPECT_NE(RowOf(r.out, {peer}), "") << r.out;

  r = On({"tasks", "-o", "wide"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Words(Lines(r.out)[0]),
              ElementsAre("SERVER", "ID", "PEER", "STATE", "AGE", "IDLE", "IN", "OUT", "CREATED",
                          "STARTED", "LAST-ACTIVITY"));

  r = On({"tasks", "nope"});
  EXPECT_EXIT_CODE(r, 3);
}

TEST_F(WeftctlTest, TaskStopEndsTheConnection) {
  LoopbackClient client = Connected();
  const std::string id = TaskIdOf(PeerOf(client));
  ASSERT_FALSE(id.empty());

  RunResult r = On({"task", "stop", "echo", id, "--timeout", "1s"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", id, "stopped"}), "") << r.out;
  EXPECT_TRUE(client.ReadUntilClosed(kPrompt).ok()) << "the connection is still open";

  r = On({"task", "stop", "echo", id});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_EQ(r.err, absl::StrCat("weftctl: task ", id, " not found on server \"echo\" on ",
                                weftd_->target(), "\n"));
}

TEST_F(WeftctlTest, StopTasksDryRunShowsTheMatchesAndYesStopsThem) {
  LoopbackClient first = Connected();
  LoopbackClient second = Connected();
  RunResult r = On({"stop-tasks", "echo", "--peer", "127.0.0.1", "--dry-run"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("2 tasks match --peer 127.0.0.1 on server \"echo\"\n"));
  EXPECT_NE(RowOf(r.out, {"echo", PeerOf(first), "running"}), "") << r.out;
  EXPECT_NE(RowOf(r.out, {"echo", PeerOf(second), "running"}), "") << r.out;
  EXPECT_TRUE(first.Echo("still").ok()) << "a dry run stopped a task";

  r = On({"stop-tasks", "echo", "--peer", "127.0.0.1", "--max", "1"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("2 tasks match the filter, more than max_count (1)"));
  EXPECT_TRUE(second.Echo("still").ok()) << "a refused stop-tasks stopped a task";

  r = On({"stop-tasks", "echo", "--peer", "10.0.0.0/8", "--yes", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(At(Json(r.out), {"targets", "0", "stopTasks", "matchedTasks"}).number_value(), 0)
      << r.out;

  // Not a terminal: no question, the tasks are stopped at once.
  r = On(
      {"stop-tasks", "echo", "--state", "running,queued", "--idle-over", "0s", "--timeout", "2s"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Words(Lines(r.out)[0]),
              ElementsAre("SERVER", "MATCHED", "COOPERATIVE", "FORCED", "DROPPED", "ELAPSED"));
  EXPECT_NE(RowOf(r.out, {"echo", "2"}), "") << r.out;
  EXPECT_TRUE(first.ReadUntilClosed(kPrompt).ok());
  EXPECT_TRUE(second.ReadUntilClosed(kPrompt).ok());
  EXPECT_EQ(Lines(On({"tasks", "echo"}).out).size(), 1u) << "tasks are left";
}

// RunInPty runs weftctl on a pseudo-terminal, typing `answer` once `question` appears (if
// set), and returns its exit code and what the terminal showed.
std::pair<int, std::string> RunInPty(const std::vector<std::string>& args,
                                     const std::string& question = "",
                                     const std::string& answer = "") {
  std::vector<std::string> argv = {WEFTCTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::SpawnInPty(argv, Environment(), 120, 40);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {-1, ""};
  if (!question.empty()) {
    absl::StatusOr<std::string> asked = (*child)->ReadUntilContains(Stream::kOut, question, kPrompt);
    EXPECT_TRUE(asked.ok()) << asked.status();
    EXPECT_TRUE((*child)->WriteToTerminal(answer).ok());
  }
  absl::StatusOr<ExitResult> exit = (*child)->Wait(kPrompt);
  EXPECT_TRUE(exit.ok()) << exit.status();
  return {exit.ok() ? exit->exit_code : -1, (*child)->Text(Stream::kOut)};
}

TEST_F(WeftctlTest, StopTasksOnATerminalShowsTheMatchesAndAsksFirst) {
  LoopbackClient client = Connected();
  const std::vector<std::string> args = {"--target", weftd_->target(), "stop-tasks", "echo",
                                         "--peer", "127.0.0.0/8"};
  auto [code, screen] = RunInPty(args, "Stop 1 task on echo? [y/N] ", "n\n");
  EXPECT_EQ(code, 1) << screen;
  EXPECT_THAT(screen, HasSubstr("1 task matches --peer 127.0.0.0/8 on server \"echo\""));
  EXPECT_THAT(screen, HasSubstr(PeerOf(client)));
  EXPECT_THAT(screen, HasSubstr("not confirmed: nothing was stopped"));
  EXPECT_TRUE(client.Echo("still").ok()) << "a declined stop-tasks stopped the task";

  std::tie(code, screen) = RunInPty(args, "Stop 1 task on echo? [y/N] ", "y\n");
  EXPECT_EQ(code, 0) << screen;
  EXPECT_THAT(screen, HasSubstr("MATCHED"));
  EXPECT_TRUE(client.ReadUntilClosed(kPrompt).ok());
}

TEST_F(WeftctlTest, DrainOnATerminalRedrawsOneProgressBar) {
  LoopbackClient client = Connected();
  auto [code, screen] = RunInPty({"--target", weftd_->target(), "drain", "echo", "--timeout",
                                  "500ms"});
  EXPECT_EQ(code, 0) << screen;
  EXPECT_THAT(screen, HasSubstr("\r\x1b[Kecho ["));
  EXPECT_THAT(screen, HasSubstr("remaining 0"));
  EXPECT_THAT(screen, HasSubstr("stopped echo: "));
  EXPECT_THAT(screen, Not(HasSubstr("drain echo: "))) << "plain lines on a terminal";
}

TEST_F(WeftctlTest, StopTasksUsageErrorsExit2) {
  RunResult r = On({"stop-tasks", "echo"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("stop-tasks needs at least one filter flag"));
  r = On({"stop-tasks", "echo", "--state", "idle"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--state: \"idle\" is not a state"));
  r = On({"stop-tasks", "echo", "--min-bytes", "10", "--max-bytes", "5"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--max-bytes is below --min-bytes"));
  r = On({"stop-tasks", "echo", "--peer", "not-a-network"});
  EXPECT_EXIT_CODE(r, 2);
  r = On({"servers", "--peer", "10.0.0.0/8"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("servers does not take --peer"));
  r = On({"tasks", "--order-by", "bytes"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--order-by: \"bytes\" is not an order"));
}

TEST_F(WeftctlTest, DrainPrintsProgressLinesWithoutATerminalThenTheCounts) {
  LoopbackClient client = Connected();
  const RunResult r = On({"drain", "echo", "--timeout", "500ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, Not(HasSubstr("\r"))) << "a progress bar without a terminal";
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_THAT(lines[i], StartsWith("drain echo: remaining ")) << r.out;
  }
  EXPECT_THAT(lines[lines.size() - 2], AllOf(HasSubstr("remaining 0"), HasSubstr("(done)")));
  EXPECT_THAT(lines.back(), StartsWith("stopped echo: ")) << r.out;
  EXPECT_THAT(lines.back(), HasSubstr(" dropped in ")) << r.out;
  EXPECT_TRUE(client.ReadUntilClosed(kPrompt).ok());
  EXPECT_NE(RowOf(On({"servers"}).out, {"echo", "stopped"}), "");
}

TEST_F(WeftctlTest, TaskRemoveEndsTheConnection) {
  LoopbackClient client = Connected();
  const std::string id = TaskIdOf(PeerOf(client));
  ASSERT_FALSE(id.empty());

  RunResult r = On({"task", "remove", "echo", id, "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "removeTask", "server"}), "echo");
  EXPECT_EQ(Str(doc, {"targets", "0", "removeTask", "taskId"}), id);
  EXPECT_TRUE(client.ReadUntilClosed(kPrompt).ok()) << "the connection is still open";

  EXPECT_TRUE(WaitUntil([&] { return RowOf(On({"tasks", "echo"}).out, {id}).empty(); }, kPrompt));
  r = On({"task", "remove", "echo", id});
  EXPECT_EXIT_CODE(r, 3);
}

TEST_F(WeftctlTest, LimitsRefusesConnectionsBeyondTheNewMaximum) {
  RunResult r = On({"limits", "echo", "--max-connections", "1"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", "0/0/1"}), "") << r.out;

  LoopbackClient first = Connected();
  absl::StatusOr<LoopbackClient> second = LoopbackClient::Connect(weftd_->port("echo"));
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<std::string> rest = second->ReadUntilClosed(kPrompt);
  ASSERT_TRUE(rest.ok()) << "the second connection was not refused: " << rest.status();
  EXPECT_EQ(*rest, "");

  r = On({"servers", "-o", "json"});
  EXPECT_EQ(Str(Json(r.out), {"targets", "0", "servers", "0", "refusedTotal"}), "1") << r.out;

  r = On({"limits", "echo", "--max-connections", "0", "-o", "json"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(At(Json(r.out), {"targets", "0", "server", "maxConnections"}).number_value(), 0);
  LoopbackClient third = Connected();

  EXPECT_EXIT_CODE(On({"limits", "nope", "--max-connections", "3"}), 3);
}

TEST_F(WeftctlTest, WatchPrintsConnectAndDisconnectEventsAndExitsZeroOnSigint) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> watch =
      ChildProcess::Spawn({WEFTCTL_PATH, "--target", weftd_->target(), "watch", "echo"});
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE((*watch)->ReadUntilContains(Stream::kErr, "watching", kPrompt).ok());

  std::string peer;
  {
    LoopbackClient client = Connected();
    peer = PeerOf(client);
  }
  absl::StatusOr<std::string> out = (*watch)->ReadUntil(
      Stream::kOut,
      [&](const std::string& text) {
        return !RowOf(text, {"echo", "task-added", absl::StrCat("peer=", peer)}).empty() &&
               !RowOf(text, {"echo", "task-stopped", absl::StrCat("peer=", peer)}).empty();
      },
      kPrompt);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(RowOf(*out, {"task-started", absl::StrCat("peer=", peer)}), "") << *out;

  ASSERT_TRUE((*watch)->Signal(SIGINT).ok());
  absl::StatusOr<ExitResult> exit = (*watch)->Wait(kPrompt);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0) << DescribeExit(*exit) << "\n" << (*watch)->Text(Stream::kErr);
  EXPECT_EQ((*watch)->Text(Stream::kErr),
            absl::StrCat("weftctl: watching ", weftd_->target(), " (server echo)\n"));
}

TEST_F(WeftctlTest, WatchJsonPrintsOneObjectPerEventAndExitsZeroOnSigterm) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> watch =
      ChildProcess::Spawn({WEFTCTL_PATH, "--target", weftd_->target(), "-o", "json", "watch"});
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE((*watch)->ReadUntilContains(Stream::kErr, "watching", kPrompt).ok());
  { LoopbackClient client = Connected(); }
  absl::StatusOr<std::string> out =
      (*watch)->ReadUntilContains(Stream::kOut, "EVENT_TYPE_TASK_STOPPED", kPrompt);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE((*watch)->Signal(SIGTERM).ok());
  absl::StatusOr<ExitResult> exit = (*watch)->Wait(kPrompt);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0) << DescribeExit(*exit);
  std::vector<std::string> types;
  for (const std::string& line : Lines((*watch)->Text(Stream::kOut))) {
    const google::protobuf::Struct object = Json(line);
    EXPECT_EQ(Str(object, {"target"}), weftd_->target());
    EXPECT_EQ(Str(object, {"event", "server"}), "echo");
    types.push_back(Str(object, {"event", "type"}));
  }
  EXPECT_THAT(types, ::testing::IsSupersetOf({"EVENT_TYPE_TASK_ADDED", "EVENT_TYPE_TASK_STARTED",
                                              "EVENT_TYPE_TASK_STOPPED"}));
}

TEST_F(WeftctlTest, WatchOfAnUnknownServerExits3) {
  const RunResult r = On({"watch", "nope"});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_EQ(r.err, absl::StrCat("weftctl: server \"nope\" not found on ", weftd_->target(), "\n"));
}

// DriveTop runs top under a pseudo-terminal until it shows `client`'s task, sends `quit` (or
// the signal when `quit` is empty), and returns everything it wrote to the terminal.
std::string DriveTop(const Weftd& weftd, const std::string& peer, const std::string& quit,
                     int signal = 0) {
  absl::StatusOr<std::unique_ptr<ChildProcess>> top = ChildProcess::SpawnInPty(
      {WEFTCTL_PATH, "--target", weftd.target(), "top", "--interval", "200ms"}, Environment(), 120,
      40);
  EXPECT_TRUE(top.ok()) << top.status();
  if (!top.ok()) return "";
  absl::StatusOr<std::string> screen = (*top)->ReadUntil(
      Stream::kOut,
      [&](const std::string& text) {
        return absl::StrContains(text, "echo") && absl::StrContains(text, peer);
      },
      kPrompt);
  EXPECT_TRUE(screen.ok()) << screen.status();
  if (quit.empty()) {
    EXPECT_TRUE((*top)->Signal(signal).ok());
  } else {
    EXPECT_TRUE((*top)->WriteToTerminal(quit).ok());
  }
  absl::StatusOr<ExitResult> exit = (*top)->Wait(kPrompt);
  EXPECT_TRUE(exit.ok()) << exit.status();
  if (exit.ok()) EXPECT_EQ(exit->exit_code, 0) << DescribeExit(*exit);
  return (*top)->Text(Stream::kOut);
}

TEST_F(WeftctlTest, TopShowsListenersAndTasksOnATerminalAndRestoresItOnQ) {
  LoopbackClient client = Connected();
  const std::string output = DriveTop(*weftd_, PeerOf(client), "q");
  const std::size_t enter = output.find("\x1b[?1049h");
  const std::size_t leave = output.rfind("\x1b[?1049l");
  ASSERT_NE(enter, std::string::npos) << "no alternate screen";
  ASSERT_NE(leave, std::string::npos) << "the terminal was not restored";
  EXPECT_LT(enter, leave);
  EXPECT_THAT(output.substr(leave), Not(HasSubstr("\x1b[H"))) << "drew after restoring";
  EXPECT_THAT(output, HasSubstr("\x1b[?25h"));  // Cursor shown again.
  EXPECT_THAT(output, HasSubstr("weftctl top"));
  EXPECT_THAT(output, HasSubstr("ACTIVE/QUEUED/LIMIT"));
  EXPECT_THAT(output, HasSubstr("RATE"));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("127.0.0.1:", weftd_->port("web"))));
}

TEST_F(WeftctlTest, TopQuitsOnCtrlCAndOnSigtermRestoringTheTerminal) {
  LoopbackClient client = Connected();
  EXPECT_THAT(DriveTop(*weftd_, PeerOf(client), "\x03"), HasSubstr("\x1b[?1049l"));
  EXPECT_THAT(DriveTop(*weftd_, PeerOf(client), "", SIGTERM), HasSubstr("\x1b[?1049l"));
}

TEST_F(WeftctlTest, TopWithoutATerminalIsAUsageError) {
  const RunResult r = On({"top"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("top needs a terminal"));
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b")));
}

TEST_F(WeftctlTest, UnreachableTargetFailsWithExit5WithinTheTimeout) {
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  RunResult r = Ctl({"--target", closed, "--timeout", "1s", "servers"});
  EXPECT_EXIT_CODE(r, 5);
  EXPECT_LT(r.elapsed, absl::Seconds(5));
  EXPECT_THAT(r.err, StartsWith(absl::StrCat("weftctl: cannot reach ", closed, ": ")));

  // A socket that listens but never speaks gRPC: the connection is never established.
  UniqueFd silent(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(silent.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(silent.get(), 16), 0);
  ::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&address), &length);
  const std::string mute = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  for (const char* command : {"servers", "watch"}) {
    r = Ctl({"--target", mute, "--timeout", "1s", command});
    EXPECT_EXIT_CODE(r, 5);
    EXPECT_LT(r.elapsed, absl::Seconds(5)) << command;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cannot reach ", mute))) << command;
  }
}

TEST_F(WeftctlTest, SeveralTargetsAreLabelledAndAnyFailureSetsTheExitCode) {
  Weftd* other = StartWeftd(
      "b",
      "control { address: \"127.0.0.1:0\" }\n"
      "listeners { name: \"echo\" port: 0 handler { name: \"echo\" } drain_timeout: \"1s\" }\n");
  ASSERT_NE(other, nullptr);
  const std::string a = weftd_->target();
  const std::string b = other->target();

  RunResult r = Ctl({"--target", a, "--target", b, "servers"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Lines(r.out)[0], StartsWith("TARGET "));
  EXPECT_NE(RowOf(r.out, {a, "echo", absl::StrCat("127.0.0.1:", weftd_->port("echo"))}), "");
  EXPECT_NE(RowOf(r.out, {a, "web"}), "");
  EXPECT_NE(RowOf(r.out, {b, "echo", absl::StrCat("127.0.0.1:", other->port("echo"))}), "");
  EXPECT_EQ(Lines(r.out).size(), 4u) << r.out;

  r = Ctl({"--target", absl::StrCat(a, ",", b), "-o", "json", "servers"});
  EXPECT_EXIT_CODE(r, 0);
  google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "target"}), a);
  EXPECT_EQ(Str(doc, {"targets", "1", "target"}), b);
  EXPECT_EQ(At(doc, {"targets", "1", "servers"}).list_value().values_size(), 1);

  // "web" exists on a only: a's answer is printed, b's failure sets the exit code.
  r = Ctl({"--target", absl::StrCat(a, ",", b), "server", "web"});
  EXPECT_EXIT_CODE(r, 3);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("target:            ", a, "\n")));
  EXPECT_THAT(r.out, HasSubstr("name:              web\n"));
  EXPECT_EQ(r.err, absl::StrCat("weftctl: server \"web\" not found on ", b, "\n"));

  r = Ctl({"--target", absl::StrCat(a, ",", b), "-o", "json", "stop-accepting", "web"});
  EXPECT_EXIT_CODE(r, 3);
  doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "server", "state"}), "SERVER_STATE_NOT_ACCEPTING");
  EXPECT_EQ(Str(doc, {"targets", "1", "error", "code"}), "NOT_FOUND");

  LoopbackClient client = Connected();
  r = Ctl({"--target", a, "--target", b, "tasks"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {a, "echo", PeerOf(client)}), "") << r.out;

  r = Ctl({"--target", a, "--target", b, "health", "echo"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {a, "echo", "SERVING"}), "");
  EXPECT_NE(RowOf(r.out, {b, "echo", "SERVING"}), "");

  // An unreachable target among reachable ones: exit 5, the others' rows still printed.
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  r = Ctl({"--target", absl::StrCat(a, ",", closed, ",", b), "--timeout", "1s", "servers"});
  EXPECT_EXIT_CODE(r, 5);
  EXPECT_NE(RowOf(r.out, {a, "echo"}), "");
  EXPECT_NE(RowOf(r.out, {b, "echo"}), "");
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cannot reach ", closed)));
  EXPECT_LT(r.elapsed, absl::Seconds(5));

  // watch follows both at once.
  absl::StatusOr<std::unique_ptr<ChildProcess>> watch =
      ChildProcess::Spawn({WEFTCTL_PATH, "--target", absl::StrCat(a, ",", b), "watch", "echo"});
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE((*watch)
                  ->ReadUntil(
                      Stream::kErr,
                      [&](const std::string& err) {
                        return absl::StrContains(err, absl::StrCat("watching ", a)) &&
                               absl::StrContains(err, absl::StrCat("watching ", b));
                      },
                      kPrompt)
                  .ok());
  { absl::StatusOr<LoopbackClient> to_b = LoopbackClient::Connect(other->port("echo")); }
  EXPECT_TRUE((*watch)->ReadUntilContains(Stream::kOut, absl::StrCat(b, "  "), kPrompt).ok());
  ASSERT_TRUE((*watch)->Signal(SIGINT).ok());
  absl::StatusOr<ExitResult> exit = (*watch)->Wait(kPrompt);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0);
}

TEST_F(WeftctlTest, UnixSocketTarget) {
  const std::string socket = (dir_ / "control.sock").string();
  Weftd* weftd =
      StartWeftd("unix", absl::StrCat("control { address: \"unix:", socket, "\" }\n", kListeners));
  ASSERT_NE(weftd, nullptr);
  const RunResult r = Ctl({"--target", absl::StrCat("unix:", socket), "servers"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", absl::StrCat("127.0.0.1:", weftd->port("echo"))}), "");
}

TEST_F(WeftctlTest, UsageErrorsExit2WithAClearMessage) {
  RunResult r = Ctl({});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("no command given"));

  r = Ctl({"frobnicate"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_EQ(r.err, "weftctl: unknown command \"frobnicate\"\nRun 'weftctl --help' for usage.\n");
  EXPECT_EQ(r.out, "");

  r = On({"stop", "web", "--drain", "-5s"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--drain: the duration must not be negative"));
  r = On({"stop", "web", "--drain", "soon"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("\"soon\" is not a duration"));
  r = Ctl({"--target", "nope", "servers"});
  EXPECT_EXIT_CODE(r, 2);
  r = Ctl({"--token-file", (dir_ / "missing").string(), "servers"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--token-file"));
  // The server was never asked: web still runs.
  EXPECT_NE(RowOf(On({"servers"}).out, {"web", "running"}), "");
}

TEST_F(WeftctlTest, HelpGoesToStdoutAndExitsZero) {
  RunResult r = Ctl({"--help"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("usage: weftctl"), HasSubstr("task stop NAME ID"),
                           HasSubstr("Exit codes")));
  r = Ctl({"stop", "--help"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, StartsWith("usage: weftctl [FLAGS] stop NAME [--drain 30s]"));
  r = Ctl({"help", "top"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("--interval D"));
}

TEST_F(WeftctlTest, BashCompletionCompletesCommandsAndServerNames) {
  RunResult r = Ctl({"completion", "bash"});
  EXPECT_EXIT_CODE(r, 0);
  const std::filesystem::path script = dir_ / "weftctl.bash";
  WriteFile(script, r.out);

  auto complete = [&](const std::string& words, int cword, const std::string& line) {
    const std::string program =
        absl::StrCat("source ", script.string(), "; COMP_WORDS=(", WEFTCTL_PATH, " ", words,
                     "); COMP_CWORD=", cword, "; COMP_LINE='", WEFTCTL_PATH, " ", line,
                     "'; _weftctl; printf '%s\\n' \"${COMPREPLY[@]}\"");
    absl::StatusOr<RunResult> result = RunToCompletion({"/bin/bash", "--norc", "-c", program});
    EXPECT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit.exit_code, 0) << result->err;
    std::vector<std::string> words_out = Lines(result->out);
    std::sort(words_out.begin(), words_out.end());
    return words_out;
  };
  EXPECT_THAT(complete("st", 1, "st"),
              ::testing::ElementsAre("status", "stop", "stop-accepting", "stop-tasks"));
  EXPECT_THAT(complete("stop-tasks web --st", 3, "stop-tasks web --st"),
              ::testing::ElementsAre("--state", "--stuck"));
  EXPECT_THAT(complete("tasks --state r", 3, "tasks --state r"), ::testing::ElementsAre("running"));
  EXPECT_THAT(complete("pro", 1, "pro"), ::testing::ElementsAre("process"));
  EXPECT_THAT(complete("task ''", 2, "task "), ::testing::ElementsAre("remove", "stop"));
  EXPECT_THAT(complete("-o ''", 2, "-o "), ::testing::ElementsAre("json", "table", "wide"));
  EXPECT_THAT(complete("stop web --d", 3, "stop web --d"), ::testing::ElementsAre("--drain"));
  // Server names come from the target on the command line (split at ':' by bash).
  const std::string port = absl::StrCat(weftd_->control_port());
  EXPECT_THAT(complete(absl::StrCat("--target 127.0.0.1 : ", port, " stop ''"), 6,
                       absl::StrCat("--target 127.0.0.1:", port, " stop ")),
              ::testing::ElementsAre("echo", "web"));
}

// Tokens: a weftd with an operator and a viewer token.
class WeftctlAuthTest : public WeftctlTest {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    operator_token_ = (dir_ / "operator.token").string();
    viewer_token_ = (dir_ / "viewer.token").string();
    WriteFile(operator_token_, "operator-secret-1\n");
    WriteFile(viewer_token_, "viewer-secret-2\n");
    wrong_token_ = (dir_ / "wrong.token").string();
    WriteFile(wrong_token_, "not-a-configured-token\n");
    weftd_ = StartWeftd(
        "auth", absl::StrCat("control { address: \"127.0.0.1:0\"\n"
                             "  tokens { role: ROLE_OPERATOR token_file: \"",
                             operator_token_, "\" }\n  tokens { role: ROLE_VIEWER token_file: \"",
                             viewer_token_, "\" } }\n", kListeners));
    ASSERT_NE(weftd_, nullptr);
  }

  std::string operator_token_;
  std::string viewer_token_;
  std::string wrong_token_;
};

TEST_F(WeftctlAuthTest, WithoutATokenExits4) {
  const RunResult r = On({"servers"});
  EXPECT_EXIT_CODE(r, 4);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith(absl::StrCat("weftctl: cannot list servers on ", weftd_->target(),
                                             ": unauthenticated: ")));
  EXPECT_THAT(r.err, HasSubstr("--token-file"));

  const RunResult wrong = On({"--token-file", wrong_token_, "servers"});
  EXPECT_EXIT_CODE(wrong, 4);
  EXPECT_THAT(wrong.err, HasSubstr("unknown bearer token"));
  EXPECT_THAT(wrong.err, Not(HasSubstr("not-a-configured-token")));

  const RunResult process = On({"process"});
  EXPECT_EXIT_CODE(process, 4);
  EXPECT_THAT(process.err, StartsWith(absl::StrCat("weftctl: cannot get the process on ",
                                                   weftd_->target(), ": unauthenticated: ")));
}

TEST_F(WeftctlAuthTest, AViewerMayLookButNotStop) {
  RunResult r = On({"--token-file", viewer_token_, "servers"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", "running"}), "");

  r = On({"--token-file", viewer_token_, "stop", "echo"});
  EXPECT_EXIT_CODE(r, 4);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cannot stop server \"echo\" on ", weftd_->target(),
                                            ": permission denied: role viewer may not call "
                                            "StopServer (requires operator)")));
  r = On({"--token-file", viewer_token_, "stop-accepting", "echo"});
  EXPECT_EXIT_CODE(r, 4);
  r = On({"--token-file", viewer_token_, "tasks"});
  EXPECT_EXIT_CODE(r, 0);
  r = On({"--token-file", viewer_token_, "process"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"this", "serving"}), "") << r.out;
  EXPECT_NE(RowOf(On({"--token-file", viewer_token_, "servers"}).out, {"echo", "running"}), "");
}

TEST_F(WeftctlAuthTest, AnOperatorTokenFromTheFlagOrTheEnvironmentMayStop) {
  RunResult r = Ctl({"--target", weftd_->target(), "stop-accepting", "echo"},
                    Environment().Set("WEFT_TOKEN_FILE", operator_token_));
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", "not-accepting"}), "");
  r = On({"--token-file", operator_token_, "run", "echo"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", "running"}), "");
}

// Audit: a weftd with a named operator token, a viewer token named after its file, and an
// audit file.
class WeftctlAuditTest : public WeftctlTest {
 protected:
  static constexpr char kOperatorSecret[] = "operator-secret-audit-3";
  static constexpr char kViewerSecret[] = "viewer-secret-audit-4";
  static constexpr char kWrongSecret[] = "wrong-secret-audit-5";

  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    operator_token_ = (dir_ / "operator.token").string();
    viewer_token_ = (dir_ / "viewer.token").string();
    wrong_token_ = (dir_ / "wrong.token").string();
    WriteFile(operator_token_, absl::StrCat(kOperatorSecret, "\n"));
    WriteFile(viewer_token_, absl::StrCat(kViewerSecret, "\n"));
    WriteFile(wrong_token_, absl::StrCat(kWrongSecret, "\n"));
    audit_file_ = dir_ / "audit.jsonl";
    weftd_ = StartWeftd(
        "audit",
        absl::StrCat("control { address: \"127.0.0.1:0\"\n"
                     "  tokens { role: ROLE_OPERATOR name: \"alice\" token_file: \"",
                     operator_token_, "\" }\n  tokens { role: ROLE_VIEWER token_file: \"",
                     viewer_token_, "\" } }\naudit { path: \"", audit_file_.string(), "\" }\n",
                     kListeners));
    ASSERT_NE(weftd_, nullptr);
  }

  // ExpectNoSecret fails if any token appears in `text`.
  static void ExpectNoSecret(const std::string& text, const std::string& where) {
    for (const char* secret : {kOperatorSecret, kViewerSecret, kWrongSecret}) {
      EXPECT_THAT(text, Not(HasSubstr(secret))) << where;
    }
  }

  std::string operator_token_;
  std::string viewer_token_;
  std::string wrong_token_;
  std::filesystem::path audit_file_;
};

// Fields reads the string fields of one record (a Struct value) into a map.
std::map<std::string, std::string> Fields(const google::protobuf::Value& record) {
  std::map<std::string, std::string> fields;
  for (const auto& [key, value] : record.struct_value().fields()) {
    fields[key] = value.string_value();
  }
  return fields;
}

TEST_F(WeftctlAuditTest, MutatingAndRefusedCallsAreListedAndFiledWithoutTokens) {
  RunResult r = On({"--token-file", operator_token_, "stop-accepting", "echo"});
  EXPECT_EXIT_CODE(r, 0);
  r = On({"--token-file", viewer_token_, "stop", "web", "--drain", "1s"});
  EXPECT_EXIT_CODE(r, 4);
  r = On({"--token-file", wrong_token_, "servers"});
  EXPECT_EXIT_CODE(r, 4);
  r = On({"--token-file", viewer_token_, "servers"});  // A read: not recorded.
  EXPECT_EXIT_CODE(r, 0);

  // Each record is made before its call's reply, so all three are there now.
  const RunResult json = On({"--token-file", operator_token_, "audit", "-o", "json"});
  EXPECT_EXIT_CODE(json, 0);
  ExpectNoSecret(json.out, "audit -o json");
  const google::protobuf::Struct doc = Json(json.out);
  const google::protobuf::Value& records = At(doc, {"targets", "0", "records"});
  ASSERT_EQ(records.list_value().values_size(), 3) << json.out;
  const std::string peer_prefix = "ipv4:127.0.0.1:";
  // Newest first.
  std::map<std::string, std::string> refused = Fields(records.list_value().values(0));
  EXPECT_EQ(refused["method"], "ListServers");
  EXPECT_EQ(refused["code"], "UNAUTHENTICATED");
  EXPECT_EQ(refused["caller"], "");
  EXPECT_EQ(refused["role"], "");
  EXPECT_THAT(refused["peer"], StartsWith(peer_prefix));
  EXPECT_EQ(refused["message"], "unknown bearer token");

  std::map<std::string, std::string> denied = Fields(records.list_value().values(1));
  EXPECT_EQ(denied["method"], "StopServer");
  EXPECT_EQ(denied["resource"], "servers/web");
  EXPECT_EQ(denied["caller"], "viewer.token");
  EXPECT_EQ(denied["role"], "viewer");
  EXPECT_EQ(denied["code"], "PERMISSION_DENIED");
  EXPECT_THAT(denied["message"], HasSubstr("role viewer may not call StopServer"));
  EXPECT_EQ(denied["request"], R"({"drain_timeout":"1s"})");
  EXPECT_THAT(denied["peer"], StartsWith(peer_prefix));

  std::map<std::string, std::string> stopped = Fields(records.list_value().values(2));
  EXPECT_EQ(stopped["method"], "StopAccepting");
  EXPECT_EQ(stopped["resource"], "servers/echo");
  EXPECT_EQ(stopped["caller"], "alice");
  EXPECT_EQ(stopped["role"], "operator");
  EXPECT_EQ(stopped["code"], "OK");
  EXPECT_EQ(stopped["sequence"], "1");
  EXPECT_THAT(stopped["peer"], StartsWith(peer_prefix));
  EXPECT_NE(stopped["time"], "");
  EXPECT_NE(stopped["duration"], "");

  const RunResult table = On({"--token-file", operator_token_, "audit", "--limit", "2"});
  EXPECT_EXIT_CODE(table, 0);
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 3u) << table.out;
  EXPECT_THAT(Words(lines[0]), ElementsAre("TIME", "METHOD", "RESOURCE", "CALLER", "ROLE", "PEER",
                                           "CODE", "DURATION"));
  EXPECT_NE(RowOf(table.out, {"ListServers", "-", "UNAUTHENTICATED"}), "") << table.out;
  EXPECT_NE(RowOf(table.out, {"StopServer", "servers/web", "viewer.token", "viewer",
                              "PERMISSION_DENIED"}),
            "")
      << table.out;

  // A viewer may not read the trail; that refusal is recorded too.
  r = On({"--token-file", viewer_token_, "audit"});
  EXPECT_EXIT_CODE(r, 4);

  // The file: one JSON object per line, oldest first, the same records and that last refusal.
  const std::vector<std::string> filed = Lines(ReadFile(audit_file_));
  ASSERT_EQ(filed.size(), 4u) << ReadFile(audit_file_);
  EXPECT_EQ(Str(Json(filed[0]), {"method"}), "StopAccepting");
  EXPECT_EQ(Str(Json(filed[0]), {"caller"}), "alice");
  EXPECT_THAT(Str(Json(filed[0]), {"peer"}), StartsWith(peer_prefix));
  EXPECT_EQ(Str(Json(filed[1]), {"code"}), "PERMISSION_DENIED");
  EXPECT_EQ(Str(Json(filed[1]), {"tls_subject"}), "");
  EXPECT_EQ(Str(Json(filed[2]), {"code"}), "UNAUTHENTICATED");
  EXPECT_EQ(Str(Json(filed[3]), {"method"}), "ListAuditRecords");
  EXPECT_EQ(Str(Json(filed[3]), {"role"}), "viewer");
  struct stat st {};
  ASSERT_EQ(::stat(audit_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ExpectNoSecret(ReadFile(audit_file_), "the audit file");

  // The log has each record as an "audit: " line.
  const std::string log = weftd_->log();
  EXPECT_THAT(log, HasSubstr(R"(audit: {"sequence":"1")"));
  EXPECT_THAT(log, HasSubstr(R"("caller":"alice")"));
  ExpectNoSecret(log, "the weftd log");
  weftd_->Stop();
  ExpectNoSecret(ReadFile(dir_ / "audit.log"), "the weftd log after exit");
}

TEST_F(WeftctlAuditTest, AnUnopenableAuditFileIsAClearStartError) {
  const std::string missing = (dir_ / "no-such-dir" / "audit.jsonl").string();
  const std::string config = absl::StrCat("control { address: \"127.0.0.1:0\" }\naudit { path: \"",
                                          missing, "\" }\n", kListeners);
  EXPECT_FALSE(Weftd::Start(dir_, "unopenable", config).ok());
  EXPECT_THAT(ReadFile(dir_ / "unopenable.log"),
              HasSubstr(absl::StrCat("audit.path: cannot open audit file ", missing)));
}

// TLS: certificates made by the openssl command, as in tests/control/tls_credentials_test.cc.
class WeftctlTlsTest : public WeftctlTest {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    MakeCa("ca");
    MakeCa("rogue");
    WriteFile(dir_ / "server.ext",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    WriteFile(dir_ / "client.ext", "extendedKeyUsage=clientAuth\n");
    MakeLeaf("server", "ca", "server.ext");
    MakeLeaf("client", "ca", "client.ext");
  }

  std::string File(const std::string& name) const { return (dir_ / name).string(); }

  void Shell(const std::string& command) {
    absl::StatusOr<RunResult> r = RunToCompletion({"/bin/sh", "-c", command});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit.exit_code, 0) << command << "\n" << r->err;
  }
  void MakeCa(const std::string& name) {
    Shell(
        absl::StrCat("openssl req -x509 -batch -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                     " -nodes -days 2 -subj /CN=",
                     name,
                     " -addext basicConstraints=critical,CA:TRUE"
                     " -addext keyUsage=critical,keyCertSign,cRLSign -keyout ",
                     File(name + ".key"), " -out ", File(name + ".crt")));
  }
  void MakeLeaf(const std::string& name, const std::string& ca, const std::string& ext) {
    Shell(
        absl::StrCat("openssl req -batch -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                     " -nodes -subj /CN=",
                     name, " -keyout ", File(name + ".key"), " -out ", File(name + ".csr")));
    Shell(absl::StrCat("openssl x509 -req -days 2 -set_serial 0x", ++serial_, " -in ",
                       File(name + ".csr"), " -CA ", File(ca + ".crt"), " -CAkey ",
                       File(ca + ".key"), " -extfile ", File(ext), " -out ", File(name + ".crt")));
  }

  Weftd* StartTlsWeftd(bool mutual) {
    return StartWeftd(
        mutual ? "mtls" : "tls",
        absl::StrCat("control { address: \"127.0.0.1:0\" tls { cert_file: \"", File("server.crt"),
                     "\" key_file: \"", File("server.key"), "\"",
                     mutual ? absl::StrCat(" client_ca_file: \"", File("ca.crt"), "\"") : "",
                     " } }\n", kListeners));
  }

  int serial_ = 1000;
};

TEST_F(WeftctlTlsTest, TlsVerifiesTheServerAgainstTheCa) {
  weftd_ = StartTlsWeftd(false);
  ASSERT_NE(weftd_, nullptr);
  RunResult r = On({"--tls-ca", File("ca.crt"), "servers"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_NE(RowOf(r.out, {"echo", "running"}), "");

  r = On({"--timeout", "2s", "servers"});  // Plaintext against TLS.
  EXPECT_EXIT_CODE(r, 5);
  r = On({"--timeout", "2s", "--tls-ca", File("rogue.crt"), "servers"});
  EXPECT_EXIT_CODE(r, 5);
  EXPECT_THAT(r.err, HasSubstr("cannot reach"));
}

TEST_F(WeftctlTlsTest, MutualTlsNeedsTheClientCertificate) {
  weftd_ = StartTlsWeftd(true);
  ASSERT_NE(weftd_, nullptr);
  RunResult r = On({"--tls-ca", File("ca.crt"), "--tls-cert", File("client.crt"), "--tls-key",
                    File("client.key"), "health"});
  EXPECT_EXIT_CODE(r, 0);
  r = On({"--timeout", "2s", "--tls-ca", File("ca.crt"), "health"});
  EXPECT_EXIT_CODE(r, 5);
}

TEST_F(WeftctlTlsTest, TheAuditTrailNamesTheClientCertificatesSubject) {
  weftd_ = StartTlsWeftd(true);
  ASSERT_NE(weftd_, nullptr);
  const std::vector<std::string> tls = {"--tls-ca", File("ca.crt"), "--tls-cert",
                                        File("client.crt"), "--tls-key", File("client.key")};
  std::vector<std::string> args = tls;
  args.insert(args.end(), {"stop-accepting", "echo"});
  EXPECT_EXIT_CODE(On(args), 0);
  args = tls;
  args.insert(args.end(), {"audit", "-o", "json"});
  const RunResult r = On(args);
  EXPECT_EXIT_CODE(r, 0);
  const google::protobuf::Struct doc = Json(r.out);
  EXPECT_EQ(Str(doc, {"targets", "0", "records", "0", "method"}), "StopAccepting");
  EXPECT_THAT(Str(doc, {"targets", "0", "records", "0", "tlsSubject"}), HasSubstr("CN=client"));
  // Without tokens every caller is an operator, and has no name.
  EXPECT_EQ(Str(doc, {"targets", "0", "records", "0", "role"}), "operator");
  EXPECT_EQ(Str(doc, {"targets", "0", "records", "0", "caller"}), "");
}

}  // namespace
}  // namespace weft::cli_test
