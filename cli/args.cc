#include "args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "resource_client.h"

namespace berth::cli {
namespace {

absl::StatusOr<const KindInfo*> Kind(const std::string& name) {
  const KindInfo* k = ResolveKind(name);
  if (k == nullptr) return UnknownKindError(name);
  return k;
}

const char* ServerReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kNotFound:
      return "NotFound";
    case absl::StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case absl::StatusCode::kAborted:
      return "Conflict";
    case absl::StatusCode::kInvalidArgument:
      return "Invalid";
    case absl::StatusCode::kFailedPrecondition:
      return "BadRequest";
    case absl::StatusCode::kPermissionDenied:
      return "Forbidden";
    case absl::StatusCode::kUnauthenticated:
      return "Unauthorized";
    case absl::StatusCode::kDeadlineExceeded:
      return "Timeout";
    case absl::StatusCode::kResourceExhausted:
      return "TooManyRequests";
    case absl::StatusCode::kUnimplemented:
      return "NotImplemented";
    case absl::StatusCode::kUnavailable:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

std::string OneLine(absl::string_view msg) {
  std::string s(msg);
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

absl::Status UnknownKindError(const std::string& name) {
  return absl::InvalidArgumentError(
      absl::StrCat("the server doesn't have a resource type \"", name, "\""));
}

absl::StatusOr<ResourceArgs> ParseResourceArgs(const std::vector<std::string>& args,
                                               const std::string& verb) {
  if (args.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("you must specify the type of resource to ", verb));
  }
  ResourceArgs out;
  if (args[0].find('/') == std::string::npos) {
    BERTH_ASSIGN_OR_RETURN(const KindInfo* kind, Kind(args[0]));
    out.kind = kind;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i].find('/') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "there is no need to specify a resource type as a separate argument when passing "
            "arguments in resource/name form (e.g. 'berth ",
            verb, " resource/<resource_name>' instead of 'berth ", verb,
            " resource resource/<resource_name>'"));
      }
      out.refs.push_back({out.kind, args[i]});
    }
    return out;
  }
  for (const std::string& a : args) {
    size_t slash = a.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == a.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "arguments in resource/name form must have a single resource and name: \"", a, "\""));
    }
    BERTH_ASSIGN_OR_RETURN(const KindInfo* kind, Kind(a.substr(0, slash)));
    if (out.kind == nullptr) out.kind = kind;
    out.refs.push_back({kind, a.substr(slash + 1)});
  }
  return out;
}

void SplitMetadataArgs(const std::vector<std::string>& args, std::vector<std::string>* resources,
                       std::vector<std::string>* changes) {
  for (const std::string& a : args) {
    bool change = a.find('=') != std::string::npos || (!a.empty() && a.back() == '-');
    (change ? changes : resources)->push_back(a);
  }
}

absl::StatusOr<std::vector<MetadataChange>> ParseMetadataChanges(
    const std::vector<std::string>& args) {
  std::vector<MetadataChange> out;
  for (const std::string& a : args) {
    size_t eq = a.find('=');
    MetadataChange c;
    if (eq != std::string::npos) {
      c.key = a.substr(0, eq);
      c.value = a.substr(eq + 1);
    } else {
      c.key = a.substr(0, a.size() - 1);
    }
    if (c.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid label or annotation: \"", a, "\""));
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<bool> ApplyMetadataChanges(Json& map, const std::vector<MetadataChange>& changes,
                                          bool overwrite, const std::string& what,
                                          std::vector<std::string>* warnings) {
  if (!map.is_object()) map = Json::object();
  bool changed = false;
  for (const MetadataChange& c : changes) {
    bool has = map.contains(c.key);
    if (!c.value.has_value()) {
      if (!has) {
        warnings->push_back(absl::StrCat(what, " \"", c.key, "\" not found."));
        continue;
      }
      map.erase(c.key);
      changed = true;
      continue;
    }
    std::string old = has && map[c.key].is_string() ? map[c.key].get<std::string>() : "";
    if (has && old == *c.value) continue;
    if (has && !overwrite) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", c.key, "' already has a value (", old, "), and --overwrite is false"));
    }
    map[c.key] = *c.value;
    changed = true;
  }
  return changed;
}

absl::StatusOr<absl::Duration> ParseTimeout(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  int64_t secs;
  if (absl::SimpleAtoi(t, &secs) && secs >= 0) return absl::Seconds(secs);
  absl::Duration d;
  if (!absl::ParseDuration(t, &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid duration \"", text, "\""));
  }
  return d;
}

std::string FormatError(const absl::Status& status, const std::string& server) {
  if (IsFromServer(status)) {
    // The controller answered but its store could not (etcd without quorum: "etcd txn at …"):
    // that is the server's error, not a connection failure.
    if (status.code() == absl::StatusCode::kUnavailable &&
        !absl::StartsWith(status.message(), "etcd ")) {
      return absl::StrCat("error: unable to connect to the server at ", server, ": ",
                          OneLine(status.message()));
    }
    return absl::StrCat("Error from server (", ServerReason(status.code()),
                        "): ", OneLine(status.message()));
  }
  return absl::StrCat("error: ", OneLine(status.message()));
}

}  // namespace berth::cli
