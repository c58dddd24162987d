#include "export/export_changes.h"

#include <linux/fiemap.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace berth::agent {
namespace {

namespace ew = exportwire;
using platform::MappedExtent;

constexpr uint32_t kUntrusted = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                                FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
                                FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
                                FIEMAP_EXTENT_DATA_TAIL;

// The extent of `map` (sorted by logical offset) that covers byte `at`, or null for a hole.
const MappedExtent* Covering(const std::vector<MappedExtent>& map, uint64_t at) {
  auto it = std::upper_bound(map.begin(), map.end(), at,
                             [](uint64_t x, const MappedExtent& e) { return x < e.logical; });
  if (it == map.begin()) return nullptr;
  --it;
  return at < it->logical + it->length ? &*it : nullptr;
}

bool ReadsZero(const MappedExtent* e) {
  return e == nullptr || (e->flags & FIEMAP_EXTENT_UNWRITTEN) != 0;
}

void Append(std::vector<ew::Extent>& out, uint64_t start, uint64_t end) {
  if (!out.empty() && out.back().offset + out.back().length == start) {
    out.back().length += end - start;
  } else {
    out.push_back({start, end - start});
  }
}

Json RangesJson(const std::vector<ew::Extent>& ranges) {
  Json list = Json::array();
  for (const ew::Extent& e : ranges) list.push_back(Json::array({e.offset, e.length}));
  return list;
}

}  // namespace

uint64_t Changes::DataBytes() const {
  uint64_t n = 0;
  for (const ew::Extent& e : data) n += e.length;
  return n;
}

std::string Changes::ToJson(uint64_t size, const Json& extra) const {
  Json j = extra;
  j["method"] = method;
  j["size"] = size;
  j["data"] = RangesJson(data);
  j["zeros"] = RangesJson(zeros);
  j["bytes"] = DataBytes();
  return j.dump();
}

Changes CompareExtentMaps(const std::vector<MappedExtent>& a, uint64_t size_a,
                          const std::vector<MappedExtent>& b, uint64_t size_b) {
  // Every point where either map (or A's end) changes splits B's range into pieces that are
  // each wholly unchanged, changed data or changed to zeros.
  std::set<uint64_t> cuts{0, size_b};
  if (size_a < size_b) cuts.insert(size_a);
  for (const auto* map : {&a, &b}) {
    for (const MappedExtent& e : *map) {
      if (e.logical < size_b) cuts.insert(e.logical);
      if (e.logical + e.length < size_b) cuts.insert(e.logical + e.length);
    }
  }
  Changes out;
  out.method = kMethodExtentMap;
  for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
    uint64_t start = *it, end = *std::next(it);
    const MappedExtent* in_b = Covering(b, start);
    const MappedExtent* in_a = start < size_a ? Covering(a, start) : nullptr;
    bool a_zero = start >= size_a || ReadsZero(in_a);
    if (ReadsZero(in_b)) {
      if (!a_zero) Append(out.zeros, start, end);
      continue;
    }
    bool same =
        !a_zero && in_a != nullptr && ((in_a->flags | in_b->flags) & kUntrusted) == 0 &&
        in_a->physical + (start - in_a->logical) == in_b->physical + (start - in_b->logical);
    if (!same) Append(out.data, start, end);
  }
  return out;
}

absl::StatusOr<Changes> CompareLeaves(const ew::LeafTree& b,
                                      const std::vector<ew::Sha256Bytes>& base_leaves) {
  if (base_leaves.size() != b.leaves.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", base_leaves.size(),
                                                   " leaf digests; an image of ", b.size,
                                                   " bytes has ", b.leaves.size()));
  }
  Changes out;
  out.method = kMethodDigest;
  ew::Sha256Bytes zero_full = ew::ZeroLeafDigest(ew::kDigestLeaf);
  for (uint64_t i = 0; i < b.leaves.size(); ++i) {
    if (b.leaves[i] == base_leaves[i]) continue;
    uint64_t len = ew::LeafLength(i, b.size);
    bool zeros = b.leaves[i] == (len == ew::kDigestLeaf ? zero_full : ew::ZeroLeafDigest(len));
    Append(zeros ? out.zeros : out.data, i * ew::kDigestLeaf, i * ew::kDigestLeaf + len);
  }
  return out;
}

absl::StatusOr<ew::LeafTree> DeriveLeafTree(const ew::LeafTree& a, const Changes& changes, int fd_b,
                                            uint64_t size_b) {
  ew::LeafTree tree = a;
  absl::Status st = ew::ResizeLeafTree(fd_b, size_b, tree);
  std::vector<ew::Extent> touched = changes.data;
  touched.insert(touched.end(), changes.zeros.begin(), changes.zeros.end());
  if (st.ok()) st = ew::RehashLeaves(fd_b, ew::LeavesTouching(touched, size_b), tree);
  if (!st.ok()) return st;
  return tree;
}

}  // namespace berth::agent
