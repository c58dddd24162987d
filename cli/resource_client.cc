#include "resource_client.h"

#include "absl/strings/cord.h"

namespace berth::cli {
namespace {

constexpr char kServerPayloadUrl[] = "type.berth.dev/cli.FromServer";

}  // namespace

absl::Status MarkFromServer(absl::Status status) {
  if (!status.ok()) status.SetPayload(kServerPayloadUrl, absl::Cord("1"));
  return status;
}

bool IsFromServer(const absl::Status& status) {
  return status.GetPayload(kServerPayloadUrl).has_value();
}

}  // namespace berth::cli
