// Leaf trees: the 64 KiB leaf digests an image's tree digest is made of, stored so that an
// incremental export recomputes only the leaves that changed (docs/export.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/exportwire/export_wire.h"

namespace berth::exportwire {
namespace {

constexpr char kTreeMagic[] = "berth-tree v1 ";
constexpr uint64_t kLeavesPerChunk = kChunkSize / kDigestLeaf;

absl::Status ReadAt(int fd, char* p, uint64_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return absl::DataLossError(absl::StrCat("short read at byte ", off));
    p += r, n -= r, off += r;
  }
  return absl::OkStatus();
}

}  // namespace

Sha256Bytes ZeroLeafDigest(uint64_t length) {
  static const Sha256Bytes kFull = [] {
    std::vector<char> zeros(kDigestLeaf, 0);
    return Sha256(zeros.data(), zeros.size());
  }();
  if (length == kDigestLeaf) return kFull;
  std::vector<char> zeros(length, 0);
  return Sha256(zeros.data(), zeros.size());
}

void ChunkLeafDigests(const void* data, size_t length, Sha256Bytes* out) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t full = length / kDigestLeaf, rest = length % kDigestLeaf;
  Sha256Strided(bytes, kDigestLeaf, full, kDigestLeaf, out);
  if (rest != 0) out[full] = Sha256(bytes + full * kDigestLeaf, rest);
}

Sha256Bytes LeafTree::ChunkDigestAt(uint64_t index) const {
  uint64_t first = index * kLeavesPerChunk;
  uint64_t n = std::min<uint64_t>(kLeavesPerChunk, leaves.size() - first);
  // A whole chunk of zero leaves (a hole) has a known digest: a sparse 64 GiB image's tree is
  // 32 MiB of leaves, almost all of them these (hashing them all costs ~15-20 ms per Digest()).
  const Sha256Bytes zero = ZeroLeafDigest(kDigestLeaf);
  if (n == kLeavesPerChunk && std::all_of(leaves.begin() + first, leaves.begin() + first + n,
                                          [&](const Sha256Bytes& l) { return l == zero; })) {
    return ZeroChunkDigest(kChunkSize);
  }
  return Sha256(leaves.data() + first, n * sizeof(Sha256Bytes));
}

std::string LeafTree::Digest() const {
  std::vector<Sha256Bytes> chunks(ChunkCount(size));
  for (uint64_t i = 0; i < chunks.size(); ++i) chunks[i] = ChunkDigestAt(i);
  return CombineChunkDigests(size, chunks);
}

int64_t LeafTree::Resize(uint64_t new_size) {
  if (new_size == size) return -1;
  uint64_t old_size = size;
  size = new_size;
  uint64_t old_count = leaves.size(), new_count = LeafCount(new_size);
  leaves.resize(new_count);
  for (uint64_t i = old_count; i < new_count; ++i) leaves[i] = ZeroLeafDigest(LeafLength(i, size));
  // The leaf that held the old end changes length (growing: it gains zeros; shrinking: the new
  // last leaf loses bytes) unless the end was on a leaf boundary.
  uint64_t boundary = std::min(old_size, new_size);
  if (boundary % kDigestLeaf == 0 || boundary / kDigestLeaf >= new_count) return -1;
  return static_cast<int64_t>(boundary / kDigestLeaf);
}

