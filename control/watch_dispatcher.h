// WatchDispatcher: the one thread that writes WatchEvents streams when an event arrives for a
// watcher that was waiting — so publishing an event on a data-plane thread costs a queue push,
// not a gRPC write per watcher.
#pragma once

#include <deque>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "weft/base/sync.h"

namespace weft::control {

// WatchDispatcher: thread-safe. Runs each scheduled client's Pump on its own thread, in
// scheduling order. Owned by the ControlService; its thread is started by the constructor and
// joined by the destructor.
class WatchDispatcher {
 public:
  // Client: what can be scheduled (a WatchReactor).
  class Client {
   public:
    // Pump runs on the dispatcher thread, once per Schedule; it must not block (every watcher
    // shares the thread) and must not call Forget.
    virtual void Pump() = 0;

   protected:
    ~Client() = default;
  };

  WatchDispatcher();
  WatchDispatcher(const WatchDispatcher&) = delete;
  WatchDispatcher& operator=(const WatchDispatcher&) = delete;
  ~WatchDispatcher();

  // Schedule queues client->Pump() to run on the dispatcher thread. Never blocks beyond a
  // short lock; never calls gRPC.
  void Schedule(Client* client) ABSL_LOCKS_EXCLUDED(mu_);

  // Forget removes `client` from the queue and waits until its Pump is not running; after it
  // returns the dispatcher never touches `client` again (unless it is scheduled anew). Must not
  // be called from Pump.
  void Forget(Client* client) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  Mutex mu_;
  CondVar changed_;
  std::deque<Client*> ready_ ABSL_GUARDED_BY(mu_);
  Client* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once the fields above exist.
};

}  // namespace weft::control
