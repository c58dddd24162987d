#include "export/export_http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/json.h"
#include "berth/log.h"
#include "export/export_changes.h"

namespace berth::agent {
namespace {

namespace ew = exportwire;

constexpr size_t kIoBuffer = 4 << 20;
// ServeData reads and sends this much at a time (a multiple of ew::kDigestLeaf, dividing
// kIoBuffer): small enough to stay in the core's cache between pread and SSL_write.
constexpr size_t kReadStep = 256 << 10;
constexpr uint64_t kMaxJsonBody = 1 << 20;

using Request = ExportRequest;

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Entity";
    default:
      return "Internal Server Error";
  }
}

// Per-connection state: the reusable I/O buffer and whether to keep the connection.
struct Conn {
  ew::HttpConn& http;
  std::vector<char> buf;
  ExportStats* stats = nullptr;  // may be null
  bool keep_alive = true;
};

absl::Status SendHead(Conn& c, int code, const std::string& extra, uint64_t length) {
  if (c.stats != nullptr && code >= 0 && code < static_cast<int>(c.stats->responses.size())) {
    c.stats->responses[code].fetch_add(1, std::memory_order_relaxed);
  }
  std::string head =
      absl::StrCat("HTTP/1.1 ", code, " ", Reason(code), "\r\n", extra, "Content-Length: ", length,
                   "\r\n", c.keep_alive ? "" : "Connection: close\r\n", "\r\n");
  return c.http.WriteAll(head.data(), head.size());
}

absl::Status SendText(Conn& c, int code, const std::string& body,
                      const char* type = "text/plain; charset=utf-8") {
  std::string text = absl::EndsWith(body, "\n") || type[0] != 't' ? body : body + "\n";
  std::string extra = absl::StrCat("Content-Type: ", type, "\r\n");
  if (code == 401) extra += "WWW-Authenticate: Bearer realm=\"berth-export\"\r\n";
  absl::Status st = SendHead(c, code, extra, text.size());
  if (st.ok()) st = c.http.WriteAll(text.data(), text.size());
  if (st.ok()) st = c.http.Flush();
  return st;
}

void Log(const Request& r, int code, const std::string& detail) {
  log::Info(absl::StrCat("export ", r.id, ": ", r.method, " ", r.op, " ", code,
                         detail.empty() ? "" : " ", detail));
}

// Reads and drops an unwanted request body (up to 64 MiB) so the client, still sending it,
// gets the error response instead of a reset; larger bodies close the connection.
void DiscardBody(Conn& c, uint64_t length) {
  constexpr uint64_t kMaxDiscard = 64 << 20;
  if (length > kMaxDiscard) {
    c.keep_alive = false;
    return;
  }
  while (length > 0) {
    size_t n = std::min<uint64_t>(length, c.buf.size());
    if (!c.http.ReadExact(c.buf.data(), n).ok()) {
      c.keep_alive = false;
      return;
    }
    length -= n;
  }
}