absl::StatusOr<LeafTree> FileLeafTree(int fd, uint64_t size, const std::vector<Extent>& extents,
                                      int threads) {
  LeafTree tree;
  tree.size = size;
  tree.leaves.resize(LeafCount(size));
  for (uint64_t i = 0; i < tree.leaves.size(); ++i) {
    tree.leaves[i] = ZeroLeafDigest(LeafLength(i, size));
  }
  std::vector<uint64_t> chunks = DataChunks(extents, size);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    std::vector<char> buf(kChunkSize);
    for (size_t k = next++; k < chunks.size() && !failed; k = next++) {
      uint64_t i = chunks[k], len = ChunkLength(i, size);
      if (!ReadAt(fd, buf.data(), len, i * kChunkSize).ok()) {
        failed = true;
        break;
      }
      ChunkLeafDigests(buf.data(), len, tree.leaves.data() + i * kLeavesPerChunk);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (failed) return absl::DataLossError("reading the image for its leaf digests failed");
  return tree;
}

absl::Status RehashLeaves(int fd, const std::vector<uint64_t>& leaves, LeafTree& tree) {
  std::vector<char> buf(kDigestLeaf);
  for (uint64_t i : leaves) {
    if (i >= tree.leaves.size()) continue;
    uint64_t len = LeafLength(i, tree.size);
    absl::Status st = ReadAt(fd, buf.data(), len, i * kDigestLeaf);
    if (!st.ok()) return st;
    tree.leaves[i] = Sha256(buf.data(), len);
  }
  return absl::OkStatus();
}

absl::Status ResizeLeafTree(int fd, uint64_t new_size, LeafTree& tree) {
  int64_t boundary = tree.Resize(new_size);
  if (boundary < 0) return absl::OkStatus();
  uint64_t i = static_cast<uint64_t>(boundary), start = i * kDigestLeaf;
  std::vector<char> leaf(LeafLength(i, new_size), 0);
  for (uint64_t got = 0; got < leaf.size();) {
    ssize_t r = pread(fd, leaf.data() + got, leaf.size() - got, start + got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return absl::DataLossError(absl::StrCat("reading byte ", start + got, ": ", strerror(errno)));
    if (r == 0) break;  // the file ends here: the rest of the leaf is zeros
    got += r;
  }
  tree.leaves[i] = Sha256(leaf.data(), leaf.size());
  return absl::OkStatus();
}

absl::Status ZeroRange(int fd, const Extent& range) {
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, range.offset, range.length) == 0) {
    return absl::OkStatus();
  }
  std::vector<char> zeros(std::min<uint64_t>(range.length, 1 << 20), 0);
  for (uint64_t done = 0; done < range.length;) {
    ssize_t w = pwrite(fd, zeros.data(), std::min<uint64_t>(zeros.size(), range.length - done),
                       range.offset + done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return absl::InternalError(absl::StrCat("zeroing: ", strerror(errno)));
    done += w;
  }
  return absl::OkStatus();
}

std::vector<uint64_t> LeavesTouching(const std::vector<Extent>& ranges, uint64_t size) {
  std::vector<uint64_t> out;
  for (const Extent& r : ranges) {
    if (r.length == 0 || r.offset >= size) continue;
    uint64_t first = r.offset / kDigestLeaf;
    uint64_t last = (std::min(r.offset + r.length, size) - 1) / kDigestLeaf;
    for (uint64_t i = first; i <= last; ++i) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string LeafTreeToBytes(const LeafTree& tree) {
  std::string out = absl::StrCat(kTreeMagic, kDigestAlgorithm, " size=", tree.size,
                                 " digest=", tree.Digest(), "\n");
  out.append(reinterpret_cast<const char*>(tree.leaves.data()),
             tree.leaves.size() * sizeof(Sha256Bytes));
  return out;
}

absl::StatusOr<LeafTree> LeafTreeFromBytes(const std::string& bytes) {
  size_t nl = bytes.find('\n');
  if (nl == std::string::npos || bytes.rfind(kTreeMagic, 0) != 0) {
    return absl::DataLossError("not a berth leaf tree");
  }
  std::vector<std::string> words = absl::StrSplit(bytes.substr(0, nl), ' ');
  LeafTree tree;
  std::string digest;
  bool sized = false;
  if (words.size() < 5 || words[2] != kDigestAlgorithm) {
    return absl::DataLossError("leaf tree of another algorithm");
  }
  for (const std::string& w : words) {
    if (w.rfind("size=", 0) == 0) sized = absl::SimpleAtoi(w.substr(5), &tree.size);
    if (w.rfind("digest=", 0) == 0) digest = w.substr(7);
  }
  if (!sized || bytes.size() - nl - 1 != LeafCount(tree.size) * sizeof(Sha256Bytes)) {
    return absl::DataLossError("leaf tree: size and leaves disagree");
  }
  tree.leaves.resize(LeafCount(tree.size));
  if (!tree.leaves.empty()) {
    memcpy(tree.leaves.data(), bytes.data() + nl + 1, tree.leaves.size() * sizeof(Sha256Bytes));
  }
  if (tree.Digest() != digest) return absl::DataLossError("leaf tree: digest does not match");
  return tree;
}

absl::Status WriteLeafTreeFile(const std::string& path, const LeafTree& tree) {
  std::string tmp = absl::StrCat(path, ".tmp", getpid());
  std::string bytes = LeafTreeToBytes(tree);
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid())
    return absl::InternalError(absl::StrCat("creating ", tmp, ": ", strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("writing ", tmp, ": ", strerror(errno)));
    }
    done += w;
  }
  if (fsync(fd.get()) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("storing ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<LeafTree> ReadLeafTreeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": no leaf tree"));
  std::stringstream ss;
  ss << in.rdbuf();
  return LeafTreeFromBytes(ss.str());
}

std::vector<Extent> MergeRanges(std::vector<Extent> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  std::vector<Extent> out;
  for (const Extent& r : ranges) {
    if (r.length == 0) continue;
    if (!out.empty() && r.offset <= out.back().offset + out.back().length) {
      uint64_t end = std::max(out.back().offset + out.back().length, r.offset + r.length);
      out.back().length = end - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace berth::exportwire
