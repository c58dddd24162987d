// GET .../dataexports/NAME/data: who may read an export's bytes, and what a request that cannot
// be served is told. The relay itself (bytes, Range, a browser's download) runs against a real
// agent in tests/browser/console_test.mjs.
#include <catch2/catch.hpp>

#include "api_fixture.h"
#include "berth/json.h"

namespace berth::kubeapi::testing {
namespace {

constexpr char kDex[] = "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/p/dataexports";

HttpRequest WithJson(HttpRequest r, const Json& body) {
  r.headers.emplace("content-type", "application/json");
  r.body = body.dump();
  return r;
}

HttpRequest WithQuery(HttpRequest r, const std::string& key, const std::string& value) {
  r.query[key] = value;
  r.target += "?" + key + "=" + value;
  return r;
}

// A DataExport "dx" of disk "d"; with `url`, its status says Ready there with token "secret".
void MakeExport(ApiFixture& f, const std::string& url) {
  Json dex = {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "DataExport"},
              {"metadata", {{"name", "dx"}, {"namespace", "p"}}},
              {"spec", {{"targetRef", {{"kind", "VirtualDisk"}, {"name", "d"}}}}}};
  HttpResponse created = f.Send(WithJson(AsAdmin("POST", kDex), dex));
  REQUIRE(created.code == 201);
  if (url.empty()) return;
  Json live = Json::parse(created.body);
  live["status"] = {{"phase", "Ready"}, {"url", url}, {"token", "secret"}, {"caCert", ""}};
  HttpResponse st = f.Send(WithJson(AsAdmin("PUT", std::string(kDex) + "/dx/status"), live));
  REQUIRE(st.code == 200);
}

std::string MessageOf(const HttpResponse& r) { return Json::parse(r.body).value("message", ""); }

TEST_CASE("export data: an export that is not Ready says so") {
  ApiFixture f;
  MakeExport(f, "");
  HttpResponse r = f.Send(AsAdmin("GET", std::string(kDex) + "/dx/data"));
  CHECK(r.code == 409);
  CHECK_THAT(MessageOf(r), Catch::Contains("DataExport \"dx\" is not ready yet"));
}

TEST_CASE("export data: the export's token in the query stands in for credentials") {
  ApiFixture f;
  MakeExport(f, "https://127.0.0.1:1/exports/x");
  HttpResponse wrong =
      f.Send(WithQuery(Anonymous("GET", std::string(kDex) + "/dx/data"), "token", "guess"));
  CHECK(wrong.code == 401);
  CHECK_THAT(MessageOf(wrong), Catch::Contains("export token does not match"));
  // An unknown export answers the same, so a token cannot probe for names.
  HttpResponse unknown =
      f.Send(WithQuery(Anonymous("GET", std::string(kDex) + "/nope/data"), "token", "secret"));
  CHECK(unknown.code == 401);
  CHECK(MessageOf(unknown) == MessageOf(wrong));
  // The right token gets past authentication to the relay (which finds no usable CA here).
  HttpResponse right =
      f.Send(WithQuery(Anonymous("GET", std::string(kDex) + "/dx/data"), "token", "secret"));
  CHECK(right.code == 503);
  CHECK_THAT(MessageOf(right), Catch::Contains("status.caCert"));
  // Without a token or credentials: 401.
  CHECK(f.Send(Anonymous("GET", std::string(kDex) + "/dx/data")).code == 401);
}

TEST_CASE("export data: callers need get on dataexports of the namespace; only GET") {
  ApiFixture f;
  MakeExport(f, "https://127.0.0.1:1/exports/x");
  HttpResponse denied = f.Send(As("mallory", {}, "GET", std::string(kDex) + "/dx/data"));
  CHECK(denied.code == 403);
  CHECK_THAT(MessageOf(denied), Catch::Contains("mallory"));
  CHECK(f.Send(AsAdmin("PUT", std::string(kDex) + "/dx/data")).code == 404);
  // Other kinds have no data subresource.
  CHECK(
      f.Send(AsAdmin("GET",
                     "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/p/virtualdisks/d/data"))
          .code == 404);
}

}  // namespace
}  // namespace berth::kubeapi::testing

namespace berth::kubeapi::testing {
namespace {

constexpr char kVd[] = "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/p/virtualdisks";

TEST_CASE("upload: only while WaitForUserUpload, only with update rights, PUT needs a range") {
  ApiFixture f;
  Json vd = {
      {"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
      {"kind", "VirtualDisk"},
      {"metadata", {{"name", "up"}, {"namespace", "p"}}},
      {"spec",
       {{"dataSource", {{"type", "Upload"}}}, {"persistentVolumeClaim", {{"size", "1Mi"}}}}}};
  REQUIRE(f.Send(WithJson(AsAdmin("POST", kVd), vd)).code == 201);
  HttpRequest put = AsAdmin("PUT", std::string(kVd) + "/up/upload");
  put.headers.emplace("content-range", "bytes 0-3/4");
  put.body = "abcd";
  HttpResponse early = f.Send(put);
  CHECK(early.code == 409);
  CHECK_THAT(MessageOf(early), Catch::Contains("only while it is WaitForUserUpload"));

  Json live = Json::parse(f.Send(AsAdmin("GET", std::string(kVd) + "/up")).body);
  live["status"] = {{"phase", "WaitForUserUpload"},
                    {"upload", {{"url", "https://127.0.0.1:1/exports/x"}, {"token", "t"}}}};
  REQUIRE(f.Send(WithJson(AsAdmin("PUT", std::string(kVd) + "/up/status"), live)).code == 200);
  HttpRequest no_range = AsAdmin("PUT", std::string(kVd) + "/up/upload");
  no_range.body = "abcd";
  HttpResponse bad = f.Send(no_range);
  CHECK(bad.code == 400);
  CHECK_THAT(MessageOf(bad), Catch::Contains("Content-Range"));
  HttpRequest theirs = As("mallory", {}, "PUT", std::string(kVd) + "/up/upload");
  theirs.headers.emplace("content-range", "bytes 0-3/4");
  CHECK(f.Send(theirs).code == 403);
  CHECK(f.Send(AsAdmin("GET", std::string(kVd) + "/up/upload")).code == 404);
}

}  // namespace
}  // namespace berth::kubeapi::testing