absl::Status ServeData(Conn& c, Request& r, ExportRegistry& reg, Admission& a) {
  uint64_t size = a.entry->size;
  ew::ByteRange range{0, size == 0 ? 0 : size - 1};
  std::string range_header = r.head.Header("range");
  int code = 200;
  if (!range_header.empty()) {
    auto parsed = ew::ParseRangeHeader(range_header, size);
    if (absl::IsOutOfRange(parsed.status())) {
      Log(r, 416, range_header);
      return SendText(c, 416, std::string(parsed.status().message()));
    }
    if (!parsed.ok()) return SendText(c, 400, std::string(parsed.status().message()));
    range = *parsed;
    code = 206;
  }
  uint64_t length = size == 0 ? 0 : range.length();
  std::string extra = "Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n";
  if (code == 206)
    absl::StrAppend(&extra, "Content-Range: bytes ", range.first, "-", range.last, "/", size,
                    "\r\n");
  absl::Status st = SendHead(c, code, extra, length);
  if (!st.ok() || r.method == "HEAD") return st.ok() ? c.http.Flush() : st;
  uint64_t pos = range.first, sent = 0;
  // A ranged GET of exactly one whole chunk (what `berth data export download` asks for).
  bool whole_chunk = code == 206 && !a.entry->source.upload && range.first % ew::kChunkSize == 0 &&
                     length == ew::ChunkLength(range.first / ew::kChunkSize, size) &&
                     length <= c.buf.size();
  while (sent < length && st.ok()) {
    // kReadStep at a time, so what pread just wrote is still in this core's cache when
    // SSL_write encrypts it; a whole chunk still ends up in c.buf for the hash below.
    size_t at = sent % c.buf.size();
    size_t want = std::min<uint64_t>({kReadStep, c.buf.size() - at, length - sent});
    ssize_t got = pread(a.image->fd.get(), c.buf.data() + at, want, pos);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      c.keep_alive = false;  // the body is cut short: the client sees a short read
      st = absl::DataLossError(absl::StrCat("reading ", a.image->path, " failed"));
      break;
    }
    st = c.http.WriteAll(c.buf.data() + at, got);
    pos += got;
    sent += got;
    reg.Touch(*a.entry, got, 0);
  }
  if (st.ok()) st = c.http.Flush();
  if (st.ok() && whole_chunk && sent == length && !a.entry->tree_known) {
    // The client is receiving this chunk now; hash it meanwhile so the digest request need not
    // read it again. A snapshot whose leaf tree is stored is not hashed at all.
    uint64_t chunk = range.first / ew::kChunkSize;
    if (!a.entry->tree_file.empty()) {  // a snapshot: its leaves build the tree kept with it
      std::vector<ew::Sha256Bytes> leaves(ew::LeafCount(length));
      ew::ChunkLeafDigests(c.buf.data(), length, leaves.data());
      absl::MutexLock l(&a.entry->served_mu);
      a.entry->served_leaves[chunk] = std::move(leaves);
    } else {
      ew::Sha256Bytes digest = ew::ChunkDigest(c.buf.data(), length);
      absl::MutexLock l(&a.entry->served_mu);
      a.entry->served_chunks[chunk] = digest;
    }
  }
  Log(r, code, absl::StrCat("bytes=", range.first, "-", range.first + length - 1, " sent=", sent));
  return st;
}

// Reads the leaf tree kept in `file` if it describes an image of `size` bytes.
std::optional<ew::LeafTree> StoredTree(const std::string& file, uint64_t size) {
  if (file.empty()) return std::nullopt;
  auto tree = ew::ReadLeafTreeFile(file);
  if (!tree.ok() || tree->size != size) return std::nullopt;
  return *std::move(tree);
}

// Keeps a snapshot's leaf tree with the snapshot (best effort: it is only a cache).
void StoreTree(const std::string& file, const ew::LeafTree& tree) {
  if (file.empty()) return;
  absl::Status st = ew::WriteLeafTreeFile(file, tree);
  if (!st.ok()) log::Warning(absl::StrCat("export: keeping the leaf tree: ", st.message()));
}

// Builds the leaf tree of `fd` (2 threads), reusing the leaves of chunks hashed while served.
absl::StatusOr<ew::LeafTree> BuildTree(ExportEntry& e, int fd, uint64_t size) {
  auto extents = ew::DataExtents(fd, size);
  if (!extents.ok()) return extents.status();
  std::map<uint64_t, std::vector<ew::Sha256Bytes>> served;
  {
    absl::MutexLock served_lock(&e.served_mu);
    served = e.served_leaves;
  }
  std::vector<ew::Extent> unread;
  for (const ew::Extent& x : *extents) {
    for (uint64_t i = x.offset / ew::kChunkSize; i * ew::kChunkSize < x.offset + x.length; ++i) {
      uint64_t a = std::max(x.offset, i * ew::kChunkSize);
      uint64_t b = std::min(x.offset + x.length, (i + 1) * ew::kChunkSize);
      if (served.count(i) == 0) unread.push_back({a, b - a});
    }
  }
  auto tree = ew::FileLeafTree(fd, size, ew::MergeRanges(unread), 2);
  if (!tree.ok()) return tree.status();
  constexpr uint64_t kPerChunk = ew::kChunkSize / ew::kDigestLeaf;
  for (const auto& [i, leaves] : served) {
    for (uint64_t k = 0; k < leaves.size() && i * kPerChunk + k < tree->leaves.size(); ++k) {
      tree->leaves[i * kPerChunk + k] = leaves[k];
    }
  }
  return tree;
}

