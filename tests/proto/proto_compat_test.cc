// The control API and the configuration schema evolve compatibly: the current descriptors are
// compared with the baselines in tests/proto/baseline/, the descriptors of the last release
// (made with `protoc --descriptor_set_out` and decoded to text; refresh them when a release is
// cut, never to make this test pass).
#include "tests/proto/proto_compat.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "weft/config/v1/config.pb.h"
#include "weft/control/v1/control.pb.h"
#include "weft/control/v1/handoff.pb.h"

namespace weft::testing {
namespace {

using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

FileDescriptorProto Baseline(const std::string& name) {
  const std::string path = std::string(WEFT_PROTO_BASELINE_DIR) + "/" + name + ".textproto";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  FileDescriptorSet set;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &set)) << path;
  EXPECT_EQ(set.file_size(), 1) << path;
  return set.file_size() == 1 ? set.file(0) : FileDescriptorProto();
}

FileDescriptorProto Current(const FileDescriptor* file) {
  FileDescriptorProto proto;
  file->CopyTo(&proto);
  return proto;
}

FileDescriptorProto CurrentControl() { return Current(control::v1::Server::descriptor()->file()); }

TEST(ProtoCompatTest, ControlApiOnlyGrew) {
  EXPECT_THAT(BreakingChanges(Baseline("control"), CurrentControl()), IsEmpty());
}

TEST(ProtoCompatTest, HandoffProtocolOnlyGrew) {
  EXPECT_THAT(BreakingChanges(Baseline("handoff"),
                              Current(control::v1::HandoffMessage::descriptor()->file())),
              IsEmpty());
}

TEST(ProtoCompatTest, ConfigSchemaOnlyGrew) {
  EXPECT_THAT(
      BreakingChanges(Baseline("config"), Current(config::v1::Config::descriptor()->file())),
      IsEmpty());
}

// The checker itself: each kind of break in a copy of the current API is reported.
TEST(ProtoCompatTest, ReportsRenumberedRenamedAndRetypedFields) {
  const FileDescriptorProto baseline = CurrentControl();
  FileDescriptorProto changed = baseline;
  for (auto& message : *changed.mutable_message_type()) {
    if (message.name() != "Task") continue;
    for (auto& field : *message.mutable_field()) {
      if (field.name() == "peer") field.set_number(99);
      if (field.name() == "bytes_in") field.set_name("bytes_read");
      if (field.name() == "bytes_out")
        field.set_type(google::protobuf::FieldDescriptorProto::TYPE_INT64);
    }
  }
  EXPECT_THAT(BreakingChanges(baseline, changed),
              ElementsAre("Task.peer (4): field was removed",
                          "Task.bytes_in (10): renamed to bytes_read (breaks JSON)",
                          "Task.bytes_out (11): type changed"));
}

TEST(ProtoCompatTest, ReportsRemovedEnumValuesAndChangedMethods) {
  const FileDescriptorProto baseline = CurrentControl();
  FileDescriptorProto changed = baseline;
  for (auto& value : *changed.mutable_enum_type()) {
    if (value.name() == "TaskState") value.mutable_value()->RemoveLast();
  }
  for (auto& method : *changed.mutable_service(0)->mutable_method()) {
    if (method.name() == "WatchEvents") method.set_server_streaming(false);
    if (method.name() == "ListTasks") method.set_output_type(".weft.control.v1.Task");
  }
  EXPECT_THAT(BreakingChanges(baseline, changed),
              ElementsAre("TaskState: enum value TASK_STATE_STOPPING was removed",
                          "Control.ListTasks: request or response type changed",
                          "Control.WatchEvents: streaming changed"));
}

}  // namespace
}  // namespace weft::testing
