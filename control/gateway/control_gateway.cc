#include "control/gateway/control_gateway.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "control/unix_socket.h"
#include "weft/base/address.h"
#include "weft/base/deadline.h"
#include "weft/base/log.h"
#include "weft/listen_socket.h"

namespace weft::control {
namespace {

// gRPC's name for the peer of a unix connection from an abstract address.
constexpr absl::string_view kAbstractPeerScheme = "unix-abstract:";

// ClientName formats the address of an accepted client as gRPC names peers:
// "ipv4:10.0.0.5:41234", "ipv6:[::1]:41234"; for a unix socket, "unix:" and the client's
// credentials, which say more than its (usually unbound) address: "unix:pid=42,uid=1000".
std::string ClientName(int fd, const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    return absl::StrCat("ipv4:", host, ":", ntohs(in.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    return absl::StrCat("ipv6:[", host, "]:", ntohs(in6.sin6_port));
  }
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
    return absl::StrCat("unix:pid=", credentials.pid, ",uid=", credentials.uid);
  }
  return "unix:";
}

// Distinguishes the gateways of one process in their backend connections' names.
std::atomic<std::uint64_t> next_gateway_instance{1};

constexpr std::uint64_t kListenTag = ~std::uint64_t{0};
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0} - 1;
constexpr int kAcceptBatch = 64;
constexpr int kBacklog = 1024;
constexpr int kClient = 0;
constexpr int kBackend = 1;
// Relay::interest of a side removed from the epoll set (after its end of stream).
constexpr std::uint32_t kDetached = ~std::uint32_t{0};

bool IsResourceShortage(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// SetNoDelay turns Nagle's algorithm off on a TCP socket (on a unix socket it fails harmlessly).
void SetNoDelay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

// Loop: the state of the accept and relay loop, confined to the gateway's thread except for
// the atomics (stats, stopping) and Wake.
class ControlGateway::Loop {
 public:
  Loop(ControlGatewayOptions options, UniqueFd listen_fd, UniqueFd epoll_fd, UniqueFd wake_fd)
      : options_(std::move(options)),
        listen_fd_(std::move(listen_fd)),
        epoll_fd_(std::move(epoll_fd)),
        wake_fd_(std::move(wake_fd)),
        backend_name_prefix_(absl::StrCat("weft-gateway-", ::getpid(), "-",
                                          next_gateway_instance.fetch_add(1), "-")) {}

  // ClientAddress: see ControlGateway::ClientAddress. Thread-safe.
  std::string ClientAddress(const std::string& backend_peer) const {
    absl::string_view name = backend_peer;
    std::uint64_t id = 0;
    if (absl::ConsumePrefix(&name, kAbstractPeerScheme) &&
        absl::ConsumePrefix(&name, backend_name_prefix_) && absl::SimpleAtoi(name, &id)) {
      MutexLock lock(&clients_mu_);
      if (auto it = clients_.find(id); it != clients_.end()) return it->second;
    }
    return backend_peer;
  }

  absl::Status Register() {
    if (!Add(listen_fd_.get(), EPOLLIN, kListenTag) || !Add(wake_fd_.get(), EPOLLIN, kWakeTag)) {
      return absl::ErrnoToStatus(errno, "epoll_ctl");
    }
    return absl::OkStatus();
  }

  void Run();

  int listen_fd() const { return listen_fd_.get(); }

  // SetListening adds the listener to the epoll set or removes it; epoll_ctl is safe to call
  // from any thread while the loop waits. Returns false if the kernel refused.
  bool SetListening(bool listening) {
    if (listening == !released_.load()) return true;
    released_.store(!listening);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kListenTag;
    if (::epoll_ctl(epoll_fd_.get(), listening ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd_.get(),
                    &event) == 0) {
      return true;
    }
    PLOG(ERROR) << options_.name << " gateway: epoll_ctl on the listener";
    return false;
  }
  bool released() const { return released_.load(); }

  void Wake() {
    stopping_.store(true);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
  }

  // WaitUntilIdle: see ControlGateway::WaitUntilIdle.
  bool WaitUntilIdle(absl::Time deadline) const {
    MutexLock lock(&open_mu_);
    return open_changed_.AwaitUntil(
        &open_mu_, [this] { return open_.load() == 0; }, DeadlineAfter(deadline - absl::Now()));
  }

  // SetOpen publishes the number of open relays and wakes WaitUntilIdle.
  void SetOpen(std::size_t n) {
    {
      MutexLock lock(&open_mu_);
      open_.store(n);
    }
    open_changed_.SignalAll();
  }

  ControlGatewayStats stats() const {
    ControlGatewayStats stats;
    stats.accepted = accepted_.load();
    stats.evicted = evicted_.load();
    stats.refused = refused_.load();
    stats.backend_failed = backend_failed_.load();
    stats.accept_failed = accept_failed_.load();
    stats.open = open_.load();
    return stats;
  }

 private:
  // Relay: one control connection: the client's socket and the gateway's socket to the backend.
  struct Relay {
    std::uint64_t id = 0;
    UniqueFd fd[2];
    // out[s]: bytes read from the other side, waiting to be written to side s.
    std::string out[2];
    // eof[s]: side s has sent its end of stream.
    bool eof[2] = {false, false};
    std::uint32_t interest[2] = {EPOLLIN, EPOLLIN};
    absl::Time accepted;
    absl::Time last_activity;
    std::uint64_t client_bytes = 0;
  };

  bool Add(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    return ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) == 0;
  }
  // Modify changes what the loop waits for on `fd`; false if the kernel refused (ENOMEM).
  bool Modify(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) == 0) return true;
    PLOG_EVERY_N(ERROR, 100) << options_.name << " gateway: epoll_ctl(MOD)";
    return false;
  }

  void AcceptBatch(absl::Time now);
  // Admit relays `client`, whose address is `client_name` (ClientName).
  void Admit(UniqueFd client, std::string client_name, absl::Time now);
  // ConnectBackend opens a connection to the backend (for TCP, possibly still in progress);
  // invalid with errno set on failure. A unix connection comes from the abstract address
  // backend_name_prefix_ + `id`, so that gRPC's peer name for it identifies the relay.
  UniqueFd ConnectBackend(std::uint64_t id) const;
  Relay* PickVictim(absl::Time now);
  // Service moves what it can in both directions; false when the relay is finished.
  bool Service(Relay& relay, int side, std::uint32_t events, absl::Time now);
  void Close(std::uint64_t id);

  const ControlGatewayOptions options_;
  UniqueFd listen_fd_;
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<Relay>> relays_;
  std::uint64_t next_id_ = 1;
  const std::string backend_name_prefix_;
  // The client address of each open relay, by id, for ClientAddress (other threads).
  mutable Mutex clients_mu_;
  absl::flat_hash_map<std::uint64_t, std::string> clients_ ABSL_GUARDED_BY(clients_mu_);
  // While accept(2) is short of descriptors or memory, the listener is not watched until then.
  absl::Time accept_paused_until_ = absl::InfinitePast();

  std::atomic<bool> stopping_{false};
  // ReleaseListener: the listener is out of the epoll set and must not be accepted from.
  std::atomic<bool> released_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> evicted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> backend_failed_{0};
  std::atomic<std::uint64_t> accept_failed_{0};
  std::atomic<std::size_t> open_{0};
  // Set with open_ (SetOpen), so that WaitUntilIdle cannot miss the last relay's end.
  mutable Mutex open_mu_;
  mutable CondVar open_changed_;
};