// The leaf tree of the export's image: kept with a snapshot, derived, or built (and then kept).
// For an upload: the tree of the snapshot the volume was made from until the first write. Points
// into `e.tree` (valid while digest_mu is held), or at `scratch` for an upload's built tree,
// which is not kept since the content may still change: no copy of a tree that may be 32 MiB.
absl::StatusOr<const ew::LeafTree*> ImageTree(ExportEntry& e, const OpenImage& image,
                                              ew::LeafTree& scratch)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.digest_mu) {
  if (e.source.upload && e.written) e.tree.reset();
  if (e.tree) return &*e.tree;
  if (e.source.upload && e.since_image) {
    auto since = StoredTree(e.since_tree_file, e.since_size);
    if (since && since->size == e.size) return &*(e.tree = *std::move(since));
  }
  if (auto stored = StoredTree(e.tree_file, e.size)) {
    e.tree_known = !e.source.upload;
    return &*(e.tree = *std::move(stored));
  }
  auto built = BuildTree(e, image.fd.get(), e.size);
  if (!built.ok()) return built.status();
  if (e.source.upload) return &(scratch = *std::move(built));
  StoreTree(e.tree_file, *built);
  e.tree_known = true;
  return &*(e.tree = *std::move(built));
}

// The leaf tree of the snapshot an incremental export starts from.
absl::StatusOr<ew::LeafTree> SinceTree(ExportEntry& e) {
  if (auto stored = StoredTree(e.since_tree_file, e.since_size)) return *stored;
  auto extents = ew::DataExtents(e.since_image->fd.get(), e.since_size);
  if (!extents.ok()) return extents.status();
  auto built = ew::FileLeafTree(e.since_image->fd.get(), e.since_size, *extents, 2);
  if (built.ok()) StoreTree(e.since_tree_file, *built);
  return built;
}

absl::StatusOr<std::string> ExportDigest(ExportEntry& e, const OpenImage& image) {
  absl::MutexLock l(&e.digest_mu);
  if (e.digest) return *e.digest;
  if (!e.source.upload && !e.tree && !e.tree_file.empty()) {
    // A snapshot's stored tree names its digest in its header: the leaves (32 MiB for 64 GiB)
    // are read only when changes are compared. The client checks the digest against the bytes
    // it received, so a damaged tree file fails the download rather than passing bad data.
    auto header = ew::ReadLeafTreeHeader(e.tree_file);
    if (header.ok() && header->size == e.size) return *(e.digest = header->digest);
  }
  if (!e.source.upload && (e.tree || !e.tree_file.empty())) {
    ew::LeafTree scratch;
    auto tree = ImageTree(e, image, scratch);
    if (!tree.ok()) return tree.status();
    return *(e.digest = (*tree)->Digest());
  }
  auto extents = ew::DataExtents(image.fd.get(), e.size);
  if (!extents.ok()) return extents.status();
  std::map<uint64_t, ew::Sha256Bytes> served;
  {
    absl::MutexLock served_lock(&e.served_mu);
    served = e.served_chunks;
  }
  auto digest = ew::FileDigest(image.fd.get(), e.size, *extents, 2, served);
  if (!digest.ok()) return digest.status();
  if (!e.source.upload) e.digest = *digest;  // an upload's content still changes
  return *digest;
}

absl::Status ServeExtents(Conn& c, Request& r, Admission& a) {
  auto extents = ew::DataExtents(a.image->fd.get(), a.entry->size);
  if (!extents.ok()) return SendText(c, 500, std::string(extents.status().message()));
  Log(r, 200, absl::StrCat("extents=", extents->size()));
  return SendText(c, 200, ew::ExtentsToJson(a.entry->size, *extents), "application/json");
}

