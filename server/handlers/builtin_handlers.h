// Internal header: do not include from outside the weft_handlers library and its tests.
//
// The factories of the built-in handlers, one per source file, and the argument check they
// share. Library users reach them through weft::BuiltinHandlers().
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "weft/server_options.h"

namespace weft::handlers_internal {

// The registered names of the built-ins (plain arrays: this Abseil's string_view is not
// std::string_view, and both must accept them).
inline constexpr char kChargenName[] = "chargen";
inline constexpr char kDaytimeName[] = "daytime";
inline constexpr char kDiscardName[] = "discard";
inline constexpr char kEchoName[] = "echo";
inline constexpr char kHttpHelloName[] = "http-hello";

// Each factory returns INVALID_ARGUMENT for arguments it does not take.
absl::StatusOr<Handler> CreateChargenHandler(const HandlerArgs& args);
absl::StatusOr<Handler> CreateDaytimeHandler(const HandlerArgs& args);
absl::StatusOr<Handler> CreateDiscardHandler(const HandlerArgs& args);
absl::StatusOr<Handler> CreateEchoHandler(const HandlerArgs& args);
absl::StatusOr<Handler> CreateHttpHelloHandler(const HandlerArgs& args);

// RequireNoArguments returns INVALID_ARGUMENT naming the first argument if `args` is not empty.
absl::Status RequireNoArguments(const HandlerArgs& args);

}  // namespace weft::handlers_internal
