// The one place absl::Status and grpc::Status convert into each other.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace weft::control {

// ToGrpcStatus keeps the canonical code and the message (the codes are numerically equal).
grpc::Status ToGrpcStatus(const absl::Status& status);

// FromGrpcStatus is the inverse.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace weft::control
