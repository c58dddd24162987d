// What the agent's export server and the `berth data` CLI share: the HTTP/1.1 head format and
// its Range / Content-Range headers, the sparse extent list (SEEK_DATA/SEEK_HOLE), the
// chunked SHA-256 digest both ends compute, HTTP messages over a net::Stream, and RAII owners for
// OpenSSL handles and fds.
// Linked into the agent and the CLI (library berth_export_wire); see docs/export.md.
#ifndef BERTH_AGENT_EXPORT_WIRE_H_
#define BERTH_AGENT_EXPORT_WIRE_H_

#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/exportwire/sha256_lanes.h"
#include "berth/net/socket.h"
#include "berth/net/stream.h"

namespace berth::exportwire {

// ---- RAII owners (one per C handle) ----
struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using UniqueSsl = net::UniqueSsl;  // one owner type per handle, shared with the listener
using UniqueSslCtx = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using UniqueFd = net::UniqueFd;

// ---- HTTP/1.1 heads ----
struct HttpHead {
  std::string first_line_a;                    // request: method; response: version
  std::string first_line_b;                    // request: target; response: status code
  std::string first_line_c;                    // request: version; response: reason
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Parses a request or response head (everything before the blank line, which is excluded).
absl::StatusOr<HttpHead> ParseHead(const std::string& text);

// A byte range [first, last] (inclusive, like the header).
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
};

// Parses "bytes=A-B", "bytes=A-" or "bytes=-N" against a resource of `size` bytes.
// OutOfRange when unsatisfiable (-> 416); InvalidArgument when malformed or multi-range.
absl::StatusOr<ByteRange> ParseRangeHeader(const std::string& value, uint64_t size);
// Parses "bytes A-B/TOTAL" (TOTAL may be "*", returned as nullopt).
struct ContentRange {
  ByteRange range;
  std::optional<uint64_t> total;
};
absl::StatusOr<ContentRange> ParseContentRange(const std::string& value);

// ---- sparse extents ----
inline constexpr uint64_t kChunkSize = 4ull << 20;
inline constexpr char kDigestAlgorithm[] = "sha256-tree-4MiB-64KiB";
inline constexpr uint64_t kDigestLeaf = 64ull << 10;

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const Extent& o) const { return offset == o.offset && length == o.length; }
};

// Returns the data extents of the first `size` bytes of `fd` (SEEK_DATA/SEEK_HOLE; the whole
// range as one extent where the filesystem cannot tell).
absl::StatusOr<std::vector<Extent>> DataExtents(int fd, uint64_t size);
// Serializes as {"size":N,"extents":[[offset,length],...]} and back.
std::string ExtentsToJson(uint64_t size, const std::vector<Extent>& extents);
absl::StatusOr<std::pair<uint64_t, std::vector<Extent>>> ExtentsFromJson(const std::string& text);
// Returns, for chunk `index`, the parts of `extents` inside it (in order).
std::vector<Extent> ExtentsInChunk(const std::vector<Extent>& extents, uint64_t index,
                                   uint64_t size);
// Returns the indexes of chunks that hold any data.
std::vector<uint64_t> DataChunks(const std::vector<Extent>& extents, uint64_t size);
inline uint64_t ChunkCount(uint64_t size) { return (size + kChunkSize - 1) / kChunkSize; }
inline uint64_t ChunkLength(uint64_t index, uint64_t size) {
  uint64_t start = index * kChunkSize;
  return start + kChunkSize <= size ? kChunkSize : size - start;
}

