#ifndef BERTH_JSON_H_
#define BERTH_JSON_H_

#include <string>

#include "nlohmann/json.hpp"

namespace berth {

// Objects are Kubernetes-shaped JSON documents throughout Berth.
using Json = nlohmann::json;

// Returns the deepest bracket nesting of JSON text (outside strings), stopping early once it
// passes `stop_after`. nlohmann parses iteratively but copies and dumps recurse, so parsers of
// untrusted text refuse deep documents before parsing them.
inline int JsonNestingDepth(const char* text, size_t size, int stop_after) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < size; ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > stop_after) break;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

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
