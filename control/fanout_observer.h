// FanoutObserver: hands each server event to several observers, in order.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "weft/server_observer.h"

namespace weft::control {

// FanoutObserver: as thread-safe as its observers; immutable after construction.
class FanoutObserver final : public ServerObserver {
 public:
  explicit FanoutObserver(std::vector<std::shared_ptr<ServerObserver>> observers)
      : observers_(std::move(observers)) {}

  void OnEvent(const ServerEvent& event) override {
    for (const auto& observer : observers_) observer->OnEvent(event);
  }

 private:
  const std::vector<std::shared_ptr<ServerObserver>> observers_;
};

}  // namespace weft::control
