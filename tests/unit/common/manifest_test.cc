#include "berth/manifest.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

using berth::Json;
using berth::ParseManifests;

TEST_CASE("ParseManifests reads multi-document YAML with typed scalars") {
  auto docs = ParseManifests(R"(
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDiskSnapshot
metadata:
  name: s1
spec:
  requiredConsistency: true
  virtualDiskName: d1
---
---
kind: VirtualDisk
metadata: {name: d1, labels: {a: "true"}}
spec:
  persistentVolumeClaim: {size: 1Gi}
  count: 3
)");
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[0]["spec"]["requiredConsistency"] == true);
  CHECK((*docs)[1]["metadata"]["labels"]["a"] == "true");
  CHECK((*docs)[1]["spec"]["count"] == 3);
  CHECK((*docs)[1]["spec"]["persistentVolumeClaim"]["size"] == "1Gi");
}

TEST_CASE("ParseManifests reads JSON objects, arrays and Lists") {
  auto one = ParseManifests(R"({"kind":"VirtualDisk","metadata":{"name":"a"}})");
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  auto list = ParseManifests(R"({"kind":"List","items":[{"kind":"A"},{"kind":"B"}]})");
  REQUIRE(list.ok());
  CHECK(list->size() == 2);
}

TEST_CASE("ParseManifests names the line of bad YAML") {
  auto bad = ParseManifests("kind: A\nmetadata:\n  name: [unclosed\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("line") != std::string::npos);
  CHECK_FALSE(ParseManifests("- a\n- b\n").ok());
  CHECK_FALSE(ParseManifests("{\"kind\": ").ok());
}

TEST_CASE("ToYaml round-trips through ParseManifests") {
  Json obj = {{"kind", "VirtualDisk"},
              {"metadata", {{"name", "d"}, {"labels", {{"x", "true"}, {"n", "01"}}}}},
              {"spec", {{"size", 5}, {"empty", ""}, {"list", {1, "two"}}}}};
  auto back = ParseManifests(berth::ToYaml(obj));
  REQUIRE(back.ok());
  CHECK((*back)[0] == obj);
}

TEST_CASE("ParseManifests refuses streams over the size limit, naming it") {
  CHECK(berth::kMaxManifestBytes == 4u << 20);
  std::string doc = "kind: A\nmetadata: {name: a}\n";
  CHECK(ParseManifests(doc, doc.size()).ok());
  auto over = ParseManifests(doc, doc.size() - 1);
  REQUIRE(absl::IsInvalidArgument(over.status()));
  CHECK(std::string(over.status().message()) ==
        "manifest is " + std::to_string(doc.size()) + " bytes, over the limit of " +
            std::to_string(doc.size() - 1) + " bytes (kMaxManifestBytes)");
  std::string big = doc + "spec: {pad: \"" + std::string(berth::kMaxManifestBytes, 'x') + "\"}\n";
  auto too_big = ParseManifests(big);
  REQUIRE(absl::IsInvalidArgument(too_big.status()));
  CHECK(std::string(too_big.status().message()).find("4194304 bytes") != std::string::npos);
  CHECK(berth::CheckManifestSize(berth::kMaxManifestBytes).ok());
  CHECK(absl::IsInvalidArgument(berth::CheckManifestSize(berth::kMaxManifestBytes + 1)));
}

TEST_CASE("ParseManifests bounds nesting and alias expansion") {
  std::string deep_json =
      "{\"kind\":\"A\",\"spec\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto j = ParseManifests(deep_json);
  REQUIRE(absl::IsInvalidArgument(j.status()));
  CHECK(std::string(j.status().message()).find("kMaxManifestDepth") != std::string::npos);
  std::string ok_json =
      "{\"kind\":\"A\",\"spec\":" + std::string(200, '[') + std::string(200, ']') + "}";
  CHECK(ParseManifests(ok_json).ok());
  std::string deep_yaml = "kind: A\nspec: " + std::string(300, '[') + std::string(300, ']');
  CHECK(absl::IsInvalidArgument(ParseManifests(deep_yaml).status()));
  // Nine levels of nine aliases: 387M scalars once expanded.
  std::string bomb = "kind: Bomb\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  auto b = ParseManifests(bomb);
  REQUIRE(absl::IsInvalidArgument(b.status()));
  CHECK(std::string(b.status().message()).find("kManifestExpansionFactor") != std::string::npos);
  // A template shared by many objects is fine.
  std::string shared = "kind: A\ntemplate: &t {" + std::string(1000, 'k') + ": v}\nuses: [";
  for (int i = 0; i < 100; ++i) shared += "*t, ";
  CHECK(ParseManifests(shared + "*t]\n").ok());
  auto loop = ParseManifests("kind: Loop\nspec: &x {self: *x}\n");
  CHECK_FALSE(loop.ok());
}

TEST_CASE("ParseManifests returns only objects") {
  CHECK(absl::IsInvalidArgument(ParseManifests("[1, 2]").status()));
  CHECK(absl::IsInvalidArgument(ParseManifests("kind: List\nitems: [1]\n").status()));
  CHECK(absl::IsInvalidArgument(ParseManifests(R"({"kind":"List","items":[{}, 3]})").status()));
}

TEST_CASE("manifest seed corpus replays; valid seeds parse, bad ones are refused") {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(BERTH_MANIFEST_CORPUS)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string name = e.path().filename().string();
    CAPTURE(name);
    ++files;
    auto docs = ParseManifests(text);
    if (name.rfind("valid-", 0) == 0) {
      CHECK(docs.ok());
    } else {
      REQUIRE(name.rfind("bad-", 0) == 0);
      CHECK(absl::IsInvalidArgument(docs.status()));
    }
  }
  CHECK(files >= 15);
}

