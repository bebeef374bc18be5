// Connection: what a handler gets for one client — blocking-style I/O with deadlines that
// cooperates with task shutdown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "weft/base/deadline.h"
#include "weft/endpoint.h"

namespace weft {
class IoWaiter;
namespace internal {
struct IoCounters;
struct IoTotals;
class TaskControl;
}  // namespace internal

// ConnectionLimits: per-connection timeouts; infinite (off) by default.
struct ConnectionLimits {
  // A single read or write that makes no progress for this long fails with DEADLINE_EXCEEDED.
  absl::Duration idle_timeout = absl::InfiniteDuration();
  // Every read or write after this long since accept fails with DEADLINE_EXCEEDED.
  absl::Duration max_lifetime = absl::InfiniteDuration();
};

// Connection: owns one connected socket and closes it on destruction.
// Thread contract: used by its own task only (thread-compatible); bytes_in/bytes_out may be read
// from anywhere.
//
// Every blocking operation waits through the running task's IoWaiter and fails with:
//   CANCELLED          the task was asked to shut down (data already buffered is still read),
//   DEADLINE_EXCEEDED  the idle timeout passed while waiting, or the lifetime cap or the
//                      SetDeadline deadline has passed (then every call fails, even one that
//                      would not have to wait),
//   UNAVAILABLE        the peer reset the connection or it was shut down under the handler,
//   FAILED_PRECONDITION the connection was closed by the handler.
class Connection {
 public:
  // Connection takes ownership of `fd` (a connected socket). On a thread of its own (a
  // thread-based manager, or no task) the socket is made blocking and reads block in recv()
  // (SO_RCVTIMEO carries the idle timeout; with SetDeadline or a lifetime cap reads wait in
  // ppoll() instead); on a fiber it is made non-blocking. Writes never block in send().
  // Servers create connections; tests and custom acceptors may too.
  Connection(int fd, Endpoint peer, Endpoint local, ConnectionLimits limits = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Read reads up to buffer.size() bytes, blocking until at least one is available.
  // Returns 0 at end of stream (the peer shut down its write side).
  [[nodiscard]] absl::StatusOr<std::size_t> Read(absl::Span<char> buffer);

  // ReadLine returns the next line without its "\n" or "\r\n". At end of stream a final
  // unterminated line is returned as is; after that, OUT_OF_RANGE. A line (terminated or final)
  // longer than `max_length` bytes fails with RESOURCE_EXHAUSTED (nothing is consumed).
  [[nodiscard]] absl::StatusOr<std::string> ReadLine(std::size_t max_length = 8192);

  // WriteAll writes all of `data` (MSG_NOSIGNAL: a vanished peer is UNAVAILABLE, never SIGPIPE).
  [[nodiscard]] absl::Status WriteAll(absl::string_view data);

  // ShutdownWrite half-closes: the peer reads end of stream; reading still works.
  [[nodiscard]] absl::Status ShutdownWrite();

  // Close closes the socket now (the destructor does it otherwise). Idempotent.
  void Close();

  // SetDeadline sets a deadline for all later I/O (kNoDeadline clears it; the lifetime cap, if
  // any, still applies).
  void SetDeadline(Deadline deadline);
  // SetIdleTimeout changes the per-operation idle timeout.
  void SetIdleTimeout(absl::Duration timeout);

  const Endpoint& peer() const { return peer_; }
  const Endpoint& local() const { return local_; }
  std::uint64_t bytes_in() const;
  std::uint64_t bytes_out() const;
  // fd returns the descriptor for handlers that need a raw socket option; -1 after Close.
  // Reading or writing it directly bypasses deadlines and the shutdown flag. On a thread-based
  // manager it is blocking (see the constructor: pass MSG_DONTWAIT to avoid blocking) and a
  // stop request shuts its read side down: raw reads then see end of stream.
  int fd() const { return fd_; }

 private:
  // Wait blocks until fd_ is ready for `interest` within the operation's deadline.
  absl::Status Wait(bool readable);
  Deadline OperationDeadline() const;
  // CheckDeadline fails once the SetDeadline deadline or the lifetime cap has passed, so that
  // even I/O that would not have to wait fails then.
  absl::Status CheckDeadline() const;
  // ReadFromSocket reads from the socket itself, bypassing the read-ahead buffer.
  absl::StatusOr<std::size_t> ReadFromSocket(absl::Span<char> buffer);
  // ReadBlocking is ReadFromSocket as one blocking recv() (blocking_reads_, no absolute
  // deadline).
  absl::StatusOr<std::size_t> ReadBlocking(absl::Span<char> buffer);
  // CountRead counts `n` bytes read and returns n; EndOfStream records the peer's end, returns 0.
  std::size_t CountRead(std::size_t n);
  std::size_t EndOfStream();
  bool ShutdownRequested() const;

  int fd_;
  const Endpoint peer_;
  const Endpoint local_;
  absl::Duration idle_timeout_;
  Deadline deadline_ = kNoDeadline;
  Deadline lifetime_deadline_;
  std::string buffer_;          // Bytes read ahead by ReadLine.
  std::size_t buffer_pos_ = 0;  // First unconsumed byte of buffer_.
  bool eof_ = false;
  // The last read from the socket returned less than it asked for: the socket is probably
  // empty, so the next one waits for data first instead of failing with EAGAIN first.
  bool drained_ = false;
  std::unique_ptr<internal::IoCounters> counters_;
  internal::TaskControl* task_;  // The task this connection is attached to, if any.
  internal::IoTotals* totals_;   // The task's server-wide counters, if any.
  // The running task's waiter, bound for the task's whole run (which the connection's life is
  // part of): looked up once, not under the task's lock for every wait.
  IoWaiter& waiter_;
  // The socket is blocking and reads may block in recv() (IoWaiter::BlocksThread).
  const bool blocking_reads_;
  // The SO_RCVTIMEO last set, as an idle timeout (infinite: none, the socket's default).
  absl::Duration receive_timeout_ = absl::InfiniteDuration();
};

}  // namespace weft
