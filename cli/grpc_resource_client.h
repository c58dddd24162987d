#ifndef BERTH_CLI_GRPC_RESOURCE_CLIENT_H_
#define BERTH_CLI_GRPC_RESOURCE_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "resource_client.h"

namespace berth::cli {

// Creates the channel to the controller at `address` (host:port). The one place that decides
// transport security: insecure for now, TLS later.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address);

// Connects to the controller's Resources and Admin services.
absl::StatusOr<std::unique_ptr<ResourceClient>> CreateGrpcResourceClient(
    const std::string& address);

}  // namespace berth::cli

#endif  // BERTH_CLI_GRPC_RESOURCE_CLIENT_H_
