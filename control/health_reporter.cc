#include "control/health_reporter.h"

#include <utility>

namespace weft::control {
namespace {

class StateObserver final : public ServerObserver {
 public:
  StateObserver(HealthReporter* reporter, std::string name)
      : reporter_(reporter), name_(std::move(name)) {}
  void OnEvent(const ServerEvent& event) override {
    if (event.kind != ServerEvent::Kind::kStateChanged) return;
    reporter_->SetListenerServing(name_, event.state == ServerState::kRunning);
  }

 private:
  HealthReporter* const reporter_;
  const std::string name_;
};

}  // namespace

std::shared_ptr<ServerObserver> HealthReporter::ObserverFor(std::string name) {
  SetListenerServing(name, false);
  return std::make_shared<StateObserver>(this, std::move(name));
}

void HealthReporter::Attach(grpc::HealthCheckServiceInterface* health) {
  {
    MutexLock lock(&mu_);
    health_ = health;
    PublishAllLocked();
  }
  publish_.Flush();
}

void HealthReporter::Detach() {
  {
    MutexLock lock(&mu_);
    health_ = nullptr;
  }
  publish_.Flush();  // Publications queued before Detach still name the old service.
}

void HealthReporter::SetListenerServing(const std::string& name, bool serving) {
  {
    MutexLock lock(&mu_);
    listeners_[name] = serving;
    PublishLocked(name, serving && !draining_);
  }
  publish_.Flush();
}

void HealthReporter::SetDraining(bool draining) {
  {
    MutexLock lock(&mu_);
    draining_ = draining;
    PublishAllLocked();
  }
  publish_.Flush();
}

bool HealthReporter::Ready() const {
  MutexLock lock(&mu_);
  if (draining_) return false;
  for (const auto& [name, serving] : listeners_) {
    if (!serving) return false;
  }
  return true;
}

bool HealthReporter::Draining() const {
  MutexLock lock(&mu_);
  return draining_;
}

void HealthReporter::PublishAllLocked() {
  PublishLocked("", !draining_);
  PublishLocked(kControlServiceName, !draining_);
  for (const auto& [name, serving] : listeners_) PublishLocked(name, serving && !draining_);
}

void HealthReporter::PublishLocked(const std::string& service, bool serving) {
  if (health_ == nullptr) return;
  publish_.Post(
      [health = health_, service, serving] { health->SetServingStatus(service, serving); });
}

}  // namespace weft::control
