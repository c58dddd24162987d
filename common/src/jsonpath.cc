#include "berth/jsonpath.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/status_macros.h"

namespace berth {
namespace {

absl::Status Apply(std::string_view expr, std::vector<const Json*>& nodes);

// kubectl's filter: [?(@.path)] keeps elements where path exists, [?(@.path OP literal)] with OP
// == or != compares it with a quoted string, a number, true, false or null.
absl::Status Filter(std::string_view filter, std::vector<const Json*>& nodes) {
  std::string_view path = filter, op, literal;
  for (std::string_view candidate : {"==", "!="}) {
    size_t at = filter.find(candidate);
    if (at != std::string_view::npos) {
      path = filter.substr(0, at);
      op = candidate;
      literal = filter.substr(at + 2);
      break;
    }
  }
  auto trim = [](std::string_view v) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    return v;
  };
  path = trim(path);
  literal = trim(literal);
  if (path.empty() || path[0] != '@') {
    return absl::InvalidArgumentError(
        absl::StrCat("jsonpath: filter must start with @: [?(", std::string(filter), ")]"));
  }
  Json want;
  if (!op.empty()) {
    if (literal.size() >= 2 && (literal[0] == '\'' || literal[0] == '"') &&
        literal.back() == literal[0]) {
      want = std::string(literal.substr(1, literal.size() - 2));
    } else {
      want = Json::parse(std::string(literal), nullptr, false);
      if (want.is_discarded()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "jsonpath: bad literal ", std::string(literal), " in [?(", std::string(filter), ")]"));
      }
    }
  }
  std::vector<const Json*> kept;
  for (const Json* n : nodes) {
    if (!n->is_array() && !n->is_object()) continue;
    for (const Json& element : *n) {
      std::vector<const Json*> got = {&element};
      absl::Status s = Apply(path.substr(1), got);
      if (!s.ok()) return s;
      bool match = op.empty() ? !got.empty() : (!got.empty() && (*got[0] == want) == (op == "=="));
      if (match) kept.push_back(&element);
    }
  }
  nodes = std::move(kept);
  return absl::OkStatus();
}

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
    } else if (expr.substr(i, 3) == "[?(") {
      size_t close = expr.find(")]", i);
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("jsonpath: unclosed '[?(' in ", std::string(expr)));
      }
      BERTH_RETURN_IF_ERROR(Filter(expr.substr(i + 3, close - i - 3), nodes));
      i = close + 2;
      continue;
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

// Reads the double-quoted literal starting at tmpl[quote] (Go escapes \n \t \r \\ \"), which
// must be followed by '}', as kubectl's template parser does. Returns its text and the index
// after the '}'.
absl::StatusOr<std::pair<std::string, size_t>> QuotedLiteral(std::string_view tmpl, size_t quote) {
  std::string text;
  for (size_t i = quote + 1; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '"') {
      if (i + 1 < tmpl.size() && tmpl[i + 1] == '}') return std::make_pair(text, i + 2);
      break;
    }
    if (c != '\\') {
      text.push_back(c);
      continue;
    }
    if (++i == tmpl.size()) break;
    switch (tmpl[i]) {
      case 'n':
        text.push_back('\n');
        break;
      case 't':
        text.push_back('\t');
        break;
      case 'r':
        text.push_back('\r');
        break;
      case '\\':
      case '"':
        text.push_back(tmpl[i]);
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "jsonpath: unknown escape '\\", std::string(1, tmpl[i]), "' in ", std::string(tmpl)));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("jsonpath: unterminated quoted text in ", std::string(tmpl)));
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
    if (open + 1 < tmpl.size() && tmpl[open + 1] == '"') {  // {"\n"}: a quoted literal
      auto literal = QuotedLiteral(tmpl, open + 1);
      if (!literal.ok()) return literal.status();
      out.append(literal->first);
      i = literal->second;
      continue;
    }
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
