// Leaf trees: the 64 KiB leaf digests an image's tree digest is made of, stored so that an
// incremental export recomputes only the leaves that changed (docs/export.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/exportwire/export_wire.h"
#include "berth/status_macros.h"

namespace berth::exportwire {
namespace {

constexpr char kTreeMagic[] = "berth-tree v1 ";
constexpr uint64_t kLeavesPerChunk = kChunkSize / kDigestLeaf;

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
      if (!PreadAll(fd, buf.data(), len, i * kChunkSize).ok()) {
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
    absl::Status st = PreadAll(fd, buf.data(), len, i * kDigestLeaf);
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

absl::Status PreadAll(int fd, char* p, uint64_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return absl::InternalError(absl::StrCat("reading at byte ", off, ": ", strerror(errno)));
    if (r == 0) return absl::DataLossError(absl::StrCat("short read at byte ", off));
    p += r, n -= r, off += r;
  }
  return absl::OkStatus();
}

absl::Status PwriteAll(int fd, const char* p, uint64_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return absl::InternalError(absl::StrCat("writing: ", strerror(errno)));
    p += w, n -= w, off += w;
  }
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

namespace {

// "berth-tree v1 ALGORITHM size=N digest=HEX\n": what precedes the leaves in the stored form.
std::string TreeHeader(const LeafTree& tree) {
  return absl::StrCat(kTreeMagic, kDigestAlgorithm, " size=", tree.size, " digest=", tree.Digest(),
                      "\n");
}

// Parses a header line (without its newline): the tree's size and the digest it claims.
absl::Status ParseTreeHeader(absl::string_view line, uint64_t* size, std::string* digest) {
  if (!absl::StartsWith(line, kTreeMagic)) return absl::DataLossError("not a berth leaf tree");
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
  if (words.size() < 5 || words[2] != kDigestAlgorithm) {
    return absl::DataLossError("leaf tree of another algorithm");
  }
  bool sized = false;
  for (absl::string_view w : words) {
    if (absl::ConsumePrefix(&w, "size=")) sized = absl::SimpleAtoi(w, size);
    if (absl::ConsumePrefix(&w, "digest=")) *digest = std::string(w);
  }
  if (!sized) return absl::DataLossError("leaf tree: no size");
  return absl::OkStatus();
}

// A tree whose leaves are in place: checks them against the digest its header claimed.
absl::StatusOr<LeafTree> Verified(LeafTree tree, const std::string& digest) {
  if (tree.Digest() != digest) return absl::DataLossError("leaf tree: digest does not match");
  return tree;
}

}  // namespace

std::string LeafTreeToBytes(const LeafTree& tree) {
  std::string out = TreeHeader(tree);
  out.append(reinterpret_cast<const char*>(tree.leaves.data()),
             tree.leaves.size() * sizeof(Sha256Bytes));
  return out;
}

absl::StatusOr<LeafTree> LeafTreeFromBytes(const std::string& bytes) {
  size_t nl = bytes.find('\n');
  if (nl == std::string::npos) return absl::DataLossError("not a berth leaf tree");
  LeafTree tree;
  std::string digest;
  BERTH_RETURN_IF_ERROR(
      ParseTreeHeader(absl::string_view(bytes).substr(0, nl), &tree.size, &digest));
  if (bytes.size() - nl - 1 != LeafCount(tree.size) * sizeof(Sha256Bytes)) {
    return absl::DataLossError("leaf tree: size and leaves disagree");
  }
  tree.leaves.resize(LeafCount(tree.size));
  if (!tree.leaves.empty()) {
    memcpy(tree.leaves.data(), bytes.data() + nl + 1, tree.leaves.size() * sizeof(Sha256Bytes));
  }
  return Verified(std::move(tree), digest);
}

// The leaves go from the tree's own vector to the file and back: a 64 GiB image's tree is 32 MiB,
// and every extra copy of that is memory the kernel has to fault in (0.1 s a copy on the
// development VM), which made a sparse export slower than its data.
absl::Status WriteLeafTreeFile(const std::string& path, const LeafTree& tree,
                               absl::string_view prefix) {
  std::string tmp = absl::StrCat(path, ".tmp", getpid());
  std::string head = absl::StrCat(prefix, TreeHeader(tree));
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid())
    return absl::InternalError(absl::StrCat("creating ", tmp, ": ", strerror(errno)));
  absl::Status st = PwriteAll(fd.get(), head.data(), head.size(), 0);
  if (st.ok()) {
    st = PwriteAll(fd.get(), reinterpret_cast<const char*>(tree.leaves.data()),
                   tree.leaves.size() * sizeof(Sha256Bytes), head.size());
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(tmp, ": ", st.message()));
  }
  if (fsync(fd.get()) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("storing ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

namespace {

// A stored tree file opened and its header read: the leaves start at `leaves_at`.
struct TreeFileHead {
  UniqueFd fd;
  LeafTreeHeader header;
  uint64_t leaves_at = 0;
};

absl::StatusOr<TreeFileHead> OpenTreeFile(const std::string& path, absl::string_view prefix) {
  TreeFileHead t;
  t.fd = UniqueFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!t.fd.valid() || fstat(t.fd.get(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": no leaf tree"));
  }
  // The header is one short line after the prefix.
  std::string head(std::min<uint64_t>(st.st_size, prefix.size() + 512), '\0');
  BERTH_RETURN_IF_ERROR(PreadAll(t.fd.get(), head.data(), head.size(), 0));
  if (!absl::StartsWith(head, prefix)) return absl::DataLossError("leaf tree of another file");
  size_t nl = head.find('\n', prefix.size());
  if (nl == std::string::npos) return absl::DataLossError("not a berth leaf tree");
  BERTH_RETURN_IF_ERROR(
      ParseTreeHeader(absl::string_view(head).substr(prefix.size(), nl - prefix.size()),
                      &t.header.size, &t.header.digest));
  t.leaves_at = nl + 1;
  if (static_cast<uint64_t>(st.st_size) !=
      t.leaves_at + LeafCount(t.header.size) * sizeof(Sha256Bytes)) {
    return absl::DataLossError("leaf tree: size and leaves disagree");
  }
  return t;
}

}  // namespace

absl::StatusOr<LeafTreeHeader> ReadLeafTreeHeader(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(TreeFileHead t, OpenTreeFile(path, ""));
  return std::move(t.header);
}

absl::StatusOr<LeafTree> ReadLeafTreeFile(const std::string& path, absl::string_view prefix) {
  BERTH_ASSIGN_OR_RETURN(TreeFileHead t, OpenTreeFile(path, prefix));
  LeafTree tree;
  tree.size = t.header.size;
  tree.leaves.resize(LeafCount(tree.size));
  BERTH_RETURN_IF_ERROR(PreadAll(t.fd.get(), reinterpret_cast<char*>(tree.leaves.data()),
                                 tree.leaves.size() * sizeof(Sha256Bytes), t.leaves_at));
  return Verified(std::move(tree), t.header.digest);
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
