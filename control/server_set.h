// ServerSet: the named servers (listeners) of one weftd process, as the control plane sees them.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "weft/server.h"

namespace weft::control {

// ManagedServer: one listener and what the control plane reports about it beyond the Server.
struct ManagedServer {
  std::string name;
  std::string handler;  // The handler's registered name.
  absl::Duration drain_timeout = absl::Seconds(30);
  std::unique_ptr<weft::Server> server;
  // How long weftd's drain spreads the closing of this listener's connections over (see
  // config.proto, Listener.close_spread); zero = no spreading.
  absl::Duration close_spread = absl::ZeroDuration();
  // True while the whole process drains (weftd's graceful shutdown), reported as the server's
  // draining along with its own Stop; null = never.
  std::shared_ptr<const std::atomic<bool>> process_draining{};
};

// ServerSet: filled during start-up (Add), then shared read-only: after the first concurrent
// reader, Add must not be called again. Find and All are then thread-safe.
class ServerSet {
 public:
  // Add takes ownership. ALREADY_EXISTS if the name is taken.
  absl::Status Add(ManagedServer server);

  // Find returns the server called `name`, or nullptr.
  ManagedServer* Find(std::string_view name) const;

  // All returns every server, in name order.
  std::vector<ManagedServer*> All() const;

 private:
  absl::btree_map<std::string, std::unique_ptr<ManagedServer>, std::less<>> servers_;
};

}  // namespace weft::control
