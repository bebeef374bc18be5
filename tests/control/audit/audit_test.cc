// The audit trail without gRPC: record formatting and escaping, request descriptions, the ring
// and its paging, and the file.
#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "control/audit/audit_file.h"
#include "control/audit/audit_interceptor.h"
#include "control/audit/audit_record.h"
#include "control/audit/audit_trail.h"
#include "control/audit/list_audit_records.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "weft/base/json.h"

namespace weft::control::audit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ParseJson reads with weft's JSON library, not into a google.protobuf.Struct: protobuf's Map
// changes layout under TSan (PROTOBUF_TSAN), and Debian's libprotobuf is not built with it.
Json ParseJson(const std::string& text) {
  absl::StatusOr<Json> parsed = JsonParse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << " in: " << text;
  return parsed.ok() ? *parsed : Json::object();
}

std::string Field(const Json& json, const std::string& name) {
  const auto it = json.find(name);
  return it == json.end() || !it->is_string() ? "<missing>" : it->get<std::string>();
}

v1::AuditRecord SampleRecord() {
  v1::AuditRecord record;
  record.set_sequence(7);
  *record.mutable_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000);
  record.set_method("StopServer");
  record.set_resource("servers/echo");
  record.set_caller("alice");
  record.set_role("operator");
  record.set_tls_subject("CN=alice,O=weft");
  record.set_peer("ipv4:127.0.0.1:53422");
  record.set_code("OK");
  *record.mutable_duration() = google::protobuf::util::TimeUtil::MillisecondsToDuration(1500);
  record.set_request(R"({"drain_timeout":"1s"})");
  return record;
}

TEST(AuditRecordToJsonTest, IsOneLineWithProtoFieldNames) {
  const std::string json = AuditRecordToJson(SampleRecord());
  EXPECT_EQ(json.find('\n'), std::string::npos);
  const Json parsed = ParseJson(json);
  EXPECT_EQ(Field(parsed, "sequence"), "7");  // uint64 is a string in proto3 JSON.
  EXPECT_EQ(Field(parsed, "time"), "2027-01-15T08:00:00Z");
  EXPECT_EQ(Field(parsed, "method"), "StopServer");
  EXPECT_EQ(Field(parsed, "resource"), "servers/echo");
  EXPECT_EQ(Field(parsed, "caller"), "alice");
  EXPECT_EQ(Field(parsed, "role"), "operator");
  EXPECT_EQ(Field(parsed, "tls_subject"), "CN=alice,O=weft");
  EXPECT_EQ(Field(parsed, "peer"), "ipv4:127.0.0.1:53422");
  EXPECT_EQ(Field(parsed, "code"), "OK");
  EXPECT_EQ(Field(parsed, "duration"), "1.500s");
  EXPECT_EQ(Field(parsed, "request"), R"({"drain_timeout":"1s"})");
}

TEST(AuditRecordToJsonTest, EscapesHostileTextSoItCannotBreakTheLineOrForgeAField) {
  v1::AuditRecord record = SampleRecord();
  const std::string hostile =
      "a\"b\\c\nd\re\tf\x01g\x7f</script>\",\"code\":\"OK\u2028\xff\xfe\xc0\xaf\xed\xa0\x80";
  record.set_resource(hostile);
  record.set_message(hostile);
  record.set_tls_subject(hostile);
  SanitizeRecord(record);
  const std::string json = AuditRecordToJson(record);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find('\r'), std::string::npos);
  EXPECT_EQ(json.find('\x01'), std::string::npos);
  const Json parsed = ParseJson(json);
  // Valid UTF-8 comes back as it was; each invalid byte became U+FFFD.
  const std::string expected =
      "a\"b\\c\nd\re\tf\x01g\x7f</script>\",\"code\":\"OK\u2028"
      "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD";
  EXPECT_EQ(Field(parsed, "resource"), expected);
  EXPECT_EQ(Field(parsed, "message"), expected);
  EXPECT_EQ(Field(parsed, "tls_subject"), expected);
  EXPECT_EQ(Field(parsed, "code"), "OK");
  EXPECT_EQ(parsed.size(), 12u);
}

TEST(DescribeRequestTest, NamesTheServerAndKeepsTheOtherArguments) {
  v1::StopServerRequest stop;
  stop.set_name("echo");
  stop.mutable_drain_timeout()->set_seconds(2);
  RequestDescription description = DescribeRequest(stop);
  EXPECT_EQ(description.resource, "servers/echo");
  EXPECT_EQ(description.arguments, R"({"drain_timeout":"2s"})");

  v1::StopTaskRequest task;
  task.set_server("web");
  task.set_task_id(42);
  description = DescribeRequest(task);
  EXPECT_EQ(description.resource, "servers/web/tasks/42");
  EXPECT_EQ(description.arguments, "{}");

  v1::StopTasksRequest bulk;
  bulk.set_server("web");
  bulk.set_dry_run(true);
  bulk.mutable_filter()->set_peer("10.0.0.0/8");
  description = DescribeRequest(bulk);
  EXPECT_EQ(description.resource, "servers/web");
  EXPECT_EQ(description.arguments, R"({"filter":{"peer":"10.0.0.0/8"},"dry_run":true})");

  description = DescribeRequest(v1::GetProcessRequest());
  EXPECT_EQ(description.resource, "");
  EXPECT_EQ(description.arguments, "{}");
}

