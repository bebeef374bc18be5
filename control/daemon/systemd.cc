#include "control/daemon/systemd.h"

#include <glog/logging.h>
#include <netdb.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "weft/endpoint.h"
#include "weft/listen_socket.h"

namespace weft::control {
namespace {

constexpr char kDefaultListenAddress[] = "127.0.0.1";

// NumericHost resolves a listener's address the way ListenTcp does (brackets allowed; the first
// address returned) and renders it as CheckListeningSocket renders a socket's address.
absl::StatusOr<std::string> NumericHost(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
  }
  absl::Cleanup free_result = [result] { ::freeaddrinfo(result); };
  char text[NI_MAXHOST] = {};
  if (const int rc = ::getnameinfo(result->ai_addr, result->ai_addrlen, text, sizeof text, nullptr,
                                   0, NI_NUMERICHOST);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render the address of \"", host, "\": ", gai_strerror(rc)));
  }
  return std::string(text);
}

// Match checks that `socket`, passed under `name`, fits `listener` and returns where it listens.
absl::StatusOr<Endpoint> Match(const std::string& name, const UniqueFd& socket,
                               const config::v1::Listener& listener) {
  const std::string what =
      absl::StrCat("socket activation: socket \"", name, "\" (descriptor ", socket.get(), ")");
  absl::StatusOr<Endpoint> local = CheckListeningSocket(socket.get());
  if (!local.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", local.status().message()));
  }
  const std::string configured =
      listener.address().empty() ? kDefaultListenAddress : listener.address();
  absl::StatusOr<std::string> host = NumericHost(configured);
  if (!host.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": listener \"", name, "\": ", host.status().message()));
  }
  if (*host != local->address || (listener.port() != 0 && listener.port() != local->port)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " listens on ", local->ToString(), " but listener \"", name, "\" is configured for ",
        Endpoint{*host, static_cast<std::uint16_t>(listener.port())}.ToString(),
        listener.port() == 0 ? " (any port)" : "",
        "; make the socket unit's ListenStream= and the listener's address and port agree"));
  }
  return local;
}

void Notify(const std::string& state) {
  if (const int rc = sd_notify(/*unset_environment=*/0, state.c_str()); rc < 0) {
    LOG(WARNING) << "sd_notify \"" << state << "\": " << std::strerror(-rc);
  }
}

}  // namespace

absl::StatusOr<ActivatedSockets> TakeActivatedSockets(const config::v1::Config& config) {
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

  ActivatedSockets sockets;
  std::vector<std::string> matched;
  for (auto& [name, socket] : passed) {
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
    if (sockets.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("socket activation: two sockets are named \"",
                                                     name, "\"; a listener takes one"));
    }
    absl::StatusOr<Endpoint> local = Match(name, socket, *listener);
    if (!local.ok()) return local.status();
    matched.push_back(absl::StrCat("listener \"", name, "\" socket-activated on ",
                                   local->ToString(), " (descriptor ", socket.get(), ")"));
    sockets.emplace(name, std::move(socket));
  }
  for (const std::string& line : matched) LOG(INFO) << line;
  return sockets;
}

void NotifyReady(absl::string_view status) { Notify(absl::StrCat("READY=1\nSTATUS=", status)); }

void NotifyStopping() { Notify("STOPPING=1\nSTATUS=draining"); }

}  // namespace weft::control
