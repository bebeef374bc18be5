#include "control/watch_dispatcher.h"

#include <algorithm>

namespace weft::control {

WatchDispatcher::WatchDispatcher() : thread_([this] { Loop(); }) {}

WatchDispatcher::~WatchDispatcher() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  thread_.join();
}

void WatchDispatcher::Schedule(Client* client) {
  MutexLock lock(&mu_);
  ready_.push_back(client);
  changed_.SignalAll();
}

void WatchDispatcher::Forget(Client* client) {
  MutexLock lock(&mu_);
  ready_.erase(std::remove(ready_.begin(), ready_.end(), client), ready_.end());
  changed_.Await(&mu_, [&]() {
    mu_.AssertHeld();
    return running_ != client;
  });
}

void WatchDispatcher::Loop() {
  mu_.Lock();
  while (true) {
    changed_.Await(&mu_, [this]() {
      mu_.AssertHeld();
      return stopping_ || !ready_.empty();
    });
    if (ready_.empty()) break;  // Stopping, and nothing left to write.
    Client* const client = ready_.front();
    ready_.pop_front();
    running_ = client;
    mu_.Unlock();
    client->Pump();
    mu_.Lock();
    running_ = nullptr;
    changed_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace weft::control
