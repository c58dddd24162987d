// Incremental export's pure parts: leaf trees (wire), extent-map and leaf comparison (agent).
#include "export/export_changes.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

namespace ba = berth::agent;
namespace ew = berth::exportwire;
using Map = std::vector<berth::agent::platform::MappedExtent>;

namespace {

// A temporary file holding `bytes`; removed on destruction.
struct TempImage {
  std::string path;
  int fd = -1;
  explicit TempImage(const std::string& bytes) {
    char name[] = "/tmp/berth-changes-XXXXXX";
    fd = mkstemp(name);
    path = name;
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  ~TempImage() {
    close(fd);
    unlink(path.c_str());
  }
};

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Digest(int fd, uint64_t size) {
  auto extents = ew::DataExtents(fd, size);
  REQUIRE(extents.ok());
  auto d = ew::FileDigest(fd, size, *extents, 1);
  REQUIRE(d.ok());
  return *d;
}

}  // namespace

TEST_CASE("A leaf tree gives the file digest and survives storing") {
  std::string bytes = RandomBytes((9 << 20) + 100, 1);  // a partial chunk and a partial leaf
  TempImage img(bytes);
  auto extents = ew::DataExtents(img.fd, bytes.size());
  REQUIRE(extents.ok());
  auto tree = ew::FileLeafTree(img.fd, bytes.size(), *extents, 2);
  REQUIRE(tree.ok());
  CHECK(tree->leaves.size() == ew::LeafCount(bytes.size()));
  CHECK(tree->Digest() == Digest(img.fd, bytes.size()));
  auto back = ew::LeafTreeFromBytes(ew::LeafTreeToBytes(*tree));
  REQUIRE(back.ok());
  CHECK(back->Digest() == tree->Digest());
  std::string damaged = ew::LeafTreeToBytes(*tree);
  damaged[damaged.size() - 1] ^= 1;
  CHECK(!ew::LeafTreeFromBytes(damaged).ok());
  CHECK(!ew::LeafTreeFromBytes("berth-tree v1 other-alg size=1 digest=x\n").ok());
}

TEST_CASE("A leaf tree file keeps its caller's prefix, and its header alone gives the digest") {
  std::string bytes = RandomBytes((5 << 20) + 7, 3);
  TempImage img(bytes);
  auto extents = ew::DataExtents(img.fd, bytes.size());
  REQUIRE(extents.ok());
  auto tree = ew::FileLeafTree(img.fd, bytes.size(), *extents, 1);
  REQUIRE(tree.ok());
  std::string path = img.path + ".tree";
  REQUIRE(ew::WriteLeafTreeFile(path, *tree, "who=me\n").ok());
  auto back = ew::ReadLeafTreeFile(path, "who=me\n");
  REQUIRE(back.ok());
  CHECK(back->size == tree->size);
  CHECK(back->leaves == tree->leaves);
  CHECK(ew::ReadLeafTreeFile(path, "who=you\n").status().code() == absl::StatusCode::kDataLoss);
  CHECK(ew::ReadLeafTreeFile(path + ".none").status().code() == absl::StatusCode::kNotFound);

  REQUIRE(ew::WriteLeafTreeFile(path, *tree).ok());
  auto header = ew::ReadLeafTreeHeader(path);
  REQUIRE(header.ok());
  CHECK(header->size == bytes.size());
  CHECK(header->digest == Digest(img.fd, bytes.size()));
  // A leaf flipped: the header still reads, the whole tree does not; cut short: neither does.
  int fd = open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  off_t end = lseek(fd, 0, SEEK_END);
  char c = 0;
  REQUIRE(pread(fd, &c, 1, end - 1) == 1);
  c ^= 1;
  REQUIRE(pwrite(fd, &c, 1, end - 1) == 1);
  CHECK(ew::ReadLeafTreeHeader(path).ok());
  CHECK(ew::ReadLeafTreeFile(path).status().code() == absl::StatusCode::kDataLoss);
  REQUIRE(ftruncate(fd, end - 1) == 0);
  close(fd);
  CHECK(!ew::ReadLeafTreeHeader(path).ok());
  CHECK(!ew::ReadLeafTreeFile(path).ok());
  unlink(path.c_str());
}

TEST_CASE("A leaf tree of an image with holes and zero data gives the file digest") {
  // Chunk 0 data, chunk 1 a hole, chunk 2 written zeros, chunk 3 a hole ending in a partial leaf.
  const uint64_t chunk = ew::kChunkSize, size = 3 * chunk + (1 << 20) + 100;
  TempImage img(RandomBytes(chunk, 2));
  std::string zeros(chunk, '\0');
  REQUIRE(pwrite(img.fd, zeros.data(), zeros.size(), 2 * chunk) == static_cast<ssize_t>(chunk));
  REQUIRE(ftruncate(img.fd, size) == 0);
  auto extents = ew::DataExtents(img.fd, size);
  REQUIRE(extents.ok());
  auto tree = ew::FileLeafTree(img.fd, size, *extents, 2);
  REQUIRE(tree.ok());
  CHECK(tree->ChunkDigestAt(1) == ew::ZeroChunkDigest(chunk));
  CHECK(tree->ChunkDigestAt(2) == ew::ZeroChunkDigest(chunk));
  CHECK(tree->ChunkDigestAt(3) == ew::ZeroChunkDigest(size - 3 * chunk));
  CHECK(tree->Digest() == Digest(img.fd, size));
}

TEST_CASE("Changing a few leaves and the size needs only those leaves rehashed") {
  std::string bytes = RandomBytes(6 << 20, 2);
  TempImage img(bytes);
  auto tree = ew::FileLeafTree(img.fd, bytes.size(), {{0, bytes.size()}}, 1);
  REQUIRE(tree.ok());
  // Overwrite 10 bytes inside leaf 5 and grow the file by 100 KiB + 7 (leaf boundary moves).
  std::string patch(10, 'x');
  REQUIRE(pwrite(img.fd, patch.data(), patch.size(), 5 * ew::kDigestLeaf + 3) == 10);
  uint64_t grown = bytes.size() + (100 << 10) + 7;
  REQUIRE(ftruncate(img.fd, grown) == 0);
  int64_t boundary = tree->Resize(grown);
  CHECK(boundary == -1);  // the old end was on a leaf boundary
  std::vector<uint64_t> leaves = ew::LeavesTouching({{5 * ew::kDigestLeaf + 3, 10}}, grown);
  CHECK(leaves == std::vector<uint64_t>{5});
  REQUIRE(ew::RehashLeaves(img.fd, leaves, *tree).ok());
  CHECK(tree->Digest() == Digest(img.fd, grown));
  // Shrink to the middle of a leaf: that leaf is reported for rehashing.
  uint64_t shrunk = 3 * ew::kDigestLeaf + 1000;
  REQUIRE(ftruncate(img.fd, shrunk) == 0);
  boundary = tree->Resize(shrunk);
  CHECK(boundary == 3);
  REQUIRE(ew::RehashLeaves(img.fd, {3}, *tree).ok());
  CHECK(tree->Digest() == Digest(img.fd, shrunk));
}

TEST_CASE("Extent maps: shared blocks are unchanged, the rest is data or zeros") {
  constexpr uint64_t M = 1 << 20;
  // A: data 0-4 MiB at physical 100 MiB; B shares 0-1 and 2-4, rewrote 1-2 elsewhere.
  Map a = {{0, 100 * M, 4 * M, 0}};
  Map b = {{0, 100 * M, M, 0}, {M, 500 * M, M, 0}, {2 * M, 102 * M, 2 * M, FIEMAP_EXTENT_LAST}};
  ba::Changes c = ba::CompareExtentMaps(a, 4 * M, b, 4 * M);
  CHECK(c.method == "extent-map");
  REQUIRE(c.data.size() == 1);
  CHECK(c.data[0] == ew::Extent{M, M});
  CHECK(c.zeros.empty());
  CHECK(c.DataBytes() == M);

  // B punched a hole at 3-4 MiB (A had data) and grew to 6 MiB with data at 5-6 only.
  b = {{0, 100 * M, 3 * M, 0}, {5 * M, 700 * M, M, 0}};
  c = ba::CompareExtentMaps(a, 4 * M, b, 6 * M);
  REQUIRE(c.zeros.size() == 1);
  CHECK(c.zeros[0] == ew::Extent{3 * M, M});
  REQUIRE(c.data.size() == 1);
  CHECK(c.data[0] == ew::Extent{5 * M, M});

  // Same physical block but at another file offset is not "the same data".
  b = {{0, 101 * M, 4 * M, 0}};
  c = ba::CompareExtentMaps(a, 4 * M, b, 4 * M);
  CHECK(c.DataBytes() == 4 * M);

  // Encoded (compressed) extents are never trusted; unwritten ones read as zeros.
  b = {{0, 100 * M, 4 * M, FIEMAP_EXTENT_ENCODED}};
  CHECK(ba::CompareExtentMaps(a, 4 * M, b, 4 * M).DataBytes() == 4 * M);
  Map ua = {{0, 100 * M, 4 * M, FIEMAP_EXTENT_UNWRITTEN}};
  Map ub = {{0, 300 * M, 4 * M, FIEMAP_EXTENT_UNWRITTEN}};
  c = ba::CompareExtentMaps(ua, 4 * M, ub, 4 * M);
  CHECK(c.data.empty());
  CHECK(c.zeros.empty());

  // Identical maps, B shrunk: nothing to fetch (the client truncates).
  c = ba::CompareExtentMaps(a, 4 * M, a, 2 * M);
  CHECK(c.data.empty());
  CHECK(c.zeros.empty());
}

TEST_CASE("Leaf comparison lists differing leaves, zero leaves as zeros") {
  std::string bytes = RandomBytes(4 * ew::kDigestLeaf + 10, 3);
  TempImage b_img(bytes);
  auto b = ew::FileLeafTree(b_img.fd, bytes.size(), {{0, bytes.size()}}, 1);
  REQUIRE(b.ok());
  std::vector<ew::Sha256Bytes> base = b->leaves;
  base[1][0] ^= 1;  // the client's leaf 1 differs
  base[4][0] ^= 1;  // and its short last leaf
  auto c = ba::CompareLeaves(*b, base);
  REQUIRE(c.ok());
  REQUIRE(c->data.size() == 2);
  CHECK(c->data[0] == ew::Extent{ew::kDigestLeaf, ew::kDigestLeaf});
  CHECK(c->data[1] == ew::Extent{4 * ew::kDigestLeaf, 10});
  // B's leaf 2 all zeros: listed as zeros, not data.
  b->leaves[2] = ew::ZeroLeafDigest(ew::kDigestLeaf);
  c = ba::CompareLeaves(*b, base);
  REQUIRE(c.ok());
  REQUIRE(c->zeros.size() == 1);
  CHECK(c->zeros[0] == ew::Extent{2 * ew::kDigestLeaf, ew::kDigestLeaf});
  base.pop_back();
  CHECK(absl::IsInvalidArgument(ba::CompareLeaves(*b, base).status()));
}
