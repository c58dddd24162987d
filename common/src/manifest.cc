#include "berth/manifest.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace berth {
namespace {

bool LooksLikeInt(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// Converts a YAML scalar by YAML 1.2 core-schema rules, honouring quoted strings.
Json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (LooksLikeInt(s)) return std::stoll(s);
  if (!s.empty() && (isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.')) {
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && s.find_first_of(".eE") != std::string::npos) return d;
  }
  return s;
}

// What the conversion of one stream may still spend: nesting and expanded bytes.
struct Budget {
  size_t limit;
  size_t bytes_left;
};

constexpr size_t kNodeCost = 16;  // charged per node on top of its scalar bytes

absl::Status TooDeep(int depth) {
  return absl::InvalidArgumentError(absl::StrCat("nesting depth ", depth, " exceeds the limit of ",
                                                 kMaxManifestDepth, " levels (kMaxManifestDepth)"));
}

absl::Status Charge(Budget& budget, size_t bytes) {
  if (bytes > budget.bytes_left) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expands to more than ", budget.limit,
        " bytes through YAML aliases (limit: kManifestExpansionFloor + kManifestExpansionFactor"
        " x the stream's size)"));
  }
  budget.bytes_left -= bytes;
  return absl::OkStatus();
}

// Converts a YAML node. Aliases share nodes in yaml-cpp (a graph, possibly cyclic), so both the
// depth and the expanded size are bounded here rather than by the input size.
absl::StatusOr<Json> NodeToJson(const YAML::Node& node, int depth, Budget& budget) {
  if (depth > kMaxManifestDepth) return TooDeep(depth);
  absl::Status st = Charge(budget, kNodeCost + (node.IsScalar() ? node.Scalar().size() : 0));
  if (!st.ok()) return st;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) {
        auto v = NodeToJson(item, depth + 1, budget);
        if (!v.ok()) return v.status();
        arr.push_back(*std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", kv.first.Mark().line + 1, ": mapping keys must be scalars"));
        }
        st = Charge(budget, kv.first.Scalar().size());
        if (!st.ok()) return st;
        auto v = NodeToJson(kv.second, depth + 1, budget);
        if (!v.ok()) return v.status();
        obj[kv.first.Scalar()] = *std::move(v);
      }
      return obj;
    }
  }
  return Json(nullptr);
}

// Appends one document (or a List's items); each must be an object.
absl::Status AppendItems(const Json& doc, size_t index, std::vector<Json>& out) {
  bool list = doc.is_object() && JsonString(doc, "/kind") == "List" && doc.contains("items") &&
              doc["items"].is_array();
  for (const Json& item : list ? doc["items"] : Json::array({doc})) {
    if (!item.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest document ", index + 1, ": expected a mapping (an object)"));
    }
    out.push_back(item);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Json>> ParseJsonManifests(std::string_view text) {
  if (int depth = JsonNestingDepth(text.data(), text.size(), kMaxManifestDepth);
      depth > kMaxManifestDepth) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", TooDeep(depth).message()));
  }
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("manifest: invalid JSON");
  std::vector<Json> out;
  if (doc.is_array()) {
    for (size_t i = 0; i < doc.size(); ++i) {
      absl::Status st = AppendItems(doc[i], i, out);
      if (!st.ok()) return st;
    }
    return out;
  }
  absl::Status st = AppendItems(doc, 0, out);
  if (!st.ok()) return st;
  return out;
}

// Returns the offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong
// forms, surrogates or code points past U+10FFFF), or npos. yaml-cpp passes such bytes through
// into strings that nlohmann::json then refuses to dump.
size_t InvalidUtf8At(std::string_view s) {
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};  // by continuation bytes
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    if (c >= 0x80) {
      if ((c & 0xe0) == 0xc0) {
        n = 1;
      } else if ((c & 0xf0) == 0xe0) {
        n = 2;
      } else if ((c & 0xf8) == 0xf0) {
        n = 3;
      } else {
        return i;
      }
    }
    if (s.size() - i <= n) return i;
    uint32_t cp = c & (0x7fu >> (n == 0 ? 0 : n + 1));
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = cp << 6 | (cc & 0x3f);
    }
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