absl::Status ServeDigest(Conn& c, Request& r, Admission& a) {
  auto digest = ExportDigest(*a.entry, *a.image);
  if (!digest.ok()) return SendText(c, 500, std::string(digest.status().message()));
  Log(r, 200, "");
  Json body{{"algorithm", ew::kDigestAlgorithm}, {"digest", *digest}, {"size", a.entry->size}};
  return SendText(c, 200, body.dump(), "application/json");
}

absl::Status SendChanges(Conn& c, Request& r, const Changes& changes, const std::string& json) {
  Log(r, 200,
      absl::StrCat("method=", changes.method, " ranges=", changes.data.size(),
                   " bytes=", changes.DataBytes(), " zeros=", changes.zeros.size()));
  return SendText(c, 200, json, "application/json");
}

// GET /changes: by extent maps when the export has a since snapshot of the same volume in a
// reflink or btrfs pool; otherwise {"method":"digest"}, asking the client to POST its leaves.
absl::Status ServeChanges(Conn& c, Request& r, Admission& a) {
  ExportEntry& e = *a.entry;
  if (!e.extent_map) {
    Log(r, 200, "method=digest (leaf digests wanted)");
    return SendText(c, 200, Json{{"method", kMethodDigest}, {"size", e.size}}.dump(),
                    "application/json");
  }
  auto map_a = platform::MapExtents(e.since_image->fd.get(), e.since_image->path);
  auto map_b = map_a.ok() ? platform::MapExtents(a.image->fd.get(), a.image->path)
                          : absl::StatusOr<std::vector<platform::MappedExtent>>(map_a.status());
  if (!map_b.ok()) return SendText(c, 500, std::string(map_b.status().message()));
  Changes changes = CompareExtentMaps(*map_a, e.since_size, *map_b, e.size);
  auto since_tree = SinceTree(e);
  if (!since_tree.ok()) return SendText(c, 500, std::string(since_tree.status().message()));
  {
    // B's tree from A's: only the changed leaves are read. Kept, so the digest is free.
    absl::MutexLock l(&e.digest_mu);
    if (!e.tree) {
      auto stored = StoredTree(e.tree_file, e.size);
      auto derived = stored ? absl::StatusOr<ew::LeafTree>(*std::move(stored))
                            : DeriveLeafTree(*since_tree, changes, a.image->fd.get(), e.size);
      if (!derived.ok()) return SendText(c, 500, std::string(derived.status().message()));
      if (!stored) StoreTree(e.tree_file, *derived);
      e.tree = *std::move(derived);
      e.tree_known = true;
    }
  }
  Json extra{{"baseSize", e.since_size}, {"baseDigest", since_tree->Digest()}};
  return SendChanges(c, r, changes, changes.ToJson(e.size, extra));
}

// POST /changes with the client's leaf digests (32 bytes per 64 KiB leaf of its copy resized to
// this image's size): the leaves that differ.
absl::Status CompareClientLeaves(Conn& c, Request& r, Admission& a) {
  ExportEntry& e = *a.entry;
  uint64_t want = ew::LeafCount(e.size) * sizeof(ew::Sha256Bytes);
  if (r.content_length != want) {
    DiscardBody(c, r.content_length);
    return SendText(c, 400,
                    absl::StrCat("want ", want, " bytes of leaf digests for an image of ", e.size,
                                 " bytes, got ", r.content_length));
  }
  std::vector<ew::Sha256Bytes> leaves(ew::LeafCount(e.size));
  absl::Status st = c.http.ReadExact(reinterpret_cast<char*>(leaves.data()), want);
  if (!st.ok()) return st;
  absl::StatusOr<Changes> changes;
  absl::Status tree_st;
  {
    absl::MutexLock l(&e.digest_mu);
    ew::LeafTree scratch;
    auto tree = ImageTree(e, *a.image, scratch);
    tree_st = tree.status();
    if (tree.ok()) changes = CompareLeaves(**tree, leaves);
  }
  if (!tree_st.ok()) return SendText(c, 500, std::string(tree_st.message()));
  if (!changes.ok()) return SendText(c, 400, std::string(changes.status().message()));
  return SendChanges(c, r, *changes, changes->ToJson(e.size));
}