// ---- digest ----
// The digest of a logical byte stream of `size` bytes: SHA-256 over a header and the digest of
// every 4 MiB chunk, where a chunk's digest is the SHA-256 of the SHA-256s of its 64 KiB leaves.
// The leaves let one chunk be hashed sixteen messages at a time (sha256_lanes.h). Chunks that
// are all holes hash as zeros without being read, so a sparse 64 GiB image costs only its data.
// Any difference in any byte changes it.
Sha256Bytes Sha256(const void* data, size_t length);
// Returns the digest of one chunk of `length` (<= kChunkSize) bytes.
Sha256Bytes ChunkDigest(const void* data, size_t length);
// Returns the digest of a chunk of `length` zero bytes (memoized for a full chunk).
Sha256Bytes ZeroChunkDigest(uint64_t length);
// Combines per-chunk digests (one per chunk, in order) into the hex digest.
std::string CombineChunkDigests(uint64_t size, const std::vector<Sha256Bytes>& chunks);
// Reads the data chunks of `fd` (pread, `threads` in parallel) and returns the hex digest.
// Chunks in `known` (index -> chunk digest, e.g. hashed while they were sent) are not read.
absl::StatusOr<std::string> FileDigest(int fd, uint64_t size, const std::vector<Extent>& extents,
                                       int threads,
                                       const std::map<uint64_t, Sha256Bytes>& known = {});

// ---- leaf trees (incremental export) ----
// The 64 KiB leaf digests of an image, in order: what its digest is made of, kept so that the
// digest of a copy with a few changed leaves costs hashing those leaves only. The agent keeps
// one per snapshot, the CLI one per downloaded file (FILE.berth-tree).
inline uint64_t LeafCount(uint64_t size) { return (size + kDigestLeaf - 1) / kDigestLeaf; }
inline uint64_t LeafLength(uint64_t index, uint64_t size) {
  uint64_t start = index * kDigestLeaf;
  return start + kDigestLeaf <= size ? kDigestLeaf : size - start;
}
// Returns the digest of a leaf of `length` zero bytes (memoized for a full leaf).
Sha256Bytes ZeroLeafDigest(uint64_t length);
// Writes the digests of the leaves of one chunk of `length` (<= kChunkSize) bytes to `out`.
void ChunkLeafDigests(const void* data, size_t length, Sha256Bytes* out);

struct LeafTree {
  uint64_t size = 0;
  std::vector<Sha256Bytes> leaves;  // LeafCount(size) of them
  // The image's digest (the same as FileDigest's), from the leaves alone.
  std::string Digest() const;
  // The digest of chunk `index`.
  Sha256Bytes ChunkDigestAt(uint64_t index) const;
  // Changes the size: leaves past the end are dropped, new ones are zero leaves, and a leaf that
  // changes length is marked by returning its index (its digest must be recomputed), else -1.
  int64_t Resize(uint64_t new_size);
};
// Reads the data chunks of `fd` (`threads` in parallel) and returns its leaf tree; holes are
// zero leaves, not read.
absl::StatusOr<LeafTree> FileLeafTree(int fd, uint64_t size, const std::vector<Extent>& extents,
                                      int threads);
// Recomputes, from `fd`, the leaves of `tree` listed in `leaves` (indexes, any order).
absl::Status RehashLeaves(int fd, const std::vector<uint64_t>& leaves, LeafTree& tree);
// Resizes `tree` to `new_size` and rehashes the leaf that held the old end from `fd`: the bytes
// `fd` has there, zeros past its end (a file shorter than `new_size` counts as zero-padded).
absl::Status ResizeLeafTree(int fd, uint64_t new_size, LeafTree& tree);
// Makes `range` of `fd` read as zeros: a punched hole where the filesystem can, else zeros
// written.
absl::Status ZeroRange(int fd, const Extent& range);
// Reads all `n` bytes at `off` (pread, retried on EINTR and short reads); end of file before
// them is DataLoss.
absl::Status PreadAll(int fd, char* p, uint64_t n, uint64_t off);
// Writes all `n` bytes at `off` (pwrite, retried on EINTR and short writes).
absl::Status PwriteAll(int fd, const char* p, uint64_t n, uint64_t off);
// Returns the indexes of the leaves that overlap any of `ranges` (sorted, unique).
std::vector<uint64_t> LeavesTouching(const std::vector<Extent>& ranges, uint64_t size);
// The stored form: "berth-tree v1 ALGORITHM size=N digest=HEX\n" then 32 bytes per leaf.
std::string LeafTreeToBytes(const LeafTree& tree);
absl::StatusOr<LeafTree> LeafTreeFromBytes(const std::string& bytes);
// Writes `prefix` then `tree` in its stored form to `path` atomically (temporary file, fsync,
// rename). Reading it back checks the prefix (a caller's own identity line), the header and the
// digest; a file that is not such a tree is DataLoss, a missing one NotFound.
absl::Status WriteLeafTreeFile(const std::string& path, const LeafTree& tree,
                               absl::string_view prefix = "");
