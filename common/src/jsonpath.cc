#include "berth/jsonpath.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth {
namespace {

absl::Status Apply(std::string_view expr, std::vector<const Json*>& nodes) {
  size_t i = 0;
  if (!expr.empty() && expr[0] == '$') ++i;
  while (i < expr.size()) {
    std::vector<const Json*> next;
    if (expr[i] == '.') {
      size_t end = expr.find_first_of(".[", i + 1);
      std::string key(expr.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
      for (const Json* n : nodes) {
        if (n->is_object() && n->contains(key)) next.push_back(&(*n)[key]);
      }
      i = end == std::string_view::npos ? expr.size() : end;
    } else if (expr[i] == '[') {
      size_t close = expr.find(']', i);
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("jsonpath: unclosed '[' in ", std::string(expr)));
      }
      std::string_view inner = expr.substr(i + 1, close - i - 1);
      if (inner == "*") {
        for (const Json* n : nodes) {
          if (n->is_array() || n->is_object()) {
            for (const Json& c : *n) next.push_back(&c);
          }
        }
      } else if (inner.size() >= 2 && (inner[0] == '\'' || inner[0] == '"')) {
        std::string key(inner.substr(1, inner.size() - 2));
        for (const Json* n : nodes) {
          if (n->is_object() && n->contains(key)) next.push_back(&(*n)[key]);
        }
      } else {
        int idx = 0;
        if (!absl::SimpleAtoi(std::string(inner), &idx)) {
          return absl::InvalidArgumentError(
              absl::StrCat("jsonpath: bad index [", std::string(inner), "]"));
        }
        for (const Json* n : nodes) {
          if (!n->is_array()) continue;
          int size = static_cast<int>(n->size());
          int k = idx < 0 ? size + idx : idx;
          if (k >= 0 && k < size) next.push_back(&(*n)[k]);
        }
      }
      i = close + 1;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "jsonpath: unexpected '", std::string(1, expr[i]), "' in ", std::string(expr)));
    }
    nodes = std::move(next);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EvaluateJsonPath(const Json& root, std::string_view tmpl) {
  std::string out;
  size_t i = 0;
  bool any_brace = tmpl.find('{') != std::string_view::npos;
  if (!any_brace) return EvaluateJsonPath(root, "{" + std::string(tmpl) + "}");
  while (i < tmpl.size()) {
    size_t open = tmpl.find('{', i);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, open - i));
    size_t close = tmpl.find('}', open);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("jsonpath: unclosed '{' in ", std::string(tmpl)));
    }
    std::vector<const Json*> nodes = {&root};
    absl::Status s = Apply(tmpl.substr(open + 1, close - open - 1), nodes);
    if (!s.ok()) return s;
    std::vector<std::string> parts;
    for (const Json* n : nodes) parts.push_back(n->is_string() ? n->get<std::string>() : n->dump());
    out.append(absl::StrJoin(parts, " "));
    i = close + 1;
  }
  return out;
}

}  // namespace berth