// POST /zero (uploads): {"ranges":[[offset,length],...]} read as zeros afterwards.
absl::Status ZeroRanges(Conn& c, Request& r, ExportRegistry& reg, Admission& a) {
  if (r.content_length > kMaxJsonBody * 16) return SendText(c, 413, "body too large");
  std::string body(r.content_length, '\0');
  absl::Status st = c.http.ReadExact(body.data(), body.size());
  if (!st.ok()) return st;
  Json j = Json::parse(body, nullptr, false);
  Json ranges = j.is_object() && j.contains("ranges") ? j["ranges"] : Json();
  auto parsed = ew::ExtentsFromJson(Json{{"size", a.entry->size}, {"extents", ranges}}.dump());
  if (!parsed.ok()) return SendText(c, 400, "want {\"ranges\":[[offset,length],...]} in order");
  a.entry->written = true;
  for (const ew::Extent& x : parsed->second) {
    absl::Status st = ew::ZeroRange(a.image->fd.get(), x);
    if (!st.ok()) return SendText(c, 500, std::string(st.message()));
  }
  reg.Touch(*a.entry, 0, 0);
  Log(r, 204, absl::StrCat("ranges=", parsed->second.size()));
  return SendText(c, 204, "");
}

absl::Status ReceiveData(Conn& c, Request& r, ExportRegistry& reg, Admission& a) {
  auto cr = ew::ParseContentRange(r.head.Header("content-range"));
  if (!cr.ok() || cr->range.length() != r.content_length) {
    DiscardBody(c, r.content_length);
    return SendText(c, 400,
                    cr.ok() ? "Content-Range length differs from Content-Length"
                            : std::string(cr.status().message()));
  }
  if (!a.entry->source.resizable && cr->range.last >= a.entry->size) {
    DiscardBody(c, r.content_length);
    Log(r, 416, "beyond the volume");
    return SendText(c, 416,
                    absl::StrCat("the range ends at byte ", cr->range.last, " but the volume has ",
                                 a.entry->size, " bytes"));
  }
  uint64_t pos = cr->range.first, left = r.content_length;
  a.entry->written = true;
  while (left > 0) {
    size_t n = std::min<uint64_t>(left, c.buf.size());
    absl::Status st = c.http.ReadExact(c.buf.data(), n);
    if (!st.ok()) return st;
    size_t done = 0;
    while (done < n) {
      ssize_t w = pwrite(a.image->fd.get(), c.buf.data() + done, n - done, pos + done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        c.keep_alive = false;
        return SendText(c, 500, absl::StrCat("writing the image: ", strerror(errno)));
      }
      done += w;
    }
    pos += n;
    left -= n;
    reg.Touch(*a.entry, 0, n);
  }
  Log(r, 204, absl::StrCat("bytes=", cr->range.first, "-", cr->range.last));
  return SendText(c, 204, "");
}

