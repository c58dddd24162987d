#ifndef BERTH_AGENT_PLATFORM_CLOUD_INIT_ISO_H_
#define BERTH_AGENT_PLATFORM_CLOUD_INIT_ISO_H_

#include <string>

#include "absl/status/status.h"

namespace berth::agent::platform {

// Writes a NoCloud seed image (ISO 9660, volume id "cidata", files user-data and meta-data) to
// `iso_path` with genisoimage, atomically: built under a temporary name, then renamed, so a
// running guest keeps the image it booted with. Thread-safe for distinct paths.
absl::Status WriteNoCloudIso(const std::string& iso_path, const std::string& user_data,
                             const std::string& meta_data);

}  // namespace berth::agent::platform

#endif  // BERTH_AGENT_PLATFORM_CLOUD_INIT_ISO_H_
