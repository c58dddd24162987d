// Incremental export: which ranges of an image B differ from an earlier image A the client
// already holds (docs/export.md, "Incremental export"). Two ways to find them:
//   extent-map  A and B are snapshots of one disk in a reflink or btrfs pool: a range where
//               both files map the same physical blocks holds the same bytes; nothing is read.
//   digest      anything else: the client sends the 64 KiB leaf digests of its copy of A and
//               the leaves whose digests differ from B's are sent.
// The functions here are pure (no I/O) and unit-tested; the HTTP side is in export_http.cc.
#ifndef BERTH_AGENT_SRC_EXPORT_EXPORT_CHANGES_H_
#define BERTH_AGENT_SRC_EXPORT_EXPORT_CHANGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/exportwire/export_wire.h"
#include "berth/json.h"
#include "platform/fs_ioctl.h"

namespace berth::agent {

inline constexpr char kMethodExtentMap[] = "extent-map";
inline constexpr char kMethodDigest[] = "digest";

// What the client must do to turn its copy of A (resized to B's size; growth reads as zeros)
// into B: fetch `data` from B and make `zeros` read as zeros. Ranges are sorted, disjoint and
// within B's size.
struct Changes {
  std::string method;
  std::vector<exportwire::Extent> data;
  std::vector<exportwire::Extent> zeros;
  uint64_t DataBytes() const;
  // {"method":..,"size":N,"data":[[o,l],..],"zeros":[[o,l],..],"bytes":N} plus `extra` fields.
  std::string ToJson(uint64_t size, const Json& extra = Json::object()) const;
};

// Compares the extent maps of A (`size_a` bytes) and B (`size_b`): a range is unchanged when
// both map it to the same physical address (same shared blocks) or both read as zeros (holes,
// unwritten extents, or past A's end for B's holes). Encoded, inline, unknown or delayed
// extents always count as changed.
Changes CompareExtentMaps(const std::vector<platform::MappedExtent>& a, uint64_t size_a,
                          const std::vector<platform::MappedExtent>& b, uint64_t size_b);

// Compares the client's leaf digests (of its copy resized to B's size) with B's leaf tree: a
// differing leaf is `zeros` when B's leaf is all zeros, else `data`. InvalidArgument when the
// leaf count is not B's.
absl::StatusOr<Changes> CompareLeaves(const exportwire::LeafTree& b,
                                      const std::vector<exportwire::Sha256Bytes>& base_leaves);

// B's leaf tree from A's and the ranges where B differs (CompareExtentMaps), rehashing only
// those leaves (and the leaf at A's old end) from `fd_b`.
absl::StatusOr<exportwire::LeafTree> DeriveLeafTree(const exportwire::LeafTree& a,
                                                    const Changes& changes, int fd_b,
                                                    uint64_t size_b);

}  // namespace berth::agent

#endif  // BERTH_AGENT_SRC_EXPORT_EXPORT_CHANGES_H_
