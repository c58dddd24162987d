// Runs every malformed fixture (tests/fixtures/malformed) and every example manifest
// (manifests/examples) through ParseManifests and Admit.
//
// A fixture's first line is `# expect: <text>`; the text must occur in the error. A one-document
// fixture must be rejected on create (or fail to parse). A two-document fixture is an update: the
// first document is the stored object and must be admitted, the second must be rejected.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "admission_test_util.h"

namespace berth::controller::testing {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> YamlFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Returns the error a fixture produces: from parsing, creating, or updating.
std::string FixtureError(const std::string& text) {
  absl::StatusOr<std::vector<Json>> docs = ParseManifests(text);
  if (!docs.ok()) return std::string(docs.status().message());
  REQUIRE((docs->size() == 1 || docs->size() == 2));
  if (docs->size() == 1) {
    absl::StatusOr<Json> out = Admit(docs->front(), nullptr);
    REQUIRE_FALSE(out.ok());
    CHECK(out.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(out.status().message());
  }
  absl::StatusOr<Json> existing = Admit((*docs)[0], nullptr);
  INFO("first document (the stored object): " << existing.status().ToString());
  REQUIRE(existing.ok());
  absl::StatusOr<Json> out = Admit((*docs)[1], &*existing);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST_CASE("Every malformed fixture is rejected with the expected message", "[admission]") {
  std::vector<fs::path> files = YamlFiles(fs::path(BERTH_FIXTURES_DIR) / "malformed");
  CHECK(files.size() >= 24);
  const std::string kPrefix = "# expect: ";
  for (const fs::path& file : files) {
    INFO(file.filename().string());
    std::string text = ReadFile(file);
    std::string first_line = text.substr(0, text.find('\n'));
    REQUIRE(first_line.rfind(kPrefix, 0) == 0);
    std::string expected = first_line.substr(kPrefix.size());
    REQUIRE_FALSE(expected.empty());
    CHECK_THAT(FixtureError(text), Catch::Contains(expected));
  }
}

TEST_CASE("Every example manifest is admitted", "[admission]") {
  std::vector<fs::path> files = YamlFiles(BERTH_EXAMPLES_DIR);
  CHECK(files.size() >= 15);
  for (const fs::path& file : files) {
    INFO(file.filename().string());
    absl::StatusOr<std::vector<Json>> docs = ParseManifests(ReadFile(file));
    REQUIRE(docs.ok());
    REQUIRE_FALSE(docs->empty());
    for (const Json& doc : *docs) {
      absl::StatusOr<Json> out = Admit(doc, nullptr);
      INFO(out.status().ToString());
      CHECK(out.ok());
    }
  }
}

}  // namespace
}  // namespace berth::controller::testing