void ControlGateway::Loop::Run() {
  epoll_event events[128];
  while (!stopping_.load()) {
    int timeout_ms = -1;
    const bool paused = accept_paused_until_ != absl::InfinitePast();
    if (paused) {
      timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(
          absl::Ceil(std::max(accept_paused_until_ - absl::Now(), absl::ZeroDuration()),
                     absl::Milliseconds(1))));
    }
    const int n = ::epoll_wait(epoll_fd_.get(), events, 128, timeout_ms);
    if (n < 0 && errno != EINTR) PLOG(FATAL) << "epoll_wait";
    const absl::Time now = absl::Now();
    if (paused && now >= accept_paused_until_ && !released_.load()) {
      // Should the kernel refuse to watch the listener again, try once more after a back-off.
      accept_paused_until_ = Modify(listen_fd_.get(), EPOLLIN, kListenTag) ? absl::InfinitePast()
                                                                           : now + kAcceptBackoff;
    }
    bool accept_ready = false;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) continue;
      if (tag == kListenTag) {
        accept_ready = true;
        continue;
      }
      auto it = relays_.find(tag / 2);
      if (it == relays_.end()) continue;  // Closed earlier in this batch (evicted).
      if (!Service(*it->second, static_cast<int>(tag % 2), events[i].events, now)) Close(tag / 2);
    }
    // Accept last: a connection that ended in this batch frees its slot before a new one is
    // weighed against the cap (else a client reconnecting at the cap could be refused for a
    // slot its own previous connection was just giving back).
    if (accept_ready && accept_paused_until_ == absl::InfinitePast() && !released_.load()) {
      AcceptBatch(now);
    }
  }
  relays_.clear();
  SetOpen(0);
  MutexLock lock(&clients_mu_);
  clients_.clear();
}

