// Writes berth/types/resources.h: a typed view of every kind (berth/types/view.h), generated
// from the openAPIV3Schema of the CRDs in manifests/crds/ (embedded in berth_schema), so the
// controller reads and writes the fields the CRDs declare, under the names they declare, and
// the enums they allow.
//
// For kind K:
//   enum class K<Path>           one per string enum (K::Phase is KPhase), kUnset first;
//   class K<Path>                a read view of each object with declared properties;
//   template <J> K##StatusT      status; KStatus reads, KStatusWriter also writes;
//   class K                      the object: kKind, kPlural, metadata(), spec(), status().
// Usage: berth-typegen OUT.h
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "berth/kinds.h"
#include "berth/schema.h"

namespace {

using berth::Json;

std::string Pascal(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

std::string Snake(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      // fooBar -> foo_bar; virtualDiskUID -> virtual_disk_uid; caCert -> ca_cert
      bool prev_lower = i > 0 && std::islower(static_cast<unsigned char>(s[i - 1]));
      bool next_lower = i + 1 < s.size() && std::islower(static_cast<unsigned char>(s[i + 1]));
      bool prev_upper = i > 0 && std::isupper(static_cast<unsigned char>(s[i - 1]));
      if (i > 0 && (prev_lower || (prev_upper && next_lower))) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  // C++ keywords and glibc's major()/minor() macros.
  static const std::set<std::string> reserved = {"namespace", "major", "minor", "default",
                                                 "delete",    "new",   "class", "operator"};
  if (reserved.count(out)) out += '_';
  return out;
}

std::string Singular(const std::string& pascal) {
  if (pascal.size() > 3 && pascal.substr(pascal.size() - 3) == "ses") {
    return pascal.substr(0, pascal.size() - 2);  // Addresses -> Address
  }
  if (pascal.size() > 1 && pascal.back() == 's') return pascal.substr(0, pascal.size() - 1);
  return pascal + "Item";
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct Gen {
  std::ostringstream enums;    // enum classes and their names
  std::ostringstream classes;  // views, nested first
  std::set<std::string> names;

  // Unique C++ type name for `want`, falling back to `alt` on a clash.
  std::string Unique(const std::string& want, const std::string& alt) {
    std::string n = names.count(want) ? alt : want;
    while (names.count(n)) n += "_";
    names.insert(n);
    return n;
  }

  std::string Enum(const std::string& name, const Json& values) {
    enums << "enum class " << name << " {\n  kUnset,\n";
    std::vector<std::string> quoted;
    for (const Json& v : values) {
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      enums << "  k" << Pascal(s) << ",\n";
      quoted.push_back(Quote(s));
    }
    enums << "};\ntemplate <>\nstruct EnumNames<" << name
          << "> {\n  static constexpr std::string_view kNames[] = {\"\"";
    for (const std::string& q : quoted) enums << ", " << q;
    enums << "};\n};\n\n";
    return name;
  }

  // Emits the getters (and, when `writer`, the setters) for the properties of `schema` into
  // `out`; nested types are generated first into `classes` under `prefix` (the kind plus the path
  // below spec/status) and `root` (Spec or Status, used only on a name clash).
  void Members(std::ostringstream& out, const Json& schema, const std::string& prefix,
               const std::string& root, bool writer) {
    const Json& props = schema.value("properties", Json::object());
    for (auto it = props.begin(); it != props.end(); ++it) {
      const std::string key = it.key();
      const Json& p = it.value();
      const std::string type = p.value("type", "");
      const std::string fn = Snake(key);
      std::string doc = p.value("description", "");
      for (char& c : doc) {
        if (c == '\n') c = ' ';
      }
      if (!doc.empty())
        out << "  // " << doc.substr(0, 90) << (doc.size() > 90 ? "..." : "") << "\n";
      out << "  bool has_" << fn << "() const { return this->Has(" << Quote(key) << "); }\n";
      if (key == "conditions" && type == "array") {
        out << "  Conditions conditions() const { return Conditions(this->Array(\"conditions\")); "
               "}\n";
        if (writer) Setter(out, key, fn, "Json");
        continue;
      }
      if (type == "string" && p.contains("enum")) {
        std::string e = Enum(Unique(prefix + Pascal(key), prefix + root + Pascal(key)), p["enum"]);
        std::string fallback;
        if (p.contains("default") && p["default"].is_string()) {
          fallback = ", " + e + "::k" + Pascal(p["default"].get<std::string>());
        }
        out << "  " << e << " " << fn << "() const { return this->template Enum<" << e << ">("
            << Quote(key) << fallback << "); }\n";
        if (writer) {
          out << "  void set_" << fn << "(" << e << " v) const { this->SetEnum(" << Quote(key)
              << ", v); }\n";
        }
      } else if (type == "string") {
        std::string def = p.contains("default") && p["default"].is_string()
                              ? ", " + Quote(p["default"].get<std::string>())
                              : "";
        out << "  std::string " << fn << "() const { return this->Str(" << Quote(key) << def
            << "); }\n";
        if (writer) Setter(out, key, fn, "std::string");
      } else if (type == "boolean") {
        std::string def = p.contains("default") && p["default"].is_boolean()
                              ? (p["default"].get<bool>() ? ", true" : ", false")
                              : "";
        out << "  bool " << fn << "() const { return this->Bool(" << Quote(key) << def << "); }\n";
        if (writer) Setter(out, key, fn, "bool");
      } else if (type == "integer") {
        std::string def = p.contains("default") && p["default"].is_number_integer()
                              ? ", " + std::to_string(p["default"].get<int64_t>())
                              : "";
        out << "  int64_t " << fn << "() const { return this->Int(" << Quote(key) << def
            << "); }\n";
        if (writer) Setter(out, key, fn, "int64_t");
      } else if (type == "number") {
        out << "  double " << fn << "() const { return this->Num(" << Quote(key) << "); }\n";
        if (writer) Setter(out, key, fn, "double");
      } else if (type == "object" && p.contains("properties")) {
        std::string cls = View(p, prefix + Pascal(key), prefix + root + Pascal(key), root);
        out << "  " << cls << " " << fn << "() const { return " << cls << "(this->Object("
            << Quote(key) << ")); }\n";
        if (writer) Setter(out, key, fn, "Json");
      } else if (type == "array") {
        const Json& items = p.value("items", Json::object());
        if (items.value("type", "") == "string") {
          out << "  std::vector<std::string> " << fn << "() const { return this->Strings("
              << Quote(key) << "); }\n";
        } else if (items.value("type", "") == "object" && items.contains("properties")) {
          std::string cls = View(items, prefix + Singular(Pascal(key)),
                                 prefix + root + Singular(Pascal(key)), root);
          out << "  std::vector<" << cls << "> " << fn << "() const { return this->template Items<"
              << cls << ">(" << Quote(key) << "); }\n";
        } else {
          out << "  const Json& " << fn << "() const { return this->Array(" << Quote(key)
              << "); }\n";
        }
        if (writer) Setter(out, key, fn, "Json");
      } else {  // free-form object, int-or-string quantity, ...
        out << "  const Json& " << fn
            << "_json() const { static const Json null; const Json* m "
               "= this->Member("
            << Quote(key) << "); return m ? *m : null; }\n";
        if (writer) Setter(out, key, fn, "Json");
      }
    }
  }

  static void Setter(std::ostringstream& out, const std::string& key, const std::string& fn,
                     const std::string& type) {
    out << "  void set_" << fn << "(" << type << " v) const { this->Set(" << Quote(key)
        << ", std::move(v)); }\n";
    out << "  void clear_" << fn << "() const { this->Erase(" << Quote(key) << "); }\n";
  }

  // A read-only view class of an object schema; returns its name.
  std::string View(const Json& schema, const std::string& want, const std::string& alt,
                   const std::string& root) {
    std::string name = Unique(want, alt);
    std::ostringstream body;
    Members(body, schema, want, root, /*writer=*/false);
    classes << "class " << name << " : public ObjectView<const Json> {\n public:\n"
            << "  using ObjectView::ObjectView;\n"
            << body.str() << "};\n\n";
    return name;
  }

  void Kind(const berth::schema::KindSchema& k) {
    const Json& props = k.open_api_v3.value("properties", Json::object());
    classes << "// ---- " << k.kind << " (manifests/crds/" << k.plural << ".yaml)\n\n";
    std::string spec_cls;
    if (props.contains("spec") && props["spec"].contains("properties")) {
      spec_cls = View(props["spec"], k.kind + "Spec", k.kind + "Spec", "Spec");
    }
    std::string status_t;
    if (props.contains("status")) {
      std::ostringstream body;
      Members(body, props["status"], k.kind, "Status", /*writer=*/true);
      status_t = k.kind + "StatusT";
      names.insert(status_t);
      classes << "// " << k.kind << "'s status: " << k.kind << "Status reads, " << k.kind
              << "StatusWriter (over a copy the caller owns) also writes.\n"
              << "template <typename J>\nclass " << status_t
              << " : public ObjectView<J> {\n public:\n  using ObjectView<J>::ObjectView;\n"
              << "  using ObjectView<J>::Has;\n"
              << body.str() << "};\n"
              << "using " << k.kind << "Status = " << status_t << "<const Json>;\n"
              << "using " << k.kind << "StatusWriter = " << status_t << "<Json>;\n\n";
    }
    names.insert(k.kind);
    classes << "class " << k.kind << " : public ResourceView<const Json> {\n public:\n"
            << "  static constexpr char kKind[] = " << Quote(k.kind) << ";\n"
            << "  static constexpr char kPlural[] = " << Quote(k.plural) << ";\n"
            << "  static constexpr char kApiVersion[] = " << Quote(k.ApiVersion()) << ";\n";
    if (names.count(k.kind + "Phase")) {
      classes << "  using Phase = " << k.kind << "Phase;\n";
    }
    classes << "  using ResourceView::ResourceView;\n";
    if (!spec_cls.empty()) {
      classes << "  " << spec_cls << " spec() const { return " << spec_cls
              << "(Object(\"spec\")); }\n";
    } else {
      classes << "  const Json& spec() const { return Object(\"spec\"); }\n";
    }
    if (!status_t.empty()) {
      classes << "  " << k.kind << "Status status() const { return " << k.kind
              << "Status(Object(\"status\")); }\n";
    }
    classes << "};\n\n";
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: berth-typegen OUT.h\n";
    return 2;
  }
  Gen gen;
  for (const berth::schema::KindSchema& k : berth::schema::Kinds()) gen.Kind(k);
  std::ostringstream out;
  out << "// Generated by common/tools/typegen.cc from manifests/crds/. Do not edit.\n"
      << "#ifndef BERTH_TYPES_RESOURCES_H_\n#define BERTH_TYPES_RESOURCES_H_\n\n"
      << "#include <cstdint>\n#include <string>\n#include <string_view>\n#include <utility>\n"
      << "#include <vector>\n\n#include \"berth/json.h\"\n#include \"berth/types/view.h\"\n\n"
      << "namespace berth::types {\n\n"
      << "// Every kind the API serves (berth/kinds.h).\nnamespace kinds {\n";
  for (const berth::KindInfo& k : berth::AllKinds()) {
    out << "inline constexpr char k" << k.kind << "[] = " << Quote(k.kind) << ";\n";
  }
  out << "}  // namespace kinds\n\n"
      << gen.enums.str() << gen.classes.str() << "}  // namespace berth::types\n\n"
      << "#endif  // BERTH_TYPES_RESOURCES_H_\n";
  std::string text = out.str();
  std::ifstream old(argv[1]);
  std::stringstream had;
  had << old.rdbuf();
  if (had.str() == text) return 0;  // unchanged: keep the timestamp
  std::ofstream f(argv[1]);
  f << text;
  return f.good() ? 0 : 1;
}
