// SignalFd and WakeFd: descriptors a main thread waits on with poll instead of waking on a
// timer — SignalFd turns signals into a readable descriptor (weftd's SIGTERM/SIGINT, weftctl
// watch and top's SIGINT/SIGTERM/SIGHUP/SIGWINCH), WakeFd lets other threads wake it (a drain
// that has finished, a fetch that has returned).
//
// Part of weft::base: any Weft component may include it; not a supported API for programs
// using Weft.
#pragma once

#include <signal.h>

#include <initializer_list>

namespace weft {

// SignalFd blocks `signals` in the calling thread and reads them from a signalfd.
// Requires: constructed on the main thread before any other thread exists (gRPC's included),
// so every thread inherits the blocked mask and no signal kills the process behind its back.
// The mask stays blocked after destruction: the process is about to exit and a late signal
// must not interrupt the cleanup. Thread-compatible.
class SignalFd {
 public:
  explicit SignalFd(std::initializer_list<int> signals);
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
// fd() is -1 when eventfd failed (out of descriptors); Notify and Drain then do nothing, so a
// caller that relies on being woken must check fd() first.
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

}  // namespace weft