absl::StatusOr<LeafTree> ReadLeafTreeFile(const std::string& path, absl::string_view prefix = "");
// A stored tree's header alone (no leaves read, nothing verified): its size and its digest.
struct LeafTreeHeader {
  uint64_t size = 0;
  std::string digest;
};
absl::StatusOr<LeafTreeHeader> ReadLeafTreeHeader(const std::string& path);
// Merges sorted ranges that touch or overlap; drops empty ones.
std::vector<Extent> MergeRanges(std::vector<Extent> ranges);

// ---- HTTP connection ----
// HTTP/1.1 messages over one connected net::Stream (for exports: bulk TLS, see
// berth/net/stream.h): buffered head reading, exact body reads, whole writes. Owns the stream.
// Not thread-safe (one user at a time). Errors name the step ("reading the HTTP head: ...",
// "reading the body: ...", "writing: ...", "flushing: ...").
class HttpConn {
 public:
  explicit HttpConn(std::unique_ptr<net::Stream> stream) : stream_(std::move(stream)) {}
  net::Stream& stream() { return *stream_; }
  int fd() const { return stream_->fd(); }
  // Reads up to the blank line; returns the head without it. Unavailable on EOF before any
  // byte (the peer closed a kept-alive connection), DataLoss on a torn or oversized head.
  absl::StatusOr<std::string> ReadHead(size_t max_bytes = 16384);
  // Reads exactly `n` bytes (after any buffered ones).
  absl::Status ReadExact(char* out, size_t n);
  // Writes (bulk TLS: through a 256 KiB buffer): call Flush at the end of each message.
  absl::Status WriteAll(const void* data, size_t n) {
    return stream_->WriteAll(data, n, "writing");
  }
  absl::Status Flush() { return stream_->Flush(); }
  // Sends close_notify (best effort).
  void Shutdown() { stream_->CloseNotify(); }

 private:
  std::unique_ptr<net::Stream> stream_;
  std::string pending_;  // bytes read past the last head
};

// Splits "https://HOST:PORT/PATH" (HOST may be a bracketed IPv6 literal).
struct HttpsUrl {
  std::string host;
  std::string port;
  std::string path;  // begins with '/'
};
absl::StatusOr<HttpsUrl> ParseHttpsUrl(const std::string& url);
// Returns a client context that trusts only the certificates in `ca_pem` (TLS 1.2+, AES-GCM
// preferred) and checks the peer's host name or IP against them.
absl::StatusOr<UniqueSslCtx> NewClientContext(const std::string& ca_pem);
// The options of export streams: bulk TLS (256 KiB buffered writes, read-ahead, blocking), no
// handshake timeout, errors without a prefix. Clients connect with
// net::Dial(host, port, ctx, HttpStreamOptions()) and wrap the stream in an HttpConn.
inline net::StreamOptions HttpStreamOptions() {
  net::StreamOptions o;
  o.bulk = true;
  return o;
}

// Blocks SIGPIPE on this thread (and threads it starts) while alive, so a write to a socket the
// peer closed fails with EPIPE instead of killing the process; on destruction drops a pending
// SIGPIPE and restores the previous mask.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_;
};

// ---- misc ----
// Returns `n` random bytes as lower-case hex (RAND_bytes).
absl::StatusOr<std::string> RandomHex(size_t n);
// Returns whether a and b are equal, in time independent of where they differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);
// Returns the last OpenSSL error as text (and clears the queue).
using net::SslErrorText;

}  // namespace berth::exportwire

#endif  // BERTH_AGENT_EXPORT_WIRE_H_
