#include "control/daemon/handoff/takeover.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "weft/base/log.h"
#include "weft/base/proto_time.h"

namespace weft::control {
namespace {

constexpr char kDefaultControlAddress[] = "127.0.0.1:7070";

}  // namespace

absl::StatusOr<std::unique_ptr<Takeover>> Takeover::Begin(const std::string& path,
                                                          absl::Duration timeout) {
  absl::StatusOr<HandoffChannel> channel = HandoffChannel::Connect(path);
  if (!channel.ok()) return channel.status();
  absl::StatusOr<HandoffRecord> record = channel->Receive(absl::Now() + timeout);
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("takeover on ", path, ": ", record.status().message()));
  }
  if (record->message.has_refusal()) {
    return absl::FailedPreconditionError(record->message.refusal());
  }
  if (!record->message.has_offer() ||
      record->message.offer().sockets_size() != static_cast<int>(record->fds.size())) {
    return absl::DataLossError(absl::StrCat(
        "takeover on ", path, ": the predecessor's offer does not match its descriptors"));
  }
  return std::unique_ptr<Takeover>(
      new Takeover(std::move(*channel), record->message.offer(), std::move(record->fds)));
}

InheritedSockets Takeover::Adopt(const config::v1::Config& config) {
  InheritedSockets inherited;
  ready_.Clear();
  for (int i = 0; i < offer_.sockets_size(); ++i) {
    const v1::HandoffSocket& socket = offer_.sockets(i);
    UniqueFd& fd = fds_[i];
    std::string taken;
    switch (socket.kind()) {
      case v1::HANDOFF_SOCKET_KIND_LISTENER: {
        const auto& listeners = config.listeners();
        const auto listener = std::find_if(
            listeners.begin(), listeners.end(),
            [&socket](const config::v1::Listener& l) { return l.name() == socket.name(); });
        if (listener == listeners.end()) {
          LOG(INFO) << "takeover: listener \"" << socket.name() << "\" (" << socket.address()
                    << ") is not in this config; the predecessor drains it";
          break;
        }
        if (absl::StatusOr<Endpoint> local =
                MatchListenerSocket("takeover", socket.name(), fd.get(), *listener);
            !local.ok()) {
          LOG(INFO) << local.status().message() << "; binding it afresh";
          break;
        }
        taken = absl::StrCat("listener \"", socket.name(), "\"");
        ready_.add_listeners(socket.name());
        inherited.listeners[socket.name()] =
            InheritedSocket{.fd = std::move(fd), .shared = socket.shared()};
        break;
      }
      case v1::HANDOFF_SOCKET_KIND_CONTROL: {
        const std::string& address = config.control().address().empty()
                                         ? std::string(kDefaultControlAddress)
                                         : config.control().address();
        if (!SocketListensOn(fd.get(), address)) {
          LOG(INFO) << "takeover: the control plane moves from " << socket.address() << " to "
                    << address;
          break;
        }
        taken = "the control plane";
        ready_.set_control(true);
        inherited.control = std::move(fd);
        break;
      }
      case v1::HANDOFF_SOCKET_KIND_ADMIN: {
        if (!config.has_admin() || !SocketListensOn(fd.get(), config.admin().address())) {
          LOG(INFO) << "takeover: the admin endpoint on " << socket.address()
                    << " is not in this config as it was";
          break;
        }
        taken = "the admin endpoint";
        ready_.set_admin(true);
        inherited.admin = std::move(fd);
        break;
      }
      default:
        LOG(WARNING) << "takeover: a socket of unknown kind " << socket.kind() << " on "
                     << socket.address() << "; left to the predecessor";
        break;
    }
    if (!taken.empty()) LOG(INFO) << "takeover: " << taken << " on " << socket.address();
    fd.Reset();  // Not taken: closed here; the predecessor keeps its own.
  }
  return inherited;
}

absl::Status Takeover::Complete(absl::Time start_time, std::uint64_t generation,
                                absl::Duration timeout) {
  ready_.set_pid(::getpid());
  *ready_.mutable_start_time() = TimeToProto(start_time);
  ready_.set_generation(generation);
  v1::HandoffMessage message;
  *message.mutable_ready() = ready_;
  if (absl::Status status = channel_.Send(message); !status.ok()) return status;
  absl::StatusOr<HandoffRecord> record = channel_.Receive(absl::Now() + timeout);
  if (!record.ok()) return record.status();
  if (!record->message.has_released()) {
    return absl::DataLossError("the predecessor broke the hand-off protocol");
  }
  return absl::OkStatus();
}

absl::Status Takeover::Done() {
  v1::HandoffMessage message;
  message.mutable_done();
  return channel_.Send(message);
}

bool Takeover::WaitForPredecessorExit(int wake) {
  while (true) {
    absl::StatusOr<HandoffRecord> record = channel_.Receive(absl::InfiniteFuture(), wake);
    if (record.ok()) continue;  // Nothing more is expected; ignore it.
    return !absl::IsCancelled(record.status());
  }
}

}  // namespace weft::control
