#ifndef BERTH_JSON_H_
#define BERTH_JSON_H_

#include <string>

#include "nlohmann/json.hpp"

namespace berth {

// Objects are Kubernetes-shaped JSON documents throughout Berth.
using Json = nlohmann::json;

// Returns the string at `pointer` (e.g. "/metadata/name"), or `fallback` when absent or not a
// string.
inline std::string JsonString(const Json& j, const char* pointer, std::string fallback = "") {
  Json::json_pointer p(pointer);
  if (!j.contains(p)) return fallback;
  const Json& v = j.at(p);
  return v.is_string() ? v.get<std::string>() : fallback;
}

// Returns the JSON value at `pointer`, or null when absent.
inline Json JsonAt(const Json& j, const char* pointer) {
  Json::json_pointer p(pointer);
  return j.contains(p) ? j.at(p) : Json();
}

}  // namespace berth

#endif  // BERTH_JSON_H_
