// How weftd divides its descriptor limit: the control plane's connection cap and the reserve
// kept back from listeners (see config.proto, Descriptors).
#pragma once

#include <cstddef>
#include <cstdint>

#include "weft/config/v1/config.pb.h"

namespace weft::control {

// kMinListenerDescriptors: weftd refuses to start if its listeners would get fewer.
inline constexpr std::uint64_t kMinListenerDescriptors = 16;
// kInternalDescriptors: kept back beyond the control connections for what the process opens
// after Start has measured it: descriptors gRPC creates on demand, gRPC's end of a relay it has
// not closed yet after the gateway replaced it, an accept being shed, log files, /proc reads.
inline constexpr std::uint64_t kInternalDescriptors = 51;

// ControlConnectionLimit: control.max_connections, or by default `rlimit` / 64 between 4 and
// 256. `rlimit` is the soft RLIMIT_NOFILE.
std::size_t ControlConnectionLimit(const config::v1::Control& control, std::uint64_t rlimit);

// DescriptorReserve: descriptors.reserve, or by default 3 per gateway connection (control and
// admin endpoints together) plus kInternalDescriptors.
std::uint64_t DescriptorReserve(const config::v1::Descriptors& descriptors,
                                std::size_t gateway_connections);

}  // namespace weft::control
