#include "waiter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/jsonpath.h"
#include "berth/status_macros.h"
#include "printers.h"

namespace berth::cli {
namespace {

absl::StatusOr<WaitCondition> ParseJsonPathFor(const std::string& expr) {
  WaitCondition c;
  c.type = WaitCondition::Type::kJsonPath;
  std::string path = expr;
  size_t split;
  if (!path.empty() && path[0] == '{') {
    size_t close = path.find('}');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("unclosed '{' in --for=jsonpath=", expr));
    }
    split = close + 1 < path.size() && path[close + 1] == '=' ? close + 1 : std::string::npos;
    if (split == std::string::npos && close + 1 != path.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("jsonpath wait format must be --for=jsonpath='{.status.x}'=VALUE: ", expr));
    }
  } else {
    split = path.find('=');
  }
  if (split != std::string::npos) {
    c.value = path.substr(split + 1);
    c.has_value = true;
    path = path.substr(0, split);
  }
  if (path.empty()) return absl::InvalidArgumentError("jsonpath wait needs a path");
  c.target = path[0] == '{' ? path : absl::StrCat("{", path, "}");
  return c;
}

bool EqualFold(const std::string& a, const std::string& b) { return absl::EqualsIgnoreCase(a, b); }

}  // namespace

absl::StatusOr<WaitCondition> ParseWaitFor(const std::string& text) {
  WaitCondition c;
  if (absl::EqualsIgnoreCase(text, "delete")) return c;
  if (absl::StartsWithIgnoreCase(text, "condition=")) {
    std::string rest = text.substr(10);
    c.type = WaitCondition::Type::kCondition;
    size_t eq = rest.find('=');
    c.target = rest.substr(0, eq);
    c.value = eq == std::string::npos ? "true" : rest.substr(eq + 1);
    c.has_value = true;
    if (c.target.empty()) return absl::InvalidArgumentError("--for=condition= needs a type");
    return c;
  }
  if (absl::StartsWithIgnoreCase(text, "jsonpath=")) return ParseJsonPathFor(text.substr(9));
  return absl::InvalidArgumentError(absl::StrCat(
      "unrecognized condition: \"", text,
      "\" (use --for=delete, --for=condition=TYPE[=VALUE] or --for=jsonpath='{PATH}'=VALUE)"));
}

bool ConditionMet(const WaitCondition& cond, const Json& object) {
  if (cond.type == WaitCondition::Type::kJsonPath) {
    auto got = EvaluateJsonPath(object, cond.target);
    if (!got.ok()) return false;
    return cond.has_value ? *got == cond.value : !got->empty();
  }
  if (cond.type != WaitCondition::Type::kCondition) return false;
  Json conds = JsonAt(object, "/status/conditions");
  if (!conds.is_array()) return false;
  Json generation = JsonAt(object, "/metadata/generation");
  for (const Json& c : conds) {
    if (!c.is_object() || !EqualFold(c.value("type", ""), cond.target)) continue;
    if (c.contains("observedGeneration") && c["observedGeneration"].is_number() &&
        generation.is_number() &&
        c["observedGeneration"].get<int64_t>() < generation.get<int64_t>()) {
      return false;
    }
    return EqualFold(c.value("status", ""), cond.value);
  }
  return false;
}

namespace {

// Returns whether the object as read now meets the condition.
absl::StatusOr<bool> CheckOnce(ResourceClient& client, const ResourceRef& ref,
                               const std::string& ns, const WaitCondition& cond) {
  auto obj = client.Get(ref.kind->kind, ns, ref.name);
  bool for_delete = cond.type == WaitCondition::Type::kDelete;
  if (!obj.ok()) {
    if (for_delete && obj.status().code() == absl::StatusCode::kNotFound) return true;
    return obj.status();
  }
  return !for_delete && ConditionMet(cond, *obj);
}

// Watches one slice; returns whether an event met the condition, or the watch's error when the
// watch itself failed (not merely timed out).
absl::StatusOr<bool> WatchSlice(ResourceClient& client, const ResourceRef& ref,
                                const std::string& ns, const WaitCondition& cond,
                                absl::Time until) {
  bool met = false;
  WatchQuery q{ref.kind->kind, ns, false, ref.name, ""};
  absl::Status st = client.Watch(q, until, [&](const WatchEvent& ev) {
    if (JsonString(ev.object, "/metadata/name") != ref.name) return true;
    if (cond.type == WaitCondition::Type::kDelete) {
      met = ev.type == "DELETED";
    } else {
      met = ev.type != "DELETED" && ConditionMet(cond, ev.object);
    }
    return !met;
  });
  if (!met && !st.ok() && st.code() != absl::StatusCode::kDeadlineExceeded) return st;
  return met;
}

}  // namespace

absl::Status WaitForObject(ResourceClient& client, const ResourceRef& ref, const std::string& ns,
                           const WaitCondition& cond, absl::Time deadline,
                           const WaitTiming& timing) {
  bool watch_broken = false;
  while (true) {
    BERTH_ASSIGN_OR_RETURN(bool met, CheckOnce(client, ref, ns, cond));
    if (met) return absl::OkStatus();
    absl::Time now = timing.clock->Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("timed out waiting for the condition on ", ref.kind->plural, "/", ref.name));
    }
    if (!watch_broken) {
      absl::StatusOr<bool> watched =
          WatchSlice(client, ref, ns, cond, std::min(deadline, now + kWatchSlice));
      if (!watched.ok()) {
        watch_broken = true;  // poll from now on
      } else if (*watched) {
        return absl::OkStatus();
      }
    } else {
      timing.sleep(std::min(kPollInterval, deadline - now));
    }
  }
}

}  // namespace berth::cli