TEST(DescribeRequestTest, GivesWhatJsonCannotExpressInTextFormat) {
  v1::StopServerRequest stop;
  stop.set_name("echo");
  stop.mutable_drain_timeout()->set_seconds(INT64_MIN);  // Beyond the JSON mapping's range.
  const RequestDescription description = DescribeRequest(stop);
  EXPECT_EQ(description.resource, "servers/echo");
  EXPECT_EQ(Field(ParseJson(description.arguments), "text_format"),
            "drain_timeout { seconds: -9223372036854775808 }");
}

TEST(IsAuditedMethodTest, CoversEveryMethodThatChangesSomething) {
  for (const char* method : {"RunServer", "StopAccepting", "StopServer", "UpdateServer", "StopTask",
                             "RemoveTask", "StopTasks"}) {
    EXPECT_TRUE(IsAuditedMethod(method)) << method;
  }
  for (const char* method : {"ListServers", "GetServer", "ListTasks", "WatchEvents", "GetProcess",
                             "ListAuditRecords", ""}) {
    EXPECT_FALSE(IsAuditedMethod(method)) << method;
  }
}

v1::AuditRecord Named(const std::string& method) {
  v1::AuditRecord record;
  record.set_method(method);
  record.set_code("OK");
  return record;
}

std::vector<std::uint64_t> Sequences(const std::vector<v1::AuditRecord>& records) {
  std::vector<std::uint64_t> sequences;
  for (const v1::AuditRecord& record : records) sequences.push_back(record.sequence());
  return sequences;
}

TEST(AuditTrailTest, NumbersRecordsAndListsThemNewestFirstInPages) {
  AuditTrail trail;
  for (int i = 0; i < 5; ++i) trail.Record(Named(absl::StrCat("M", i)));
  AuditTrail::Page page = trail.List(0, 2);
  EXPECT_THAT(Sequences(page.records), ElementsAre(5, 4));
  EXPECT_EQ(page.records[0].method(), "M4");
  EXPECT_EQ(page.next_before, 4u);
  page = trail.List(page.next_before, 2);
  EXPECT_THAT(Sequences(page.records), ElementsAre(3, 2));
  page = trail.List(page.next_before, 2);
  EXPECT_THAT(Sequences(page.records), ElementsAre(1));
  EXPECT_EQ(page.next_before, 0u);
  EXPECT_TRUE(AuditTrail().List(0, 10).records.empty());
}

TEST(AuditTrailTest, KeepsOnlyTheNewestAndNeverRepeatsARecordDroppedMeanwhile) {
  AuditTrail trail(nullptr, /*capacity=*/3);
  for (int i = 0; i < 5; ++i) trail.Record(Named("M"));
  AuditTrail::Page page = trail.List(0, 2);
  EXPECT_THAT(Sequences(page.records), ElementsAre(5, 4));
  for (int i = 0; i < 2; ++i) trail.Record(Named("M"));  // Drops 3 and 4.
  page = trail.List(page.next_before, 2);
  EXPECT_TRUE(page.records.empty());
  EXPECT_EQ(page.next_before, 0u);
  EXPECT_THAT(Sequences(trail.List(0, 10).records), ElementsAre(7, 6, 5));
}

TEST(AuditTrailTest, AFloodOfRefusalsNeverPushesAChangeOut) {
  AuditTrail trail(nullptr, /*capacity=*/3);
  trail.Record(Named("StopServer"));  // 1
  v1::AuditRecord refused = Named("ListServers");
  refused.set_code("UNAUTHENTICATED");
  trail.Record(refused);                               // 2
  trail.Record(Named("RunServer"));                    // 3
  for (int i = 0; i < 10; ++i) trail.Record(refused);  // 4 to 13.
  trail.Record(Named("StopTask"));                     // 14
  refused.set_code("PERMISSION_DENIED");
  trail.Record(refused);  // 15
  // The three newest refusals, and every change.
  EXPECT_THAT(Sequences(trail.List(0, 100).records), ElementsAre(15, 14, 13, 12, 3, 1));
  // Pages merge both kinds in sequence order.
  AuditTrail::Page page = trail.List(0, 2);
  EXPECT_THAT(Sequences(page.records), ElementsAre(15, 14));
  page = trail.List(page.next_before, 3);
  EXPECT_THAT(Sequences(page.records), ElementsAre(13, 12, 3));
  EXPECT_EQ(page.next_before, 3u);
  page = trail.List(page.next_before, 3);
  EXPECT_THAT(Sequences(page.records), ElementsAre(1));
  EXPECT_EQ(page.next_before, 0u);
}

