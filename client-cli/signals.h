// The descriptors the long-running commands (watch, top) wait on with poll: SignalFd turns
// SIGINT, SIGTERM, SIGHUP (and SIGWINCH) into a readable descriptor so they can clean up and exit
// 0; WakeFd lets their worker threads wake them.
#pragma once

#include <signal.h>

namespace weft::cli {

// SignalFd blocks the signals in the calling thread and reads them from a signalfd.
// Requires: constructed on the main thread before any other thread exists (gRPC's included),
// so every thread inherits the blocked mask and no signal kills the process behind its back.
// The mask stays blocked after destruction: the process is about to exit and a late signal
// must not interrupt the cleanup. Thread-compatible.
class SignalFd {
 public:
  SignalFd();
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;
  ~SignalFd();

  // fd is readable (POLLIN) while a signal is pending; -1 if signalfd failed, in which case
  // the default dispositions were left alone.
  int fd() const { return fd_; }
  // Read consumes one pending signal and returns its number; 0 if none is pending.
  int Read();

 private:
  int fd_ = -1;
};

// WakeFd: an eventfd. Notify from any thread makes fd() readable until Drain. Thread-safe.
class WakeFd {
 public:
  WakeFd();
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  ~WakeFd();

  int fd() const { return fd_; }
  void Notify();
  void Drain();

 private:
  int fd_;
};

}  // namespace weft::cli