void ControlGateway::Loop::AcceptBatch(absl::Time now) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    UniqueFd client(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                              SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (client.valid()) {
      std::string name = ClientName(client.get(), address);
      Admit(std::move(client), std::move(name), now);
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (IsResourceShortage(err)) {
      accept_failed_.fetch_add(1);
      LOG_EVERY_N(WARNING, 100) << options_.name
                                << " gateway: accept failed: " << std::strerror(err)
                                << "; retrying in " << kAcceptBackoff;
      accept_paused_until_ = now + kAcceptBackoff;
      // Stop watching the (still readable) listener meanwhile; should that fail, its events
      // are ignored until the back-off ends.
      if (!released_.load()) Modify(listen_fd_.get(), 0, kListenTag);
      return;
    }
    // Errors about one pending connection (ECONNABORTED, EPROTO, ...): go on with the next.
  }
}

UniqueFd ControlGateway::Loop::ConnectBackend(std::uint64_t id) const {
  if (options_.backend_port != 0) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fd;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.backend_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      fd.Reset();
    }
    return fd;
  }
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress(options_.backend_path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  // An abstract name: no file to remove, gone with the socket. Should binding fail, the
  // connection goes on unnamed and its calls keep gRPC's name for the peer.
  const std::string name = absl::StrCat(backend_name_prefix_, id);
  sockaddr_un local{};
  local.sun_family = AF_UNIX;
  if (name.size() < sizeof local.sun_path - 1) {
    std::memcpy(local.sun_path + 1, name.data(), name.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), length) != 0) {
      PLOG_EVERY_N(WARNING, 100) << options_.name << " gateway: cannot name a backend connection";
    }
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    fd.Reset();
  }
  return fd;
}

ControlGateway::Loop::Relay* ControlGateway::Loop::PickVictim(absl::Time now) {
  // Ids grow with acceptance: among connections of one accept batch (same timestamps) the
  // first accepted goes first.
  Relay* silent = nullptr;
  Relay* idle = nullptr;
  for (const auto& [id, relay] : relays_) {
    if (relay->client_bytes == 0 && now - relay->accepted >= options_.silent_grace &&
        (silent == nullptr ||
         std::tie(relay->accepted, relay->id) < std::tie(silent->accepted, silent->id))) {
      silent = relay.get();
    }
    if (now - relay->accepted >= options_.min_age &&
        (idle == nullptr ||
         std::tie(relay->last_activity, relay->id) < std::tie(idle->last_activity, idle->id))) {
      idle = relay.get();
    }
  }
  return silent != nullptr ? silent : idle;
}

