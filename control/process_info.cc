#include "control/process_info.h"

#include <unistd.h>

#include "absl/time/clock.h"
#include "weft/base/log.h"

namespace weft::control {

ProcessInfo::ProcessInfo() : pid_(::getpid()), start_time_(absl::Now()) {}

void ProcessInfo::set_generation(std::uint64_t generation) {
  CHECK_GE(generation, 1u) << "a process's generation starts at 1";
  MutexLock lock(&mu_);
  generation_ = generation;
}

void ProcessInfo::set_draining(bool draining) {
  MutexLock lock(&mu_);
  draining_ = draining;
}

void ProcessInfo::set_peer(const ProcessPeer& peer) {
  MutexLock lock(&mu_);
  peer_ = peer;
}

void ProcessInfo::clear_peer() {
  MutexLock lock(&mu_);
  peer_.reset();
}

ProcessSnapshot ProcessInfo::Snapshot() const {
  MutexLock lock(&mu_);
  return ProcessSnapshot{.pid = pid_,
                         .start_time = start_time_,
                         .generation = generation_,
                         .draining = draining_,
                         .peer = peer_};
}

}  // namespace weft::control
