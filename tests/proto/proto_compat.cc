#include "tests/proto/proto_compat.h"

#include "absl/strings/str_cat.h"

namespace weft::testing {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::ServiceDescriptorProto;

template <typename List>
auto FindByName(const List& list, const std::string& name) -> decltype(&*list.begin()) {
  for (const auto& item : list) {
    if (item.name() == name) return &item;
  }
  return nullptr;
}

const FieldDescriptorProto* FindField(const DescriptorProto& message, int number) {
  for (const FieldDescriptorProto& field : message.field()) {
    if (field.number() == number) return &field;
  }
  return nullptr;
}

// OneofName names the oneof a field belongs to; empty for none (proto3 optional fields live in
// a synthetic oneof, compared through proto3_optional instead).
std::string OneofName(const DescriptorProto& message, const FieldDescriptorProto& field) {
  if (!field.has_oneof_index() || field.proto3_optional()) return "";
  return message.oneof_decl(field.oneof_index()).name();
}

void CompareEnum(const std::string& scope, const EnumDescriptorProto& baseline,
                 const EnumDescriptorProto& current, std::vector<std::string>& out) {
  for (const auto& value : baseline.value()) {
    const auto* now = FindByName(current.value(), value.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(scope, ": enum value ", value.name(), " was removed"));
    } else if (now->number() != value.number()) {
      out.push_back(absl::StrCat(scope, ": enum value ", value.name(), " changed number from ",
                                 value.number(), " to ", now->number()));
    }
  }
}

void CompareMessage(const std::string& scope, const DescriptorProto& baseline,
                    const DescriptorProto& current, std::vector<std::string>& out) {
  for (const FieldDescriptorProto& field : baseline.field()) {
    const std::string where = absl::StrCat(scope, ".", field.name(), " (", field.number(), ")");
    const FieldDescriptorProto* now = FindField(current, field.number());
    if (now == nullptr) {
      out.push_back(absl::StrCat(where, ": field was removed"));
      continue;
    }
    if (now->name() != field.name()) {
      out.push_back(absl::StrCat(where, ": renamed to ", now->name(), " (breaks JSON)"));
    }
    if (now->type() != field.type() || now->type_name() != field.type_name()) {
      out.push_back(absl::StrCat(where, ": type changed"));
    }
    if (now->label() != field.label() || now->proto3_optional() != field.proto3_optional()) {
      out.push_back(absl::StrCat(where, ": label (repeated/optional) changed"));
    }
    if (OneofName(current, *now) != OneofName(baseline, field)) {
      out.push_back(absl::StrCat(where, ": moved into or out of a oneof"));
    }
  }
  for (const DescriptorProto& nested : baseline.nested_type()) {
    const DescriptorProto* now = FindByName(current.nested_type(), nested.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(scope, ".", nested.name(), ": message was removed"));
    } else {
      CompareMessage(absl::StrCat(scope, ".", nested.name()), nested, *now, out);
    }
  }
  for (const EnumDescriptorProto& nested : baseline.enum_type()) {
    const EnumDescriptorProto* now = FindByName(current.enum_type(), nested.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(scope, ".", nested.name(), ": enum was removed"));
    } else {
      CompareEnum(absl::StrCat(scope, ".", nested.name()), nested, *now, out);
    }
  }
}

void CompareService(const std::string& scope, const ServiceDescriptorProto& baseline,
                    const ServiceDescriptorProto& current, std::vector<std::string>& out) {
  for (const auto& method : baseline.method()) {
    const std::string where = absl::StrCat(scope, ".", method.name());
    const auto* now = FindByName(current.method(), method.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(where, ": method was removed"));
      continue;
    }
    if (now->input_type() != method.input_type() || now->output_type() != method.output_type()) {
      out.push_back(absl::StrCat(where, ": request or response type changed"));
    }
    if (now->client_streaming() != method.client_streaming() ||
        now->server_streaming() != method.server_streaming()) {
      out.push_back(absl::StrCat(where, ": streaming changed"));
    }
  }
}

}  // namespace

std::vector<std::string> BreakingChanges(const FileDescriptorProto& baseline,
                                         const FileDescriptorProto& current) {
  std::vector<std::string> out;
  const std::string file = baseline.name();
  if (current.package() != baseline.package()) {
    out.push_back(absl::StrCat(file, ": package changed to ", current.package()));
  }
  for (const DescriptorProto& message : baseline.message_type()) {
    const DescriptorProto* now = FindByName(current.message_type(), message.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(file, ": message ", message.name(), " was removed"));
    } else {
      CompareMessage(message.name(), message, *now, out);
    }
  }
  for (const EnumDescriptorProto& value : baseline.enum_type()) {
    const EnumDescriptorProto* now = FindByName(current.enum_type(), value.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(file, ": enum ", value.name(), " was removed"));
    } else {
      CompareEnum(value.name(), value, *now, out);
    }
  }
  for (const ServiceDescriptorProto& service : baseline.service()) {
    const ServiceDescriptorProto* now = FindByName(current.service(), service.name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(file, ": service ", service.name(), " was removed"));
    } else {
      CompareService(service.name(), service, *now, out);
    }
  }
  return out;
}

}  // namespace weft::testing