void ControlGateway::Loop::Admit(UniqueFd client, std::string client_name, absl::Time now) {
  Relay* victim = nullptr;
  if (relays_.size() >= options_.max_connections) {
    victim = PickVictim(now);
    if (victim == nullptr) {
      refused_.fetch_add(1);
      LOG_EVERY_N(WARNING, 100) << options_.name << " gateway: " << options_.max_connections
                                << " connections open, none replaceable (all younger "
                                   "than min_age); refused one ("
                                << WEFT_LOG_OCCURRENCES << " so far)";
      return;
    }
  }
  // Reach the backend before evicting anyone: a failure costs only the new connection (and an
  // id, which need not be dense).
  const std::uint64_t id = next_id_++;
  UniqueFd backend = ConnectBackend(id);
  if (!backend.valid()) {
    backend_failed_.fetch_add(1);
    PLOG_EVERY_N(WARNING, 100) << options_.name << " gateway: cannot reach the backend";
    return;
  }
  if (victim != nullptr) {
    evicted_.fetch_add(1);
    LOG_EVERY_N(WARNING, 100)
        << options_.name << " gateway: at " << options_.max_connections
        << " connections; replaced a silent or the least recently active one (" << WEFT_LOG_OCCURRENCES
        << " so far)";
    Close(victim->id);
  }
  auto relay = std::make_unique<Relay>();
  relay->id = id;
  relay->accepted = now;
  relay->last_activity = now;
  if (!Add(client.get(), EPOLLIN, relay->id * 2 + kClient) ||
      !Add(backend.get(), EPOLLIN, relay->id * 2 + kBackend)) {
    backend_failed_.fetch_add(1);
    PLOG_EVERY_N(WARNING, 100) << options_.name << " gateway: epoll_ctl";
    // Closing a descriptor removes it from the epoll set.
    return;
  }
  // A relay must not add Nagle's delay: a small write (an HTTP header, a gRPC frame) waiting for
  // the ACK of the one before it stalls for the peer's delayed-ACK timer, 40 ms.
  SetNoDelay(client.get());
  SetNoDelay(backend.get());
  relay->fd[kClient] = std::move(client);
  relay->fd[kBackend] = std::move(backend);
  {
    MutexLock lock(&clients_mu_);
    clients_.emplace(relay->id, std::move(client_name));
  }
  relays_.emplace(relay->id, std::move(relay));
  accepted_.fetch_add(1);
  SetOpen(relays_.size());
}

bool ControlGateway::Loop::Service(Relay& relay, int side, std::uint32_t events, absl::Time now) {
  const int other = 1 - side;
  if ((events & EPOLLERR) != 0) return false;
  if ((events & (EPOLLIN | EPOLLHUP)) != 0 && !relay.eof[side]) {
    char buf[16 * 1024];
    while (!relay.eof[side] && relay.out[other].size() < options_.buffer_bytes) {
      const std::size_t room =
          std::min(sizeof buf, options_.buffer_bytes - relay.out[other].size());
      const ssize_t n = ::read(relay.fd[side].get(), buf, room);
      if (n > 0) {
        relay.out[other].append(buf, static_cast<std::size_t>(n));
        relay.last_activity = now;
        if (side == kClient) relay.client_bytes += static_cast<std::uint64_t>(n);
      } else if (n == 0) {
        relay.eof[side] = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      } else {
        return false;  // ECONNRESET and friends.
      }
    }
    // A hung-up side is reported on every wait, whatever the interest: one whose remaining
    // bytes cannot be taken now (the other side is not reading) would make the loop spin. Its
    // peer is gone, so the connection is over.
    if ((events & EPOLLHUP) != 0 && !relay.eof[side]) return false;
  }
  if (relay.eof[side] && relay.interest[side] != kDetached) {
    // Nothing more comes from this side and nothing can be delivered to it (no half-close):
    // stop watching it so that its hang-up does not wake the loop again.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, relay.fd[side].get(), nullptr);
    relay.interest[side] = kDetached;
    relay.out[side].clear();
  }
  for (int to : {kClient, kBackend}) {
    std::string& pending = relay.out[to];
    std::size_t written = 0;
    while (written < pending.size()) {
      const ssize_t n = ::send(relay.fd[to].get(), pending.data() + written,
                               pending.size() - written, MSG_NOSIGNAL);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
        relay.last_activity = now;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return false;  // EPIPE, ECONNRESET: that side is gone.
    }
    pending.erase(0, written);
  }
  // Once either side has ended its stream and everything it sent is delivered, the connection
  // is over (HTTP/2 ends streams in frames, not with TCP half-close).
  for (int s : {kClient, kBackend}) {
    if (relay.eof[s] && relay.out[1 - s].empty()) return false;
  }
  for (int s : {kClient, kBackend}) {
    if (relay.interest[s] == kDetached) continue;
    std::uint32_t want = 0;
    if (!relay.eof[s] && relay.out[1 - s].size() < options_.buffer_bytes) want |= EPOLLIN;
    if (!relay.out[s].empty()) want |= EPOLLOUT;
    if (want != relay.interest[s]) {
      relay.interest[s] = want;
      if (!Modify(relay.fd[s].get(), want, relay.id * 2 + static_cast<std::uint64_t>(s))) {
        return false;
      }
    }
  }
  return true;
}

