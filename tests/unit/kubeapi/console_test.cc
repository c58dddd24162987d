// The web console on the Kubernetes API port: which requests it answers, its caching and
// security headers, conditional requests, and that it needs no credentials.
#include "kubeapi/console.h"

#include <catch2/catch.hpp>

#include "api_fixture.h"
#include "berth/console_assets.h"

namespace berth::kubeapi {
namespace {

using testing::Anonymous;
using testing::ApiFixture;
using testing::AsAdmin;
using testing::HeaderOf;

const std::vector<console::Asset>& Fixture() {
  static const auto* assets = new std::vector<console::Asset>{
      {"/", "text/html; charset=utf-8", "\"aaaa\"", false, "<!doctype html><p>hi</p>"},
      {"/console/main-ABCD1234.js", "text/javascript; charset=utf-8", "\"bbbb\"", true,
       "console.log(\")\\\"\")"},
      {"/console/robots.txt", "text/plain; charset=utf-8", "\"cccc\"", false, "no"},
  };
  return *assets;
}

HttpRequest Browser(const std::string& method, const std::string& path) {
  HttpRequest r = Anonymous(method, path);
  r.headers.emplace("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
  return r;
}

void CheckSecurityHeaders(const HttpResponse& r) {
  CHECK(HeaderOf(r, "Content-Security-Policy") ==
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'");
  CHECK(HeaderOf(r, "X-Content-Type-Options") == "nosniff");
  CHECK(HeaderOf(r, "Referrer-Policy") == "no-referrer");
  CHECK(HeaderOf(r, "X-Frame-Options") == "DENY");
}

TEST_CASE("a browser asking for / gets index.html, revalidated on every load") {
  Console c(Fixture());
  auto r = c.Serve(Browser("GET", "/"));
  REQUIRE(r);
  CHECK(r->code == 200);
  CHECK(r->content_type == "text/html; charset=utf-8");
  CHECK(r->body == "<!doctype html><p>hi</p>");
  CHECK(HeaderOf(*r, "Cache-Control") == "no-cache");
  CHECK(HeaderOf(*r, "ETag") == "\"aaaa\"");
  CHECK(HeaderOf(*r, "Vary") == "Accept");
  CheckSecurityHeaders(*r);
  auto head = c.Serve(Browser("HEAD", "/"));
  REQUIRE(head);
  CHECK(head->code == 200);
}

TEST_CASE("/ without text/html in Accept is left to the API") {
  Console c(Fixture());
  CHECK_FALSE(c.Serve(Anonymous("GET", "/")));
  HttpRequest json = Anonymous("GET", "/");
  json.headers.emplace("accept", "application/json, */*");
  CHECK_FALSE(c.Serve(json));
  CHECK_FALSE(c.Serve(Browser("GET", "/api")));
  CHECK_FALSE(c.Serve(Browser("GET", "/consoles")));
}

TEST_CASE("hashed assets are immutable, others revalidated") {
  Console c(Fixture());
  auto js = c.Serve(Anonymous("GET", "/console/main-ABCD1234.js"));
  REQUIRE(js);
  CHECK(js->code == 200);
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  CHECK(js->body == "console.log(\")\\\"\")");
  CHECK(HeaderOf(*js, "Cache-Control") == "public, max-age=31536000, immutable");
  CHECK(HeaderOf(*js, "ETag") == "\"bbbb\"");
  CHECK(HeaderOf(*js, "Vary").empty());
  CheckSecurityHeaders(*js);
  auto txt = c.Serve(Anonymous("GET", "/console/robots.txt"));
  REQUIRE(txt);
  CHECK(HeaderOf(*txt, "Cache-Control") == "no-cache");
}

TEST_CASE("If-None-Match naming the ETag is answered 304 without a body") {
  Console c(Fixture());
  for (const char* inm : {"\"bbbb\"", "W/\"bbbb\"", "\"zzzz\", \"bbbb\"", "*"}) {
    HttpRequest req = Anonymous("GET", "/console/main-ABCD1234.js");
    req.headers.emplace("if-none-match", inm);
    auto r = c.Serve(req);
    REQUIRE(r);
    INFO(inm);
    CHECK(r->code == 304);
    CHECK(r->body.empty());
    CHECK(HeaderOf(*r, "ETag") == "\"bbbb\"");
    CHECK(HeaderOf(*r, "Cache-Control") == "public, max-age=31536000, immutable");
  }
  HttpRequest stale = Anonymous("GET", "/console/main-ABCD1234.js");
  stale.headers.emplace("if-none-match", "\"aaaa\"");
  auto r = c.Serve(stale);
  REQUIRE(r);
  CHECK(r->code == 200);
  CHECK_FALSE(r->body.empty());
}

TEST_CASE("an unknown file under /console/ is 404, a write 405") {
  Console c(Fixture());
  for (const char* path : {"/console/main-XXXXXXXX.js", "/console/", "/console/../index.html"}) {
    auto r = c.Serve(Anonymous("GET", path));
    REQUIRE(r);
    INFO(path);
    CHECK(r->code == 404);
    CHECK(Json::parse(r->body)["reason"] == "NotFound");
    CheckSecurityHeaders(*r);
  }
  auto r = c.Serve(Anonymous("POST", "/console/main-ABCD1234.js"));
  REQUIRE(r);
  CHECK(r->code == 405);
  CHECK(HeaderOf(*r, "Allow") == "GET, HEAD");
}

TEST_CASE("the built console is embedded: index.html at / naming hashed assets") {
  const std::vector<console::Asset>& assets = console::Assets();
  const console::Asset* index = nullptr;
  int immutable = 0;
  for (const console::Asset& a : assets) {
    if (a.path == "/") index = &a;
    if (a.immutable) immutable++;
    CHECK(a.etag.size() == 66);  // a quoted SHA-256
  }
  REQUIRE(index != nullptr);
  CHECK(index->content_type == "text/html; charset=utf-8");
  CHECK(immutable >= 2);  // main-<hash>.js, console-<hash>.css
  for (const console::Asset& a : assets) {
    if (a.immutable) CHECK(index->body.find(a.path) != std::string_view::npos);
  }
}

TEST_CASE("the API serves the console to anyone; / stays the API's for API clients") {
  ApiFixture f;
  HttpResponse index = f.Send(Browser("GET", "/"));
  CHECK(index.code == 200);
  CHECK(index.content_type == "text/html; charset=utf-8");
  CheckSecurityHeaders(index);
  for (const console::Asset& a : console::Assets()) {
    if (!a.immutable) continue;
    HttpResponse r = f.Send(Anonymous("GET", std::string(a.path)));
    CHECK(r.code == 200);
    CHECK(r.body == a.body);
    CHECK(HeaderOf(r, "Cache-Control") == "public, max-age=31536000, immutable");
  }
  CHECK(f.Send(Anonymous("GET", "/console/nothing.js")).code == 404);

  CHECK(f.Send(Anonymous("GET", "/")).code == 401);  // the API needs credentials
  HttpResponse paths = f.Send(AsAdmin("GET", "/"));
  CHECK(paths.code == 200);
  CHECK(HeaderOf(paths, "Vary") == "Accept");
  Json p = Json::parse(paths.body)["paths"];
  CHECK(std::find(p.begin(), p.end(), "/api/v1") != p.end());
  CHECK(std::find(p.begin(), p.end(), "/apis/authentication.k8s.io/v1") != p.end());
}

TEST_CASE("EtagMatches compares weakly and reads lists") {
  CHECK(EtagMatches("\"a\"", "\"a\""));
  CHECK(EtagMatches(" W/\"a\" ", "\"a\""));
  CHECK(EtagMatches("\"b\",\"a\"", "\"a\""));
  CHECK_FALSE(EtagMatches("\"b\"", "\"a\""));
  CHECK_FALSE(EtagMatches("a", "\"a\""));
}

}  // namespace
}  // namespace berth::kubeapi