// Counts parse events and throws past a bound. yaml-cpp 0.7 loops forever, creating nodes until
// memory runs out, on a ',' outside a flow collection (e.g. `"a", b]`); a well-formed stream has
// at most a few events per input byte, so a dry run with this handler stops the loop.
class EventBudget : public YAML::EventHandler {
 public:
  struct Exceeded {};
  explicit EventBudget(size_t limit) : left_(limit) {}
  void OnDocumentStart(const YAML::Mark&) override { Spend(); }
  void OnDocumentEnd() override { Spend(); }
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { Spend(); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Spend(); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Spend();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Spend();
  }
  void OnSequenceEnd() override { Spend(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Spend();
  }
  void OnMapEnd() override { Spend(); }

 private:
  void Spend() {
    if (left_ == 0) throw Exceeded{};
    --left_;
  }
  size_t left_;
};

absl::StatusOr<std::vector<YAML::Node>> LoadYaml(std::string_view text) {
  if (size_t bad = InvalidUtf8At(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: invalid UTF-8 at byte offset ", bad));
  }
  size_t max_events = 4 * text.size() + 64;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    EventBudget budget(max_events);
    while (parser.HandleNextDocument(budget)) {
    }
    return YAML::LoadAll(std::string(text));
  } catch (const EventBudget::Exceeded&) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: invalid YAML: more than ", max_events,
                                                   " parse events for ", text.size(),
                                                   " bytes (a ',' outside a flow collection?)"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: invalid YAML at line ",
                                                   e.mark.line + 1, ", column ", e.mark.column + 1,
                                                   ": ", e.msg));
  } catch (const std::exception& e) {  // yaml-cpp may throw std exceptions on hostile input
    return absl::InvalidArgumentError(absl::StrCat("manifest: invalid YAML: ", e.what()));
  }
}

}  // namespace

absl::Status CheckManifestSize(size_t bytes, size_t max_bytes) {
  if (bytes <= max_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("manifest is ", bytes,
                                                 " bytes, over the limit of ", max_bytes,
                                                 " bytes (kMaxManifestBytes)"));
}

absl::StatusOr<std::vector<Json>> ParseManifests(std::string_view text, size_t max_bytes) {
  absl::Status size = CheckManifestSize(text.size(), max_bytes);
  if (!size.ok()) return size;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    return ParseJsonManifests(text);
  }
  absl::StatusOr<std::vector<YAML::Node>> docs = LoadYaml(text);
  if (!docs.ok()) return docs.status();
  std::vector<Json> out;
  size_t limit = kManifestExpansionFloor + kManifestExpansionFactor * text.size();
  Budget budget{limit, limit};
  for (size_t i = 0; i < docs->size(); ++i) {
    if ((*docs)[i].IsNull()) continue;
    auto doc = NodeToJson((*docs)[i], 1, budget);
    if (!doc.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest document ", i + 1, ": ", doc.status().message()));
    }
    if (!doc->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest document ", i + 1, ": expected a mapping (an object)"));
    }
    // yaml-cpp can hand back strings that are not UTF-8 even from UTF-8 text (found by
    // manifest_fuzz); JSON cannot carry them, so refuse here rather than throw later.
    try {
      (void)doc->dump();
    } catch (const Json::type_error&) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest document ", i + 1, ": a string is not valid UTF-8 once unescaped"));
    }
    absl::Status st = AppendItems(*doc, i, out);
    if (!st.ok()) return st;
  }
  return out;
}

namespace {

void EmitJson(YAML::Emitter& e, const Json& v) {
  if (v.is_object()) {
    e << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      e << YAML::Key << it.key() << YAML::Value;
      EmitJson(e, it.value());
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    e << YAML::BeginSeq;
    for (const Json& item : v) EmitJson(e, item);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    // Quote strings that would otherwise read back as another type.
    Json back = ScalarToJson(YAML::Load(s.empty() ? "''" : s));
    bool needs_quotes = s.empty() || !back.is_string() || back.get<std::string>() != s;
    if (needs_quotes) {
      e << YAML::DoubleQuoted << s;
    } else {
      e << s;
    }
  } else if (v.is_null()) {
    e << YAML::Null;
  } else {
    e << v.dump();
  }
}

}  // namespace

std::string ToYaml(const Json& value) {
  YAML::Emitter e;
  EmitJson(e, value);
  return std::string(e.c_str()) + "\n";
}

}  // namespace berth
