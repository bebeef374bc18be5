#include "weft/connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/internal/poll_waiter.h"
#include "server/internal/task_control.h"
#include "weft/server_observer.h"

namespace weft {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

absl::Status IoError(int err, absl::string_view op) {
  if (err == ECONNRESET || err == EPIPE || err == ENOTCONN || err == ETIMEDOUT) {
    return absl::UnavailableError(absl::StrCat(op, ": connection lost: ", std::strerror(err)));
  }
  return absl::ErrnoToStatus(err, op);
}

// SocketRecv and SocketSend are recv() and send() without glibc's cancellation-point wrappers,
// which in a multi-threaded process switch asynchronous cancellation on and off around every
// call (two atomic read-modify-writes; ~3 % of a ping-pong server's CPU, measured). Weft never
// cancels a thread: tasks end cooperatively. Sanitizer builds keep the wrappers, which the
// sanitizers intercept (ASan checks the buffer, TSan takes the descriptor's happens-before).
ssize_t SocketRecv(int fd, void* buffer, std::size_t size, int flags) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return ::recv(fd, buffer, size, flags);
#else
  return ::syscall(SYS_recvfrom, fd, buffer, size, flags, nullptr, nullptr);
#endif
}

ssize_t SocketSend(int fd, const void* data, std::size_t size, int flags) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return ::send(fd, data, size, flags);
#else
  return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
#endif
}

IoWaiter& CurrentWaiter(internal::TaskControl* task) {
  IoWaiter* waiter = task != nullptr ? task->waiter() : nullptr;
  return waiter != nullptr ? *waiter : internal::DefaultWaiter();
}

// NoteEnding tells the task, if any, why its connection is ending (CloseInitiator).
void NoteEnding(internal::TaskControl* task, CloseInitiator initiator) {
  if (task != nullptr) task->NoteEnding(initiator);
}

// NoteIoError notes a lost peer for the errors IoError reports as UNAVAILABLE.
absl::Status NoteIoError(internal::TaskControl* task, absl::Status status) {
  if (absl::IsUnavailable(status)) NoteEnding(task, CloseInitiator::kPeer);
  return status;
}

