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
  MutexLock lock(&mu_);
  health_ = health;
  PublishLocked();
}

void HealthReporter::Detach() {
  MutexLock lock(&mu_);
  health_ = nullptr;
}

void HealthReporter::SetListenerServing(const std::string& name, bool serving) {
  MutexLock lock(&mu_);
  listeners_[name] = serving;
  if (health_ != nullptr) health_->SetServingStatus(name, serving && !draining_);
}

void HealthReporter::SetDraining(bool draining) {
  MutexLock lock(&mu_);
  draining_ = draining;
  PublishLocked();
}

void HealthReporter::PublishLocked() {
  if (health_ == nullptr) return;
  health_->SetServingStatus("", !draining_);
  health_->SetServingStatus(kControlServiceName, !draining_);
  for (const auto& [name, serving] : listeners_) {
    health_->SetServingStatus(name, serving && !draining_);
  }
}

}  // namespace weft::control