TEST(AuditTrailTest, KeepsAThousandByDefault) {
  AuditTrail trail;
  for (int i = 0; i < 1005; ++i) trail.Record(Named("M"));
  const AuditTrail::Page page = trail.List(0, 5000);
  ASSERT_EQ(page.records.size(), AuditTrail::kCapacity);
  EXPECT_EQ(page.records.front().sequence(), 1005u);
  EXPECT_EQ(page.records.back().sequence(), 6u);
  EXPECT_EQ(page.next_before, 0u);
}

TEST(AuditTrailTest, RecordsFromManyThreadsGetDistinctSequences) {
  AuditTrail trail;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) trail.Record(Named("M"));
    });
  }
  for (std::thread& thread : threads) thread.join();
  const AuditTrail::Page page = trail.List(0, 1000);
  ASSERT_EQ(page.records.size(), 400u);
  for (std::size_t i = 0; i < page.records.size(); ++i) {
    EXPECT_EQ(page.records[i].sequence(), 400 - i);
  }
}

TEST(ListAuditRecordsTest, PagesWithTokensAndValidatesTheRequest) {
  AuditTrail trail;
  for (int i = 0; i < 150; ++i) trail.Record(Named("M"));
  v1::ListAuditRecordsRequest request;
  v1::ListAuditRecordsResponse response;
  ASSERT_TRUE(ListAuditRecords(trail, request, &response).ok());
  EXPECT_EQ(response.records_size(), 100);  // The default page size.
  EXPECT_EQ(response.records(0).sequence(), 150u);
  ASSERT_FALSE(response.next_page_token().empty());
  request.set_page_token(response.next_page_token());
  request.set_page_size(5000);  // Coerced to 1000.
  response.Clear();
  ASSERT_TRUE(ListAuditRecords(trail, request, &response).ok());
  EXPECT_EQ(response.records_size(), 50);
  EXPECT_EQ(response.records(0).sequence(), 50u);
  EXPECT_EQ(response.next_page_token(), "");

  request.set_page_size(-1);
  EXPECT_EQ(ListAuditRecords(trail, request, &response).code(), absl::StatusCode::kInvalidArgument);
  request.set_page_size(0);
  request.set_page_token("not-a-token");
  EXPECT_EQ(ListAuditRecords(trail, request, &response).code(), absl::StatusCode::kInvalidArgument);
}

class AuditFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "audit_test.XXXXXX");
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Read(const std::filesystem::path& path) {
    std::ifstream file(path);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  std::filesystem::path dir_;
};

TEST_F(AuditFileTest, CreatesTheFileOwnerOnlyAndAppendsOneLinePerRecord) {
  const std::filesystem::path path = dir_ / "audit.jsonl";
  {
    std::ofstream(path) << "kept\n";
    ::chmod(path.c_str(), 0640);
  }
  absl::StatusOr<std::unique_ptr<AuditFile>> file = AuditFile::Open(path.string());
  ASSERT_TRUE(file.ok()) << file.status();
  AuditTrail trail(*std::move(file));
  trail.Record(SampleRecord());
  trail.Record(Named("RunServer"));
  const std::vector<std::string> lines = absl::StrSplit(Read(path), '\n');
  ASSERT_EQ(lines.size(), 4u);  // "kept", two records, and the empty rest after the last \n.
  EXPECT_EQ(lines[0], "kept");
  EXPECT_EQ(Field(ParseJson(lines[1]), "method"), "StopServer");
  EXPECT_EQ(Field(ParseJson(lines[1]), "sequence"), "1");
  EXPECT_EQ(Field(ParseJson(lines[2]), "method"), "RunServer");
  EXPECT_EQ(lines[3], "");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);  // An existing file keeps its mode.

  const std::filesystem::path fresh = dir_ / "fresh.jsonl";
  ASSERT_TRUE(AuditFile::Open(fresh.string()).ok());
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(AuditFileTest, OpenFailsClearlyForABadPath) {
  absl::StatusOr<std::unique_ptr<AuditFile>> file = AuditFile::Open("relative/audit.jsonl");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string missing = (dir_ / "no-such-dir" / "audit.jsonl").string();
  file = AuditFile::Open(missing);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(missing));
  file = AuditFile::Open(dir_.string());
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(dir_.string()));
}

TEST_F(AuditFileTest, OpenRefusesWhatIsNotARegularFile) {
  EXPECT_EQ(AuditFile::Open("/dev/full").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditFileTest, AWriteFailureIsCountedAndTheRecordStillKept) {
  UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(full.valid());
  AuditTrail trail(AuditFile::AdoptForTest(std::move(full), "/dev/full"));
  trail.Record(Named("RunServer"));
  trail.Record(Named("StopServer"));
  EXPECT_EQ(trail.write_failures(), 2u);
  EXPECT_THAT(Sequences(trail.List(0, 10).records), ElementsAre(2, 1));
}

}  // namespace
}  // namespace weft::control::audit