void ControlGateway::Loop::Close(std::uint64_t id) {
  relays_.erase(id);  // Closing both descriptors removes them from the epoll set.
  SetOpen(relays_.size());
  MutexLock lock(&clients_mu_);
  clients_.erase(id);
}

absl::StatusOr<std::unique_ptr<ControlGateway>> ControlGateway::Start(
    ControlGatewayOptions options) {
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, " max_connections must be at least 1"));
  }
  if (options.buffer_bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, " gateway buffer_bytes must be at least 1"));
  }
  if (options.backend_port == 0) {
    if (absl::StatusOr<sockaddr_un> backend = UnixSocketAddress(options.backend_path);
        !backend.ok()) {
      return backend.status();
    }
  } else if (!options.backend_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, " gateway: both a backend path and a backend port"));
  }
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd.valid()) return absl::ErrnoToStatus(errno, "epoll_create1");
  UniqueFd wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) return absl::ErrnoToStatus(errno, "eventfd");
  absl::StatusOr<UniqueFd> listen_fd;
  int port = 0;
  std::string unix_path;
  absl::StatusOr<Address> address = ParseAddress(options.address, {.allow_port_zero = true});
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, " address \"", options.address,
                     "\" must be HOST:PORT or unix:/path: ", address.status().message()));
  }
  const bool adopted = options.listen_socket.valid();
  if (adopted) {
    // The accept loop must never block in accept(2); a socket from elsewhere may be blocking.
    const int flags = ::fcntl(options.listen_socket.get(), F_GETFL);
    if (flags < 0 || ::fcntl(options.listen_socket.get(), F_SETFL, flags | O_NONBLOCK) != 0 ||
        ::fcntl(options.listen_socket.get(), F_SETFD, FD_CLOEXEC) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(options.name, " gateway: the adopted socket"));
    }
  }
  if (address->kind == Address::Kind::kUnix) {
    unix_path = address->unix_path;
    listen_fd =
        adopted ? std::move(options.listen_socket) : ListenUnix(unix_path, SOCK_STREAM, kBacklog);
  } else {
    listen_fd = adopted ? std::move(options.listen_socket)
                        : ListenTcp(address->host, address->port, kBacklog);
    if (listen_fd.ok()) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      if (::getsockname(listen_fd->get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return absl::ErrnoToStatus(errno, "getsockname");
      }
      port = addr.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port)
                 : ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    }
  }
  if (!listen_fd.ok()) {
    return absl::Status(listen_fd.status().code(),
                        absl::StrCat(options.name, " address ", options.address, ": ",
                                     listen_fd.status().message()));
  }
  auto loop = std::make_unique<Loop>(std::move(options), std::move(*listen_fd), std::move(epoll_fd),
                                     std::move(wake_fd));
  if (absl::Status status = loop->Register(); !status.ok()) {
    if (!unix_path.empty()) ::unlink(unix_path.c_str());
    return status;
  }
  return std::unique_ptr<ControlGateway>(
      new ControlGateway(std::move(loop), port, std::move(unix_path)));
}

ControlGateway::ControlGateway(std::unique_ptr<Loop> loop, int port, std::string unix_path)
    : loop_(std::move(loop)), port_(port), unix_path_(std::move(unix_path)) {
  thread_ = std::thread([this] { loop_->Run(); });
}

ControlGateway::~ControlGateway() { Stop(); }

void ControlGateway::Stop() {
  if (stopped_.exchange(true)) return;
  loop_->Wake();
  thread_.join();
  if (!unix_path_.empty() && !loop_->released()) ::unlink(unix_path_.c_str());
}

ControlGatewayStats ControlGateway::stats() const { return loop_->stats(); }

bool ControlGateway::WaitUntilIdle(absl::Time deadline) const {
  return loop_->WaitUntilIdle(deadline);
}

int ControlGateway::listen_fd() const { return loop_->listen_fd(); }

std::string ControlGateway::ClientAddress(const std::string& backend_peer) const {
  return loop_->ClientAddress(backend_peer);
}

void ControlGateway::ReleaseListener() {
  MutexLock lock(&listener_mu_);
  loop_->SetListening(false);
}

void ControlGateway::ResumeListener() {
  MutexLock lock(&listener_mu_);
  loop_->SetListening(true);
}

}  // namespace weft::control