TEST_CASE("ParseManifests refuses text that is not UTF-8") {
  CHECK(ParseManifests("kind: \xc3\xa9t\xc3\xa9\n").ok());              // 2-byte
  CHECK(ParseManifests("kind: \xe2\x82\xac \xf0\x9f\x98\x80\n").ok());  // 3- and 4-byte
  for (const char* bad : {"kind: \xff\n", "kind: \xc3\n", "kind: \xc0\xaf\n",
                          "kind: \xed\xa0\x80\n", "kind: \xf4\x90\x80\x80\n", "kind: \xe2\x82"}) {
    auto r = ParseManifests(bad);
    REQUIRE(absl::IsInvalidArgument(r.status()));
    CHECK(std::string(r.status().message()).find("invalid UTF-8 at byte offset 6") !=
          std::string::npos);
  }
}

TEST_CASE("ParseManifests refuses documents whose strings are not UTF-8 once parsed") {
  // Found by manifest_fuzz: this UTF-8 text made yaml-cpp return a string json dump refused.
  std::string text = std::string("kind: Deep\nsec: p") + std::string(27, '[') +
                     std::string("\0N", 2) + std::string(15, '[') + "e";
  auto r = ParseManifests(text);
  if (!r.ok()) {
    CHECK(absl::IsInvalidArgument(r.status()));
  } else {
    for (const Json& doc : *r) CHECK_NOTHROW(doc.dump());
  }
}

TEST_CASE("ParseManifests stops yaml-cpp's loop on a stray flow entry") {
  for (const char* text : {",", ", \"two\", nunull]", "kind: A\n, b\n"}) {
    CAPTURE(text);
    auto r = ParseManifests(text);
    REQUIRE(absl::IsInvalidArgument(r.status()));
  }
  CHECK(ParseManifests("---\n---\n---\n").ok());  // many events per byte, still fine
}

TEST_CASE("ParseManifests takes a kind that is not a string as not a List") {
  auto r = ParseManifests("kind:\nmetadata: {name: a}\n");
  CHECK(r.ok());
  CHECK(ParseManifests(R"({"kind": 5, "items": [1]})").ok());
}
