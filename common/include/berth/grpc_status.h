#ifndef BERTH_GRPC_STATUS_H_
#define BERTH_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace berth {

// Maps codes 1:1 at the gRPC boundary (absl and gRPC share code numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace berth

#endif  // BERTH_GRPC_STATUS_H_
