// The export server on a copy pool in a temp dir, driven by the CLI's transfer engine.
#include "berth/agent/export_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cmd_data_http.h"
#include "cmd_data_incremental.h"
#include "cmd_data_io.h"
#include "cmd_data_transfer.h"

namespace ba = berth::agent;
namespace bc = berth::cli;

namespace {

struct Fixture {
  std::string dir;
  ba::ExportPools pools;
  berth::SimulatedClock clock{absl::FromUnixSeconds(1000)};
  ba::ExportStats stats;                   // the server counts here
  std::atomic<int> transfers[2] = {0, 0};  // stats' hooks, by upload
  std::atomic<int> ends[2] = {0, 0};
  std::unique_ptr<ba::ExportServer> server;

  Fixture() {
    stats.on_transfer = [this](bool upload, double) { ++transfers[upload]; };
    stats.on_export_end = [this](bool upload, double) { ++ends[upload]; };
    char tmpl[] = "/tmp/berth-export-test.XXXXXX";
    dir = mkdtemp(tmpl);
    auto backend = ba::OpenStorageBackend("copy", dir + "/pool");
    REQUIRE(backend.ok());
    pools["p"] = *std::move(backend);
    ba::ExportServerConfig config;
    config.stats = &stats;
    auto s = ba::NewExportServer(config, pools, clock);
    REQUIRE(s.ok());
    server = *std::move(s);
  }
  ~Fixture() {
    server.reset();
    std::system(("rm -rf " + dir).c_str());
  }
  // Creates a sparse volume with random data at the given MiB offsets.
  std::string Volume(const std::string& id, uint64_t size, std::vector<int> at_mib) {
    auto v = pools["p"]->CreateVolume(id, size);
    REQUIRE(v.ok());
    int fd = open(v->path.c_str(), O_WRONLY);
    std::mt19937 rng(42);
    std::vector<char> buf(1 << 20);
    for (int m : at_mib) {
      for (char& c : buf) c = static_cast<char>(rng());
      REQUIRE(pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(m) << 20) == (1 << 20));
    }
    close(fd);
    return v->path;
  }
  bc::ExportEndpoint Endpoint(const ba::ExportState& s) { return {s.url, s.token, s.ca_cert, ""}; }
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("download of a sparse volume is identical and sparse") {
  Fixture f;
  std::string path = f.Volume("v1", 64 << 20, {0, 9, 63});
  ba::ExportSource src{"p", "v1", "", false, false, absl::Minutes(2), ""};
  auto st = f.server->StartExport("e1", src);
  REQUIRE(st.ok());
  auto again = f.server->StartExport("e1", src);
  REQUIRE(again.ok());
  CHECK(again->token == st->token);  // idempotent
  bc::TransferOptions o{f.dir + "/out.img", 2, nullptr, false, "id"};
  auto stats = bc::DownloadExport(f.Endpoint(*st), o, {"e"});
  REQUIRE(stats.ok());
  CHECK(stats->transferred == 3u << 20);
  CHECK(Slurp(o.file) == Slurp(path));
  auto info = f.server->GetExport("e1");
  REQUIRE(info.ok());
  CHECK(info->bytes_served == 3u << 20);
}

TEST_CASE("wrong token is 401, unknown 404, expired and stopped 410") {
  Fixture f;
  f.Volume("v1", 8 << 20, {1});
  ba::ExportSource src{"p", "v1", "", false, false, absl::Seconds(30), ""};
  auto st = f.server->StartExport("e1", src);
  REQUIRE(st.ok());
  bc::TransferOptions o{f.dir + "/out.img", 1, nullptr, false, "id"};
  auto bad = f.Endpoint(*st);
  bad.token[0] = bad.token[0] == 'a' ? 'b' : 'a';
  CHECK(absl::IsPermissionDenied(bc::DownloadExport(bad, o, {}).status()));
  auto unknown = f.Endpoint(*st);
  unknown.url += "x";
  CHECK(absl::IsNotFound(bc::DownloadExport(unknown, o, {}).status()));
  f.clock.Advance(absl::Seconds(31));
  CHECK(absl::IsDeadlineExceeded(bc::DownloadExport(f.Endpoint(*st), o, {}).status()));
  CHECK(f.server->GetExport("e1")->state == "Expired");
  CHECK(f.server->StopExport("e1"));
  CHECK(absl::IsDeadlineExceeded(bc::DownloadExport(f.Endpoint(*st), o, {}).status()));
  CHECK(absl::IsNotFound(f.server->GetExport("e1").status()));
}

TEST_CASE("resume fetches only unfinished chunks") {
  Fixture f;
  std::string path = f.Volume("v1", 32 << 20, {0, 5, 10, 20});
  auto st = f.server->StartExport("e1", {"p", "v1", "", false, false, absl::Minutes(2), ""});
  REQUIRE(st.ok());
  bc::TransferOptions o{f.dir + "/out.img", 1, nullptr, true, "disk-x"};
  // A previous run finished chunks 0 and 1 (MiB 0 and 5) and recorded them.
  {
    auto full = bc::DownloadExport(f.Endpoint(*st), o, {"e"});
    REQUIRE(full.ok());
    std::ofstream side(bc::ProgressFile(o.file));
    side << "berth-progress v1 size=" << (32 << 20) << " export=e disk-x\n0\n1\n";
  }
  uint64_t before = f.server->GetExport("e1")->bytes_served;
  auto resumed = bc::DownloadExport(f.Endpoint(*st), o, {"e"});
  REQUIRE(resumed.ok());
  CHECK(resumed->reused == 2u << 20);
  CHECK(f.server->GetExport("e1")->bytes_served - before == 2u << 20);
  CHECK(Slurp(o.file) == Slurp(path));
  // A corrupted finished chunk is caught by the digest.
  std::ofstream side(bc::ProgressFile(o.file));
  side << "berth-progress v1 size=" << (32 << 20) << " export=e disk-x\n0\n";
  side.close();
  int fd = open(o.file.c_str(), O_WRONLY);
  REQUIRE(pwrite(fd, "X", 1, 100) == 1);
  close(fd);
  auto corrupt = bc::DownloadExport(f.Endpoint(*st), o, {"e"});
  CHECK(absl::IsDataLoss(corrupt.status()));
}

TEST_CASE("upload writes data extents and verifies the digest") {
  Fixture f;
  std::string src_path = f.Volume("src", 16 << 20, {2, 7});
  f.Volume("dst", 32 << 20, {});
  auto st = f.server->StartExport("up", {"p", "dst", "", true, false, absl::Minutes(2), ""});
  REQUIRE(st.ok());
  bc::TransferOptions o{src_path, 2, nullptr, false, ""};
  auto stats = bc::UploadToExport(f.Endpoint(*st), o);
  REQUIRE(stats.ok());
  CHECK(stats->transferred == 2u << 20);
  CHECK(f.server->GetExport("up")->state == "Completed");
  std::string dst = Slurp(f.pools["p"]->GetVolume("dst")->path);
  CHECK(dst.substr(0, 16 << 20) == Slurp(src_path));
  // A file larger than a fixed-size volume is refused (416 -> InvalidArgument).
  f.Volume("tiny", 1 << 20, {});
  auto tiny = f.server->StartExport("up2", {"p", "tiny", "", true, false, absl::Minutes(2), ""});
  REQUIRE(tiny.ok());
  CHECK(absl::IsInvalidArgument(bc::UploadToExport(f.Endpoint(*tiny), o).status()));
}

TEST_CASE("the server counts bytes, responses, active exports and transfers") {
  Fixture f;
  f.Volume("v1", 8 << 20, {1, 5});
  auto st = f.server->StartExport("e1", {"p", "v1", "", false, false, absl::Minutes(2), ""});
  REQUIRE(st.ok());
  CHECK(f.stats.active_downloads == 1);
  CHECK(f.stats.active_uploads == 0);
  bc::TransferOptions o{f.dir + "/out.img", 2, nullptr, false, "id"};
  REQUIRE(bc::DownloadExport(f.Endpoint(*st), o, {"e"}).ok());
  CHECK(f.stats.bytes_served == 2u << 20);
  CHECK(f.stats.responses[200] + f.stats.responses[206] > 0);
  CHECK(f.transfers[0] > 0);
  CHECK(f.stats.responses[401] == 0);
  auto bad = f.Endpoint(*st);
  bad.token[0] = bad.token[0] == 'a' ? 'b' : 'a';
  CHECK(absl::IsPermissionDenied(bc::DownloadExport(bad, o, {}).status()));
  CHECK(f.stats.responses[401] > 0);

  std::string src = f.Volume("src", 4 << 20, {1});
  f.Volume("dst", 8 << 20, {});
  auto up = f.server->StartExport("up", {"p", "dst", "", true, false, absl::Minutes(2), ""});
  REQUIRE(up.ok());
  CHECK(f.stats.active_uploads == 1);
  REQUIRE(bc::UploadToExport(f.Endpoint(*up), {src, 2, nullptr, false, ""}).ok());
  CHECK(f.stats.bytes_received == 1u << 20);
  CHECK(f.stats.responses[204] > 0);
  CHECK(f.transfers[1] > 0);
  CHECK(f.stats.bytes_served == 2u << 20);  // uploads are not downloads

  CHECK(f.server->StopExport("up"));
  CHECK(f.stats.active_uploads == 0);
  CHECK(f.ends[1] == 1);
  f.clock.Advance(absl::Minutes(3));  // the download expires
  CHECK(f.server->GetExport("e1")->state == "Expired");
  CHECK(f.stats.active_downloads == 0);
  CHECK(f.ends[0] == 1);
  CHECK(f.server->StopExport("e1"));
  CHECK(f.ends[0] == 1);  // ended once
  CHECK(f.stats.tls_refused == 0);
}

namespace {

int Certs(const std::string& args) {
  return std::system(
      absl::StrCat("bash ", BERTH_SOURCE_DIR, "/scripts/certs ", args, " 2>/dev/null").c_str());
}

}  // namespace

TEST_CASE("with mutual TLS the export needs a client certificate of the cluster CA") {
  Fixture f;
  std::string certs = f.dir + "/certs", other = f.dir + "/other";
  REQUIRE(Certs("init " + certs) == 0);
  REQUIRE(Certs("agent " + certs + " node-1") == 0);
  REQUIRE(Certs("user " + certs + " alice") == 0);
  REQUIRE(Certs("init " + other) == 0);
  ba::ExportServerConfig config;
  config.mutual_tls = berth::TlsFiles::FromDir(certs + "/agents/node-1");
  config.stats = &f.stats;
  f.server.reset();
  auto s = ba::NewExportServer(config, f.pools, f.clock);
  REQUIRE(s.ok());
  f.server = *std::move(s);
  std::string path = f.Volume("v1", 8 << 20, {1, 6});
  auto st = f.server->StartExport("e1", {"p", "v1", "", false, false, absl::Minutes(2), ""});
  REQUIRE(st.ok());
  CHECK(st->ca_cert == Slurp(certs + "/ca.crt"));  // the client pins the cluster CA
  bc::TransferOptions o{f.dir + "/out.img", 2, nullptr, false, "id"};
  bc::ExportEndpoint ep = f.Endpoint(*st);
  CHECK_FALSE(bc::DownloadExport(ep, o, {}).ok());  // no client certificate
  ep.tls_dir = other + "/admin";                    // a certificate of another CA
  CHECK_FALSE(bc::DownloadExport(ep, o, {}).ok());
  CHECK(f.server->GetExport("e1")->bytes_served == 0);
  // Refused in the handshake (counted once the server's SSL_accept returns).
  for (int i = 0; i < 200 && f.stats.tls_refused < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  CHECK(f.stats.tls_refused == 2);
  ep.tls_dir = certs + "/users/alice";  // any certificate of the cluster CA, plus the token
  auto stats = bc::DownloadExport(ep, o, {"e"});
  REQUIRE(stats.ok());
  CHECK(Slurp(o.file) == Slurp(path));
  ep.tls_dir = certs + "/admin";
  ep.token[0] = ep.token[0] == 'a' ? 'b' : 'a';
  CHECK(absl::IsPermissionDenied(bc::DownloadExport(ep, o, {}).status()));  // still 401
}

TEST_CASE("incremental download and upload by leaf digests (copy pool)") {
  Fixture f;
  constexpr uint64_t M = 1 << 20;
  std::string vol = f.Volume("v", 32 * M, {0, 5, 20});
  REQUIRE(f.pools["p"]->CreateSnapshot("v", "a").ok());
  ba::ExportSource full{"p", "", "a", false, false, absl::Minutes(2), ""};
  auto sa = f.server->StartExport("full-a", full);
  REQUIRE(sa.ok());
  std::string a_img = f.dir + "/a.img", b_img = f.dir + "/b.img";
  REQUIRE(bc::DownloadExport(f.Endpoint(*sa), {a_img, 2, nullptr, false, "a"}, {"x"}).ok());
  CHECK(bc::TrustedTree(a_img).has_value());  // the download left its leaf tree

  // B: 1 MiB rewritten at 5 MiB, the data at 20 MiB punched to zeros, grown to 40 MiB.
  int fd = open(vol.c_str(), O_WRONLY);
  std::vector<char> buf(M, 'x');
  REQUIRE(pwrite(fd, buf.data(), M, 5 * M) == static_cast<ssize_t>(M));
  REQUIRE(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20 * M, M) == 0);
  REQUIRE(ftruncate(fd, 40 * M) == 0);
  close(fd);
  REQUIRE(f.pools["p"]->CreateSnapshot("v", "b").ok());
  std::string want = Slurp(f.pools["p"]->GetSnapshot("b")->path);

  ba::ExportSource inc{"p", "", "b", false, false, absl::Minutes(2), "a"};
  auto sb = f.server->StartExport("inc-b", inc);
  REQUIRE(sb.ok());
  bc::IncrementalOptions o{b_img, a_img, 2, nullptr, nullptr, false, "b since a"};
  auto got = bc::IncrementalDownload(f.Endpoint(*sb), o, "inc-b");
  REQUIRE(got.ok());
  CHECK(got->method == "digest");  // a copy pool shares no extents
  CHECK(got->transfer.transferred == M);
  CHECK(got->changed == 2 * M);  // 1 MiB fetched, 1 MiB zeroed
  CHECK(Slurp(b_img) == want);
  CHECK(Slurp(a_img).size() == 32 * M);  // the base is untouched
  CHECK(bc::TrustedTree(b_img).has_value());

  // A base that was changed after its download is not trusted, and the result is still B.
  fd = open(a_img.c_str(), O_WRONLY);
  REQUIRE(pwrite(fd, "zz", 2, 7 * M) == 2);
  close(fd);
  CHECK(!bc::TrustedTree(a_img).has_value());
  got = bc::IncrementalDownload(f.Endpoint(*sb), o, "inc-b");
  REQUIRE(got.ok());
  CHECK(got->transfer.transferred == M);  // B is zeros where the base was damaged:
  CHECK(got->changed == 2 * M + 65536);   // that leaf is zeroed, not fetched
  CHECK(Slurp(b_img) == want);

  // In place: the base becomes B.
  o.file = a_img;
  REQUIRE(bc::IncrementalDownload(f.Endpoint(*sb), o, "inc-b").ok());
  CHECK(Slurp(a_img) == want);

  // A wrong number of leaf digests is a 400 naming both counts.
  auto session = bc::ExportSession::Create(f.Endpoint(*sb));
  REQUIRE(session.ok());
  bc::ExportSession::Connection conn(**session);
  auto r = conn.Call("POST", "changes", "", std::string(64, 'a'));
  REQUIRE(r.ok());
  CHECK(r->code == 400);
  CHECK(r->body.find("leaf digests") != std::string::npos);

  // Upload into a volume made from A: only the differing leaves travel.
  REQUIRE(f.pools["p"]->CreateVolumeFromSnapshot("u", "a", 40 * M).ok());
  ba::ExportSource up{"p", "u", "", true, false, absl::Minutes(2), "a"};
  auto su = f.server->StartExport("up-u", up);
  REQUIRE(su.ok());
  auto sent = bc::IncrementalUpload(f.Endpoint(*su), {a_img, 2, nullptr, false, ""});
  REQUIRE(sent.ok());
  CHECK(sent->transferred == M);
  CHECK(Slurp(f.pools["p"]->GetVolume("u")->path) == want);

  // A volume larger than the file (--size): the file is compared as padded with zeros.
  REQUIRE(f.pools["p"]->CreateVolumeFromSnapshot("u2", "a", 48 * M + 4096).ok());
  ba::ExportSource up2{"p", "u2", "", true, false, absl::Minutes(2), "a"};
  auto su2 = f.server->StartExport("up-u2", up2);
  REQUIRE(su2.ok());
  sent = bc::IncrementalUpload(f.Endpoint(*su2), {a_img, 2, nullptr, false, ""});
  REQUIRE(sent.ok());
  CHECK(sent->size == 48 * M + 4096);
  CHECK(Slurp(f.pools["p"]->GetVolume("u2")->path) == want + std::string(8 * M + 4096, '\0'));
}
