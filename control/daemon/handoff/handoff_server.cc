#include "control/daemon/handoff/handoff_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "control/unix_socket.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

constexpr int kBacklog = 4;

// Listen binds the hand-off socket, readable and writable by its owner only.
absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  absl::StatusOr<UniqueFd> fd = ListenUnix(path, SOCK_SEQPACKET, kBacklog);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(),
                        absl::StrCat("hand-off socket: ", fd.status().message()));
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return absl::ErrnoToStatus(err, absl::StrCat("chmod 0600 ", path));
  }
  return fd;
}

v1::HandoffMessage Refusal(const std::string& reason) {
  v1::HandoffMessage message;
  message.set_refusal(reason);
  return message;
}

}  // namespace

// Loop: the hand-off state machine, confined to the server's thread (but for Wake).
class HandoffServer::Loop {
 public:
  Loop(HandoffServerOptions options, HandoffParticipant participant, UniqueFd listen_fd)
      : options_(std::move(options)),
        participant_(std::move(participant)),
        listen_fd_(std::move(listen_fd)) {}

  void Run();
  void Wake() { wake_.Notify(); }
  // wakeable: false when the wake-up eventfd could not be made (Stop could not end Run).
  bool wakeable() const { return wake_.fd() >= 0; }
  // Finish removes the socket file if this process still listens there. After Run.
  void Finish() {
    if (listen_fd_.valid()) ::unlink(options_.path.c_str());
  }

 private:
  enum class Stage { kIdle, kOffered, kReleased, kDone };

  void Accept();
  void Offer(HandoffChannel channel, pid_t pid);
  void OnRecord(absl::StatusOr<HandoffRecord> record);
  // Abandon ends the takeover in progress: the successor went away (or misbehaved) before it
  // was done. Released sockets are taken back and the hand-off socket listens again.
  void Abandon(const std::string& why);

  const HandoffServerOptions options_;
  const HandoffParticipant participant_;
  WakeFd wake_;
  UniqueFd listen_fd_;
  Stage stage_ = Stage::kIdle;
  std::optional<HandoffChannel> active_;
  pid_t successor_ = 0;
  absl::Time deadline_ = absl::InfiniteFuture();
  v1::HandoffReady ready_;
};

void HandoffServer::Loop::Run() {
  while (stage_ != Stage::kDone) {
    pollfd fds[3] = {
        {.fd = wake_.fd(), .events = POLLIN, .revents = 0},
        {.fd = listen_fd_.valid() ? listen_fd_.get() : -1, .events = POLLIN, .revents = 0},
        {.fd = active_.has_value() ? active_->fd() : -1, .events = POLLIN, .revents = 0}};
    int timeout_ms = -1;
    if (active_.has_value()) {
      timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(
          std::max(deadline_ - absl::Now(), absl::ZeroDuration()), absl::Milliseconds(1))));
    }
    if (::poll(fds, 3, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "hand-off: poll failed; no more takeovers";
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) return;  // Stop.
    if (fds[2].revents != 0) {
      OnRecord(active_->Receive(absl::InfinitePast()));
    } else if (active_.has_value() && absl::Now() >= deadline_) {
      Abandon(absl::StrCat("successor pid ", successor_, " did not answer in time"));
    }
    if ((fds[1].revents & POLLIN) != 0 && listen_fd_.valid()) Accept();
  }
}

void HandoffServer::Loop::Accept() {
  UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd.valid()) return;  // Gone already, or short of descriptors: it may connect again.
  HandoffChannel channel(std::move(fd));
  const absl::StatusOr<uid_t> uid = channel.PeerUid();
  const absl::StatusOr<pid_t> pid = channel.PeerPid();
  if (!uid.ok() || !pid.ok()) return;
  if (*uid != ::geteuid()) {
    LOG(WARNING) << "hand-off: refused a takeover by pid " << *pid << " running as uid " << *uid
                 << " (weftd runs as uid " << ::geteuid() << ")";
    (void)channel.Send(Refusal(absl::StrCat("takeover refused: your uid ", *uid,
                                            " is not the uid weftd runs as (", ::geteuid(), ")")));
    return;
  }
  if (active_.has_value()) {
    LOG(WARNING) << "hand-off: refused a takeover by pid " << *pid << ": pid " << successor_
                 << " is taking over";
    (void)channel.Send(Refusal(
        absl::StrCat("takeover refused: a takeover by pid ", successor_, " is in progress")));
    return;
  }
  Offer(std::move(channel), *pid);
}

