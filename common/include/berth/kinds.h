#ifndef BERTH_KINDS_H_
#define BERTH_KINDS_H_

#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr char kApiGroup[] = "virtualization.deckhouse.io";
inline constexpr char kApiVersion[] = "virtualization.deckhouse.io/v1alpha2";

// Describes one resource kind the API serves.
struct KindInfo {
  std::string kind;                      // VirtualDiskSnapshot
  std::string plural;                    // virtualdisksnapshots
  std::string singular;                  // virtualdisksnapshot
  std::vector<std::string> short_names;  // vdsnapshot, vds
  bool namespaced = true;
  std::string api_version;  // virtualization.deckhouse.io/v1alpha2, or v1 for Secret
};

// Returns every kind the API serves.
const std::vector<KindInfo>& AllKinds();

// Resolves any accepted spelling (Kind, plural, singular, short name; case-insensitive, an
// optional ".group" suffix) to its kind, or nullptr.
const KindInfo* ResolveKind(std::string_view name);

}  // namespace berth

#endif  // BERTH_KINDS_H_
