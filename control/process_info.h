// ProcessInfo: the identity of this weftd process (pid, start time, hand-off generation, whether
// it drains) and of its hand-off peer while one is alive, as GetProcess, /metrics and the status
// page report them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "weft/base/sync.h"

namespace weft::control {

// ProcessPeer: the other weftd process of a zero-downtime hand-off (`weftd --takeover`), as this
// process last heard of it. A plain value.
struct ProcessPeer {
  // Role: what the peer is to this process.
  enum Role {
    // The older process, which handed its listening sockets to this one and drains.
    kPredecessor,
    // The newer process, which took this one's listening sockets over.
    kSuccessor,
  };
  Role role = kPredecessor;
  pid_t pid = 0;
  // When the peer's own ProcessInfo was constructed.
  absl::Time start_time = absl::UnixEpoch();
  // The peer's generation (see ProcessInfo::set_generation).
  std::uint64_t generation = 0;
  bool draining = false;
};

// ProcessSnapshot: ProcessInfo's facts at one instant, all read under one lock.
struct ProcessSnapshot {
  pid_t pid = 0;
  absl::Time start_time = absl::UnixEpoch();
  std::uint64_t generation = 1;
  bool draining = false;
  // Set while a hand-off peer is alive.
  std::optional<ProcessPeer> peer{};
};

// ProcessInfo: thread-safe; every method may be called concurrently from any thread. The
// daemon owns it; the hand-off code and Drain write it, the control plane and the admin
// endpoint read it. Nothing in it is persisted: a restarted process starts again at generation
// 1 unless the hand-off code says otherwise.
class ProcessInfo {
 public:
  // ProcessInfo records getpid() and the current time as the start time; generation 1, not
  // draining, no peer.
  ProcessInfo();
  ProcessInfo(const ProcessInfo&) = delete;
  ProcessInfo& operator=(const ProcessInfo&) = delete;

  // pid and start_time are fixed at construction.
  pid_t pid() const { return pid_; }
  absl::Time start_time() const { return start_time_; }

  // set_generation sets the hand-off generation: 1 for a process started fresh (the default);
  // the hand-off code sets a successor's to its predecessor's plus one.
  // Requires: generation >= 1 (CHECK).
  void set_generation(std::uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);

  // set_draining records whether this process drains (stops accepting and lets its connections
  // end): the daemon's Drain sets it, and the hand-off code once it has handed its sockets over.
  void set_draining(bool draining) ABSL_LOCKS_EXCLUDED(mu_);

  // set_peer records the hand-off peer, replacing any earlier one (the hand-off code calls it
  // again when the peer's facts change, e.g. when it starts draining); clear_peer forgets it
  // once the peer has exited or the hand-off failed.
  void set_peer(const ProcessPeer& peer) ABSL_LOCKS_EXCLUDED(mu_);
  void clear_peer() ABSL_LOCKS_EXCLUDED(mu_);

  // Snapshot returns every fact at one instant.
  ProcessSnapshot Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const pid_t pid_;
  const absl::Time start_time_;
  mutable Mutex mu_;
  std::uint64_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<ProcessPeer> peer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace weft::control
