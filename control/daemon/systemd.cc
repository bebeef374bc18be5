#include "control/daemon/systemd.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "weft/base/log.h"
#include "weft/endpoint.h"

namespace weft::control {
namespace {

void Notify(const std::string& state) {
  if (const int rc = sd_notify(/*unset_environment=*/0, state.c_str()); rc < 0) {
    LOG(WARNING) << "sd_notify \"" << state << "\": " << std::strerror(-rc);
  }
}

}  // namespace

absl::StatusOr<InheritedSockets> TakeActivatedSockets(const config::v1::Config& config) {
  char** names = nullptr;
  const int count = sd_listen_fds_with_names(/*unset_environment=*/1, &names);
  if (count < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "socket activation: malformed LISTEN_FDS or LISTEN_FDNAMES: ", std::strerror(-count)));
  }
  // Own every descriptor (and free the names) before anything can fail.
  std::vector<std::pair<std::string, UniqueFd>> passed;
  for (int i = 0; i < count; ++i) {
    passed.emplace_back(names[i], UniqueFd(SD_LISTEN_FDS_START + i));
    std::free(names[i]);
  }
  std::free(names);

  InheritedSockets sockets;
  std::vector<std::string> matched;
  for (auto& entry : passed) {
    const std::string& name = entry.first;
    UniqueFd& socket = entry.second;
    const auto& listeners = config.listeners();
    const auto listener =
        std::find_if(listeners.begin(), listeners.end(),
                     [&name](const config::v1::Listener& l) { return l.name() == name; });
    if (listener == listeners.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "socket activation: socket \"", name, "\" (descriptor ", socket.get(),
          ") is named after no listener (listeners: ",
          absl::StrJoin(
              listeners, ", ",
              [](std::string* out, const config::v1::Listener& l) { out->append(l.name()); }),
          "); name it after one with FileDescriptorName= in the socket unit"));
    }
    if (sockets.listeners.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("socket activation: two sockets are named \"",
                                                     name, "\"; a listener takes one"));
    }
    absl::StatusOr<Endpoint> local =
        MatchListenerSocket("socket activation", name, socket.get(), *listener);
    if (!local.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(local.status().message(),
                       "; make the socket unit's ListenStream= and the listener's address and "
                       "port agree"));
    }
    matched.push_back(absl::StrCat("listener \"", name, "\" socket-activated on ",
                                   local->ToString(), " (descriptor ", socket.get(), ")"));
    sockets.listeners.emplace(name, InheritedSocket{.fd = std::move(socket), .shared = true});
  }
  for (const std::string& line : matched) LOG(INFO) << line;
  return sockets;
}

void NotifyReady(absl::string_view status) { Notify(absl::StrCat("READY=1\nSTATUS=", status)); }

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=draining"); }

}  // namespace weft::control