void HandoffServer::Loop::Offer(HandoffChannel channel, pid_t pid) {
  std::vector<UniqueFd> fds;
  v1::HandoffMessage message;
  *message.mutable_offer() = participant_.offer(&fds);
  std::vector<int> raw;
  for (const UniqueFd& fd : fds) raw.push_back(fd.get());
  if (absl::Status status = channel.Send(message, raw); !status.ok()) {
    LOG(WARNING) << "hand-off: cannot send the offer to pid " << pid << ": " << status;
    return;
  }
  LOG(INFO) << "hand-off: offered " << fds.size() << " listening sockets to pid " << pid;
  active_.emplace(std::move(channel));
  successor_ = pid;
  stage_ = Stage::kOffered;
  deadline_ = absl::Now() + options_.ready_timeout;
}

void HandoffServer::Loop::OnRecord(absl::StatusOr<HandoffRecord> record) {
  if (!record.ok()) {
    Abandon(absl::StrCat("successor pid ", successor_, ": ", record.status().message()));
    return;
  }
  const v1::HandoffMessage& message = record->message;
  if (stage_ == Stage::kOffered && message.has_ready()) {
    ready_ = message.ready();
    participant_.release(ready_);
    // The successor listens on the path next; this process no longer does.
    listen_fd_.Reset();
    ::unlink(options_.path.c_str());
    v1::HandoffMessage released;
    released.mutable_released();
    if (absl::Status status = active_->Send(released); !status.ok()) {
      Abandon(absl::StrCat("successor pid ", successor_, ": ", status.message()));
      return;
    }
    LOG(INFO) << "hand-off: released " << ready_.listeners_size() << " listeners"
              << (ready_.control() ? ", the control plane" : "")
              << (ready_.admin() ? ", the admin endpoint" : "") << " to pid " << successor_
              << "; no longer accepting there";
    stage_ = Stage::kReleased;
    deadline_ = absl::Now() + options_.done_timeout;
    return;
  }
  if (stage_ == Stage::kReleased && message.has_done()) {
    LOG(INFO) << "hand-off: pid " << successor_ << " is serving; draining";
    stage_ = Stage::kDone;
    deadline_ = absl::InfiniteFuture();
    participant_.done(ready_);
    return;
  }
  Abandon(absl::StrCat("successor pid ", successor_, " broke the hand-off protocol"));
}

void HandoffServer::Loop::Abandon(const std::string& why) {
  const bool released = stage_ == Stage::kReleased;
  active_.reset();
  stage_ = Stage::kIdle;
  deadline_ = absl::InfiniteFuture();
  if (!released) {
    LOG(WARNING) << "hand-off abandoned (" << why << "); still serving, nothing was released";
    return;
  }
  participant_.resume();
  LOG(WARNING) << "hand-off abandoned after the release (" << why
               << "); took the listening sockets back and serving again";
  absl::StatusOr<UniqueFd> fd = Listen(options_.path);
  if (!fd.ok()) {
    LOG(ERROR) << "hand-off: cannot listen again: " << fd.status() << "; no more takeovers";
    return;
  }
  listen_fd_ = std::move(*fd);
}

absl::StatusOr<std::unique_ptr<HandoffServer>> HandoffServer::Start(
    HandoffServerOptions options, HandoffParticipant participant) {
  absl::StatusOr<UniqueFd> fd = Listen(options.path);
  if (!fd.ok()) return fd.status();
  const std::string path = options.path;
  auto loop = std::make_unique<Loop>(std::move(options), std::move(participant), std::move(*fd));
  if (!loop->wakeable()) {
    loop->Finish();
    return absl::ResourceExhaustedError("no eventfd for the hand-off server's wake-up");
  }
  LOG(INFO) << "hand-off: a successor may take over on " << path;
  return std::unique_ptr<HandoffServer>(new HandoffServer(std::move(loop)));
}

HandoffServer::HandoffServer(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {
  thread_ = std::thread([this] { loop_->Run(); });
}

HandoffServer::~HandoffServer() { Stop(); }

void HandoffServer::Stop() {
  if (stopped_.exchange(true)) return;
  loop_->Wake();
  thread_.join();
  loop_->Finish();
}

}  // namespace weft::control
