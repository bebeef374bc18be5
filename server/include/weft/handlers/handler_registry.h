// HandlerRegistry: connection handlers by name, so a configuration can say "echo" or
// "http-hello body=hi" and get a Handler; plus the built-in handlers weftd ships with.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "weft/server_options.h"

namespace weft {

// HandlerFactory: makes a Handler from its configuration arguments. A factory validates `args`
// up front and returns INVALID_ARGUMENT with an English message naming the offending argument,
// so that a bad configuration fails at startup, not on the first connection. It never returns
// an empty Handler on success and never throws. The Handler it returns is configured by `args`;
// the HandlerArgs the server passes on each call are ignored by the built-ins.
using HandlerFactory = std::function<absl::StatusOr<Handler>(const HandlerArgs& args)>;

// HandlerRegistry: a name → HandlerFactory map. A value type: copy BuiltinHandlers() and
// Register your own handlers on the copy.
//
// Thread contract: thread-compatible. The const methods (Create, Contains, Names) may run
// concurrently from any number of threads; Register needs exclusive access. Fill the registry
// at startup, then share it read-only.
class HandlerRegistry {
 public:
  HandlerRegistry() = default;
  HandlerRegistry(const HandlerRegistry&) = default;
  HandlerRegistry& operator=(const HandlerRegistry&) = default;
  HandlerRegistry(HandlerRegistry&&) = default;
  HandlerRegistry& operator=(HandlerRegistry&&) = default;

  // Register adds `factory` under `name` (case-sensitive, used as is).
  // Errors: INVALID_ARGUMENT for an empty name or an empty factory; ALREADY_EXISTS when the
  // name is taken (the registry is then unchanged).
  [[nodiscard]] absl::Status Register(std::string name, HandlerFactory factory);

  // Create calls the factory registered under `name` with `args` and returns its Handler.
  // The factory runs on the calling thread, with no lock held.
  // Errors: NOT_FOUND `unknown handler "x" (known: a, b, c)`; whatever the factory returns
  // (typically INVALID_ARGUMENT), its message prefixed with `handler "x": `; INTERNAL if the
  // factory broke its contract by returning an empty Handler.
  [[nodiscard]] absl::StatusOr<Handler> Create(std::string_view name,
                                               const HandlerArgs& args) const;

  // Contains returns whether a factory is registered under `name`.
  bool Contains(std::string_view name) const;

  // Names returns the registered names, sorted (byte order).
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, HandlerFactory, std::less<>> factories_;
};

// RegisterBuiltinHandlers adds Weft's built-in handlers to `registry`:
//   chargen     RFC 864: rotating 72-character lines of printable ASCII until the client goes.
//   daytime     RFC 867: one line such as "Thursday, November 26, 2026 09:17:48-UTC\r\n".
//   discard     RFC 863: reads and drops everything until end of stream.
//   echo        RFC 862: sends back every byte until end of stream.
//   http-hello  a minimal HTTP/1.1 keep-alive responder for load tests: GET and HEAD get
//               200 "Hello, World!\n"; the one optional argument `body=TEXT` replaces the body.
// Only http-hello takes arguments; the others reject any with INVALID_ARGUMENT. Every built-in
// returns promptly once its task is asked to shut down and never throws.
// Errors: ALREADY_EXISTS if any built-in name is taken (nothing is registered then).
// Requires: registry != nullptr.
[[nodiscard]] absl::Status RegisterBuiltinHandlers(HandlerRegistry* registry);

// BuiltinHandlers returns a registry holding exactly the built-in handlers.
HandlerRegistry BuiltinHandlers();

}  // namespace weft
