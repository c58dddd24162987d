#ifndef BERTH_CLI_GRPC_RESOURCE_CLIENT_H_
#define BERTH_CLI_GRPC_RESOURCE_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "command_context.h"
#include "grpcpp/channel.h"
#include "resource_client.h"

namespace berth::cli {

// Creates the channel to the controller: mutual TLS with the bundle in c.tls_dir (and the
// bearer token, when set, on every call), plaintext when c.tls_dir is empty.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const Connection& c);

// Connects to the controller's Resources and Admin services.
absl::StatusOr<std::unique_ptr<ResourceClient>> CreateGrpcResourceClient(const Connection& c);

}  // namespace berth::cli

#endif  // BERTH_CLI_GRPC_RESOURCE_CLIENT_H_
