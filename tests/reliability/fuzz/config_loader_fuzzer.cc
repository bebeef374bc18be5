// Fuzz target: weftd's config loader (Protobuf text format plus Weft's validation).
//
// Beyond "never crashes": every rejection is INVALID_ARGUMENT with a located message, and a
// config that is accepted, printed back as text and parsed again is accepted again and equal —
// validation depends on what the config says, not on how it was spelled.
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "control/daemon/config_loader.h"
#include "weft/base/log.h"
#include "weft/handlers/handler_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const weft::HandlerRegistry* const registry =
      new weft::HandlerRegistry(weft::BuiltinHandlers());
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<weft::config::v1::Config> config =
      weft::control::ParseConfig(text, "fuzz.textproto", *registry);
  if (!config.ok()) {
    CHECK(absl::IsInvalidArgument(config.status())) << config.status();
    CHECK(absl::StartsWith(config.status().message(), "fuzz.textproto:")) << config.status();
    return 0;
  }
  std::string printed;
  CHECK(google::protobuf::TextFormat::PrintToString(*config, &printed));
  const absl::StatusOr<weft::config::v1::Config> again =
      weft::control::ParseConfig(printed, "printed.textproto", *registry);
  CHECK(again.ok()) << "accepted config rejected once printed: " << again.status() << "\n"
                    << printed;
  CHECK(google::protobuf::util::MessageDifferencer::Equals(*config, *again)) << printed;
  return 0;
}
