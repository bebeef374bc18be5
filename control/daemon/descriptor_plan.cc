#include "control/daemon/descriptor_plan.h"

#include <algorithm>

#include "control/gateway/control_gateway.h"

namespace weft::control {

std::size_t ControlConnectionLimit(const config::v1::Control& control, std::uint64_t rlimit) {
  if (control.max_connections() > 0) return control.max_connections();
  return static_cast<std::size_t>(std::clamp<std::uint64_t>(rlimit / 64, 4, 256));
}

std::uint64_t DescriptorReserve(const config::v1::Descriptors& descriptors,
                                std::size_t gateway_connections) {
  if (descriptors.reserve() > 0) return descriptors.reserve();
  return gateway_connections * ControlGateway::kDescriptorsPerConnection + kInternalDescriptors;
}

}  // namespace weft::control