absl::Status Complete(Conn& c, Request& r, ExportRegistry& reg, Admission& a) {
  if (r.content_length > kMaxJsonBody) return SendText(c, 413, "body too large");
  std::string body(r.content_length, '\0');
  absl::Status st = c.http.ReadExact(body.data(), body.size());
  if (!st.ok()) return st;
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") ||
      !j["size"].is_number_unsigned() || !j.contains("digest") || !j["digest"].is_string()) {
    return SendText(c, 400, "want {\"size\":N,\"digest\":HEX}");
  }
  uint64_t size = j["size"].get<uint64_t>();
  int fd = a.image->fd.get();
  if (a.entry->source.resizable) {
    if (ftruncate(fd, size) != 0) return SendText(c, 500, strerror(errno));
    a.entry->size = size;
  } else if (size > a.entry->size) {
    return SendText(
        c, 416,
        absl::StrCat("upload of ", size, " bytes exceeds the volume (", a.entry->size, " bytes)"));
  }
  auto extents = ew::DataExtents(fd, size);
  auto digest = extents.ok() ? ew::FileDigest(fd, size, *extents, 2)
                             : absl::StatusOr<std::string>(extents.status());
  if (!digest.ok()) return SendText(c, 500, std::string(digest.status().message()));
  if (*digest != j["digest"].get<std::string>()) {
    Log(r, 422, "digest mismatch");
    return SendText(c, 422,
                    absl::StrCat("digest mismatch: the agent read ", *digest, ", the client sent ",
                                 j["digest"].get<std::string>()));
  }
  fsync(fd);
  reg.SetState(*a.entry, "Completed", absl::StrCat("upload of ", size, " bytes verified"));
  Log(r, 200, absl::StrCat("verified size=", size));
  return SendText(c, 200, Json{{"digest", *digest}, {"size", size}}.dump(), "application/json");
}

absl::Status Dispatch(Conn& c, Request& r, ExportRegistry& reg) {
  if (r.id.empty()) return SendText(c, 404, "no such path");
  Admission a = reg.Admit(r.id, r.bearer_token);
  if (a.http_status != 200) {
    DiscardBody(c, r.content_length);
    Log(r, a.http_status, "");
    const char* why = a.http_status == 401   ? "missing or wrong bearer token"
                      : a.http_status == 404 ? "no such export"
                                             : "the export expired or was stopped";
    return SendText(c, a.http_status, why);
  }
  bool upload = a.entry->source.upload, data = r.op == "data";
  // Times a transfer (GET or PUT /data) from admission to its last byte, for /metrics.
  absl::Time start = absl::Now();
  auto timed = [&](bool put, absl::Status st) {
    if (c.stats != nullptr && c.stats->on_transfer) {
      c.stats->on_transfer(put, absl::ToDoubleSeconds(absl::Now() - start));
    }
    return st;
  };
  if (r.method == "GET" && data) return timed(false, ServeData(c, r, reg, a));
  if (r.method == "HEAD" && data) return ServeData(c, r, reg, a);
  if (r.method == "GET" && r.op == "extents") return ServeExtents(c, r, a);
  if (r.method == "GET" && r.op == "digest") return ServeDigest(c, r, a);
  if (r.method == "GET" && r.op == "changes") return ServeChanges(c, r, a);
  if (r.method == "POST" && r.op == "changes" && !(upload && a.entry->state == "Completed")) {
    return CompareClientLeaves(c, r, a);
  }
  if (upload && a.entry->state == "Completed" && r.method != "GET") {
    DiscardBody(c, r.content_length);
    return SendText(c, 409, "the upload is already complete");
  }
  if (upload && r.method == "PUT" && data) return timed(true, ReceiveData(c, r, reg, a));
  if (upload && r.method == "POST" && r.op == "complete") return Complete(c, r, reg, a);
  if (upload && r.method == "POST" && r.op == "zero") return ZeroRanges(c, r, reg, a);
  DiscardBody(c, r.content_length);
  return SendText(c, 405, absl::StrCat(r.method, " ", r.op, " is not allowed on this export"));
}

}  // namespace

void ServeConnection(ew::HttpConn& http, ExportRegistry& registry,
                     const std::atomic<bool>& stopping) {
  Conn c{http, std::vector<char>(kIoBuffer), registry.stats()};
  while (c.keep_alive && !stopping) {
    auto text = http.ReadHead();
    if (!text.ok()) return;
    absl::StatusOr<Request> r = ParseExportRequest(*text);
    if (!r.ok()) {
      c.keep_alive = false;
      SendText(c, 400, "malformed request").IgnoreError();
      return;
    }
    if (r->close) c.keep_alive = false;
    if (!Dispatch(c, *r, registry).ok()) return;
  }
  http.Shutdown();
}

}  // namespace berth::agent
