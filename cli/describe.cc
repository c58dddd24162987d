#include "describe.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "printers.h"

namespace berth::cli {
namespace {

constexpr char kNone[] = "<none>";

std::string Leaf(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool IsLeaf(const Json& v) { return !v.is_object() && !v.is_array(); }

std::string Pad(size_t n) { return std::string(n, ' '); }

// Keeps continuation lines of a multi-line value under the value's first column.
std::string IndentValue(const std::string& s, size_t column) {
  return absl::StrReplaceAll(s, {{"\n", "\n" + Pad(column)}});
}

void RenderValue(const Json& v, size_t indent, std::string& out);

void RenderMap(const Json& map, size_t indent, std::string& out) {
  size_t width = 0;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (IsLeaf(it.value())) width = std::max(width, DescribeLabel(it.key()).size());
  }
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string label = DescribeLabel(it.key());
    const Json& v = it.value();
    if (IsLeaf(v)) {
      size_t col = indent + width + 3;
      absl::StrAppend(&out, Pad(indent), label, ":", Pad(width - label.size() + 2),
                      IndentValue(Leaf(v), col), "\n");
    } else {
      absl::StrAppend(&out, Pad(indent), label, ":\n");
      RenderValue(v, indent + 2, out);
    }
  }
}

void RenderValue(const Json& v, size_t indent, std::string& out) {
  if (v.is_object()) {
    RenderMap(v, indent, out);
  } else if (v.is_array()) {
    for (const Json& item : v) {
      if (IsLeaf(item)) {
        absl::StrAppend(&out, Pad(indent), IndentValue(Leaf(item), indent), "\n");
      } else {
        RenderValue(item, indent, out);
      }
    }
  } else {
    absl::StrAppend(&out, Pad(indent), Leaf(v), "\n");
  }
}

// Renders "Labels:  a=b" with further pairs aligned under the first.
void RenderPairs(const std::string& title, const Json& map, std::string& out) {
  std::string head = absl::StrCat(title, ":", Pad(14 - title.size() - 1));
  if (!map.is_object() || map.empty()) {
    absl::StrAppend(&out, head, kNone, "\n");
    return;
  }
  bool first = true;
  for (auto it = map.begin(); it != map.end(); ++it) {
    absl::StrAppend(&out, first ? head : Pad(14), it.key(), "=", IndentValue(Leaf(it.value()), 14),
                    "\n");
    first = false;
  }
}

void RenderTop(const std::string& title, const std::string& value, std::string& out) {
  absl::StrAppend(&out, title, ":", Pad(14 - title.size() - 1), value, "\n");
}

Json MetadataBlock(const Json& object) {
  static const char* const kKeys[] = {
      "uid",        "creationTimestamp", "deletionTimestamp", "generation", "resourceVersion",
      "finalizers", "ownerReferences"};
  Json meta = JsonAt(object, "/metadata");
  Json block = Json::object();
  if (!meta.is_object()) return block;
  for (const char* k : kKeys) {
    if (meta.contains(k) && !meta[k].is_null()) block[k] = meta[k];
  }
  return block;
}

// Shows secret payloads by size only, as kubectl does.
Json SecretSizes(const Json& data, bool base64) {
  if (!data.is_object()) return data;
  Json out = Json::object();
  for (auto it = data.begin(); it != data.end(); ++it) {
    std::string raw = Leaf(it.value());
    std::string decoded;
    size_t n = base64 && absl::Base64Unescape(raw, &decoded) ? decoded.size() : raw.size();
    out[it.key()] = absl::StrCat(n, " bytes");
  }
  return out;
}

void RenderConditions(const Json& conds, std::string& out) {
  if (!conds.is_array() || conds.empty()) {
    absl::StrAppend(&out, "Conditions:", Pad(3), kNone, "\n");
    return;
  }
  Table t;
  t.headers = {"Type", "Status", "Reason", "Message", "LastTransitionTime"};
  t.rows.push_back({"----", "------", "------", "-------", "------------------"});
  for (const Json& c : conds) {
    if (!c.is_object()) continue;
    std::vector<std::string> row;
    for (const char* k : {"type", "status", "reason", "message", "lastTransitionTime"}) {
      std::string s = Leaf(c.value(k, Json()));
      std::replace(s.begin(), s.end(), '\n', ' ');
      row.push_back(s);
    }
    t.rows.push_back(std::move(row));
  }
  out += "Conditions:\n";
  std::vector<size_t> widths = ColumnWidths(t, false);
  out += "  " + RenderRow(t.headers, widths);
  for (const auto& row : t.rows) out += "  " + RenderRow(row, widths);
}

}  // namespace

std::string DescribeLabel(const std::string& key) {
  static const auto* acronyms = new std::set<std::string>{
      "api", "cpu", "dns", "id", "ip", "mac", "uid", "url", "usb", "ttl", "tls", "vm", "pvc"};
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    bool upper = absl::ascii_isupper(static_cast<unsigned char>(c));
    bool prev_lower = i > 0 && !absl::ascii_isupper(static_cast<unsigned char>(key[i - 1]));
    bool next_lower =
        i + 1 < key.size() && absl::ascii_islower(static_cast<unsigned char>(key[i + 1]));
    if (!cur.empty() && upper && (prev_lower || next_lower)) {
      words.push_back(cur);
      cur.clear();
    }
    cur += c;
  }
  if (!cur.empty()) words.push_back(cur);
  std::string out;
  for (std::string& w : words) {
    std::string lower = absl::AsciiStrToLower(w);
    if (acronyms->count(lower)) {
      w = absl::AsciiStrToUpper(w);
    } else {
      w[0] = absl::ascii_toupper(static_cast<unsigned char>(w[0]));
    }
    absl::StrAppend(&out, out.empty() ? "" : " ", w);
  }
  return out;
}

std::string Describe(const Json& object) {
  std::string out;
  RenderTop("Name", JsonString(object, "/metadata/name"), out);
  RenderTop("Namespace", JsonString(object, "/metadata/namespace"), out);
  RenderPairs("Labels", JsonAt(object, "/metadata/labels"), out);
  RenderPairs("Annotations", JsonAt(object, "/metadata/annotations"), out);
  RenderTop("API Version", JsonString(object, "/apiVersion"), out);
  RenderTop("Kind", JsonString(object, "/kind"), out);
  out += "Metadata:\n";
  RenderMap(MetadataBlock(object), 2, out);
  for (const char* section : {"spec", "data", "stringData", "type", "status"}) {
    if (!object.contains(section) || object[section].is_null()) continue;
    Json value = object[section];
    if (std::string(section) == "status" && value.is_object()) value.erase("conditions");
    if (std::string(section) == "data" || std::string(section) == "stringData") {
      value = SecretSizes(value, std::string(section) == "data");
    }
    if (IsLeaf(value)) {
      RenderTop(DescribeLabel(section), Leaf(value), out);
      continue;
    }
    absl::StrAppend(&out, DescribeLabel(section), ":\n");
    RenderValue(value, 2, out);
  }
  RenderConditions(JsonAt(object, "/status/conditions"), out);
  return out;
}

}  // namespace berth::cli
