// Helpers for the admission tests: parse a YAML manifest and run Admit on it.
#ifndef BERTH_TESTS_UNIT_ADMISSION_ADMISSION_TEST_UTIL_H_
#define BERTH_TESTS_UNIT_ADMISSION_ADMISSION_TEST_UTIL_H_

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/admission.h"
#include "berth/json.h"
#include "berth/manifest.h"

namespace berth::controller::testing {

// Parses exactly one YAML document; fails the test otherwise.
inline Json Yaml(const std::string& text) {
  absl::StatusOr<std::vector<Json>> docs = ParseManifests(text);
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 1);
  return docs->front();
}

// Admits `text` as a new object.
inline absl::StatusOr<Json> AdmitYaml(const std::string& text) {
  return Admit(Yaml(text), nullptr);
}

// Admits `text` and requires success.
inline Json AdmitOk(const std::string& text) {
  absl::StatusOr<Json> out = AdmitYaml(text);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return *out;
}

// Admits `text` and returns the error message (fails the test if admitted or not InvalidArgument).
inline std::string AdmitError(const std::string& text) {
  absl::StatusOr<Json> out = AdmitYaml(text);
  REQUIRE_FALSE(out.ok());
  REQUIRE(out.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

// Admits `update` over the admitted `original` and returns the result.
inline absl::StatusOr<Json> AdmitUpdate(const std::string& original, const std::string& update) {
  Json existing = AdmitOk(original);
  return Admit(Yaml(update), &existing);
}

inline constexpr char kHeader[] = "apiVersion: virtualization.deckhouse.io/v1alpha2\n";

}  // namespace berth::controller::testing

#endif  // BERTH_TESTS_UNIT_ADMISSION_ADMISSION_TEST_UTIL_H_