// Count adds `n` bytes to a connection's own counter (written by its task only: no
// read-modify-write needed) and to the server's total, if any.
void Count(std::atomic<std::uint64_t>& own, std::atomic<std::uint64_t>* total, std::size_t n) {
  own.store(own.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  if (total != nullptr) total->fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

Connection::Connection(int fd, Endpoint peer, Endpoint local, ConnectionLimits limits)
    : fd_(fd),
      peer_(std::move(peer)),
      local_(std::move(local)),
      idle_timeout_(limits.idle_timeout),
      lifetime_deadline_(DeadlineAfter(limits.max_lifetime)),
      counters_(std::make_unique<internal::IoCounters>()),
      task_(internal::CurrentTask()),
      totals_(task_ != nullptr ? task_->io_totals() : nullptr),
      waiter_(CurrentWaiter(task_)),
      blocking_reads_(waiter_.BlocksThread()) {
  // Blocking for a thread of its own (reads block in recv(); writes and waited reads pass
  // MSG_DONTWAIT), non-blocking for a fiber. One system call whatever the mode was.
  int non_blocking = blocking_reads_ ? 0 : 1;
  ::ioctl(fd_, FIONBIO, &non_blocking);
  if (task_ != nullptr) task_->AttachConnection(fd_, counters_.get(), blocking_reads_);
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (fd_ < 0) return;
  // Detach first: after this no Interrupt can shut down a descriptor number we no longer own.
  if (task_ != nullptr) task_->DetachConnection();
  ::close(fd_);
  fd_ = -1;
}

Deadline Connection::OperationDeadline() const {
  return std::min({deadline_, lifetime_deadline_, DeadlineAfter(idle_timeout_)});
}

absl::Status Connection::Wait(bool readable) {
  const Deadline deadline = OperationDeadline();
  absl::Status status = waiter_.Wait(
      fd_, readable ? IoInterest::kReadable : IoInterest::kWritable, deadline);
  if (!status.ok() && absl::IsDeadlineExceeded(status)) {  // ok() is inline: no call per wait.
    if (deadline == lifetime_deadline_) {
      NoteEnding(task_, CloseInitiator::kMaxLifetime);
    } else if (deadline != deadline_) {
      NoteEnding(task_, CloseInitiator::kIdleTimeout);
    }
    return absl::DeadlineExceededError(
        absl::StrCat(readable ? "read from " : "write to ", peer_.ToString(), " timed out"));
  }
  return status;
}

absl::Status Connection::CheckDeadline() const {
  const Deadline deadline = std::min(deadline_, lifetime_deadline_);
  if (deadline != kNoDeadline && std::chrono::steady_clock::now() >= deadline) {
    if (deadline == lifetime_deadline_) NoteEnding(task_, CloseInitiator::kMaxLifetime);
    return absl::DeadlineExceededError(
        absl::StrCat("connection deadline for ", peer_.ToString(), " has passed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::size_t> Connection::Read(absl::Span<char> buffer) {
  if (absl::Status s = CheckDeadline(); !s.ok()) return s;
  if (buffer_pos_ < buffer_.size()) {
    const std::size_t n = std::min(buffer.size(), buffer_.size() - buffer_pos_);
    std::memcpy(buffer.data(), buffer_.data() + buffer_pos_, n);
    buffer_pos_ += n;
    return n;
  }
  return ReadFromSocket(buffer);
}

bool Connection::ShutdownRequested() const {
  return task_ != nullptr && task_->shutdown_requested();
}

absl::StatusOr<std::size_t> Connection::ReadFromSocket(absl::Span<char> buffer) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (buffer.empty() || eof_) return 0;
  // An absolute deadline needs a timed wait; SO_RCVTIMEO restarts with every recv() and only
  // bounds the idle timeout.
  if (blocking_reads_ && deadline_ == kNoDeadline && lifetime_deadline_ == kNoDeadline) {
    return ReadBlocking(buffer);
  }
  if (drained_) {
    // Request/response traffic: the peer has not answered yet. Waiting first saves the read
    // that would fail with EAGAIN — one system call per message.
    drained_ = false;
    if (absl::Status s = Wait(/*readable=*/true); !s.ok()) return s;
  }
  while (true) {
    const ssize_t n = SocketRecv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      drained_ = static_cast<std::size_t>(n) < buffer.size();
      return CountRead(static_cast<std::size_t>(n));
    }
    if (n == 0) return EndOfStream();
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return NoteIoError(task_, IoError(errno, "read"));
    if (absl::Status s = Wait(/*readable=*/true); !s.ok()) return s;
  }
}

absl::StatusOr<std::size_t> Connection::ReadBlocking(absl::Span<char> buffer) {
  // The flag is read before recv(): a shutdown requested earlier is seen here, a later one
  // shuts the read side down and ends the recv() (TaskControl::RequestShutdown).
  if (ShutdownRequested()) return absl::CancelledError("task is shutting down");
  if (receive_timeout_ != idle_timeout_) {
    // Zero is "no timeout" to SO_RCVTIMEO; a timeout shorter than its resolution waits 1 µs.
    const absl::Duration timeout = idle_timeout_ == absl::InfiniteDuration()
                                       ? absl::ZeroDuration()
                                       : std::max(idle_timeout_, absl::Microseconds(1));
    const timeval tv = absl::ToTimeval(timeout);
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
      return absl::ErrnoToStatus(errno, "setsockopt(SO_RCVTIMEO)");
    }
    receive_timeout_ = idle_timeout_;
  }
  while (true) {
    const ssize_t n = SocketRecv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) return CountRead(static_cast<std::size_t>(n));
    if (n == 0) {
      if (ShutdownRequested()) return absl::CancelledError("task is shutting down");
      return EndOfStream();
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      NoteEnding(task_, CloseInitiator::kIdleTimeout);
      return absl::DeadlineExceededError(
          absl::StrCat("read from ", peer_.ToString(), " timed out"));
    }
    return NoteIoError(task_, IoError(errno, "read"));
  }
}

std::size_t Connection::CountRead(std::size_t n) {
  Count(counters_->bytes_in, totals_ != nullptr ? &totals_->bytes_in : nullptr, n);
  counters_->Touch();
  return n;
}

std::size_t Connection::EndOfStream() {
  eof_ = true;
  NoteEnding(task_, CloseInitiator::kPeer);
  return 0;
}

absl::StatusOr<std::string> Connection::ReadLine(std::size_t max_length) {
  if (absl::Status s = CheckDeadline(); !s.ok()) return s;
  std::size_t scan_from = buffer_pos_;
  while (true) {
    const std::size_t newline = buffer_.find('\n', scan_from);
    if (newline != std::string::npos) {
      std::size_t end = newline;
      if (end > buffer_pos_ && buffer_[end - 1] == '\r') --end;
      if (end - buffer_pos_ > max_length) break;
      std::string line = buffer_.substr(buffer_pos_, end - buffer_pos_);
      buffer_pos_ = newline + 1;
      return line;
    }
    // Too long already, unless the one byte over is the '\r' of a "\r\n" still to come.
    const std::size_t pending = buffer_.size() - buffer_pos_;
    if (pending > max_length + 1 || (pending == max_length + 1 && buffer_.back() != '\r')) {
      break;
    }
    buffer_.erase(0, buffer_pos_);
    buffer_pos_ = 0;
    scan_from = buffer_.size();
    buffer_.resize(scan_from + kReadChunk);
    absl::StatusOr<std::size_t> n = ReadFromSocket(absl::MakeSpan(&buffer_[scan_from], kReadChunk));
    buffer_.resize(scan_from + (n.ok() ? *n : 0));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      if (buffer_.empty()) return absl::OutOfRangeError("end of stream");
      if (buffer_.size() > max_length) break;
      std::string line = std::move(buffer_);
      buffer_.clear();
      return line;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("line from ", peer_.ToString(), " is longer than ", max_length, " bytes"));
}

absl::Status Connection::WriteAll(absl::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (absl::Status s = CheckDeadline(); !s.ok()) return s;
  while (!data.empty()) {
    const ssize_t n = SocketSend(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      Count(counters_->bytes_out, totals_ != nullptr ? &totals_->bytes_out : nullptr,
            static_cast<std::size_t>(n));
      counters_->Touch();
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return NoteIoError(task_, IoError(errno, "write"));
    if (absl::Status s = Wait(/*readable=*/false); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Connection::ShutdownWrite() {
  if (fd_ < 0) return absl::FailedPreconditionError("connection is closed");
  if (::shutdown(fd_, SHUT_WR) != 0) return IoError(errno, "shutdown");
  return absl::OkStatus();
}

void Connection::SetDeadline(Deadline deadline) { deadline_ = deadline; }
void Connection::SetIdleTimeout(absl::Duration timeout) { idle_timeout_ = timeout; }

std::uint64_t Connection::bytes_in() const {
  return counters_->bytes_in.load(std::memory_order_relaxed);
}
std::uint64_t Connection::bytes_out() const {
  return counters_->bytes_out.load(std::memory_order_relaxed);
}

}  // namespace weft
