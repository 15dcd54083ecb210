// lib/pipeline/checker.hpp: what the pipeline loader's checks share: problems collected with their
// positions in the file, and the wording of the common ones.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/engine_keys.hpp>
#include <sluice/pipeline/json_document.hpp>
#include <sluice/pipeline/model.hpp>

namespace sluice::pipeline::internal {

using ojson = nlohmann::ordered_json;

inline std::string q(const std::string& s) { return "\"" + s + "\""; }

inline std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

inline const char* json_type_name(const ojson& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

/// Whether `v` is of the option type `t`.
template <class Json>
bool has_type(const Json& v, option_type t) {
  switch (t) {
    case option_type::integer: return v.is_number_integer();
    case option_type::number: return v.is_number();
    case option_type::string: return v.is_string();
    case option_type::boolean: return v.is_boolean();
    case option_type::object: return v.is_object();
    case option_type::array: return v.is_array();
    case option_type::any: return true;
  }
  return false;
}

/// Whether the number `v` is in `range` (exact for integers: 2^63 is not "about" INT64_MAX).
template <class Json>
bool within(const Json& v, const key_range& range) {
  if (v.is_number_unsigned() && v.template get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) return false;
  const double x = v.template get<double>();
  if (!std::isfinite(x)) return false;
  const bool above_min = range.exclusive_minimum ? x > range.minimum : x >= range.minimum;
  return above_min && x <= range.maximum;
}

/// How a range reads in a message: "an integer from 1 to 1024", "a number above 0 and at most 86400".
inline std::string range_text(const key_range& range) {
  auto text = [](double b) {
    const nlohmann::json j = b == std::floor(b) && std::fabs(b) < 9e15 ? nlohmann::json(static_cast<std::int64_t>(b)) : nlohmann::json(b);
    return j.dump();
  };
  const std::string what = range.integer ? "an integer " : "a number ";
  if (range.exclusive_minimum) return what + "above " + text(range.minimum) + " and at most " + text(range.maximum);
  return what + "from " + text(range.minimum) + " to " + text(range.maximum);
}

/// Collects problems with their positions.
class checker {
 public:
  explicit checker(const json_document& doc) : doc_(doc) {}

  void at_value(const std::string& pointer, std::string problem, std::string expected = {}) {
    diagnostics_.push_back({doc_.where(pointer), pointer, std::move(problem), std::move(expected)});
  }
  void at_key(const std::string& pointer, std::string problem, std::string expected = {}) {
    diagnostics_.push_back({doc_.key_where(pointer), pointer, std::move(problem), std::move(expected)});
  }
  /// Reports keys of `object` (at `pointer`) that are not in `allowed`.
  void known_keys(const ojson& object, const std::string& pointer, const std::vector<std::string>& allowed,
                  const std::string& what) {
    for (auto& [key, value] : object.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        at_key(pointer + "/" + escape_pointer_segment(key), "unknown " + what + " " + q(key),
               "one of: " + join(allowed));
      }
    }
  }
  /// A number in `range` (an integer if the range says so), or a problem naming the range.
  std::optional<double> in_range(const ojson& v, const std::string& pointer, const key_range& range) {
    const bool type_ok = range.integer ? v.is_number_integer() : v.is_number();
    if (type_ok && within(v, range)) return v.get<double>();
    at_value(pointer, "got " + (v.is_number() ? v.dump() : std::string(json_type_name(v))), range_text(range));
    return std::nullopt;
  }
  /// One of `choices`, or a problem.
  std::optional<std::string> choice(const ojson& v, const std::string& pointer, const std::vector<std::string>& choices) {
    std::vector<std::string> shown;
    for (auto& c : choices) shown.push_back(q(c));
    if (!v.is_string() || std::find(choices.begin(), choices.end(), v.get<std::string>()) == choices.end()) {
      at_value(pointer, "got " + v.dump(), "one of " + join(shown));
      return std::nullopt;
    }
    return v.get<std::string>();
  }

  std::vector<diagnostic> take() { return std::move(diagnostics_); }
  [[nodiscard]] std::size_t count() const noexcept { return diagnostics_.size(); }

 private:
  const json_document& doc_;
  std::vector<diagnostic> diagnostics_;
};

/// The names of `scope`'s keys, in the table's order (for "one of: ..." in messages).
inline std::vector<std::string> key_names(key_scope scope) {
  std::vector<std::string> names;
  for (const engine_key& k : engine_key_table) {
    if (k.scope == scope) names.emplace_back(k.name);
  }
  return names;
}

/// A key's allowed strings, as checker::choice takes them.
inline std::vector<std::string> choices_of(const engine_key& k) { return {k.choices.begin(), k.choices.end()}; }

/// "source", "transform or sink", "demand"...: the members of a role or kind set, for messages.
template <class Member>
std::string set_text(key_set set, std::initializer_list<Member> members) {
  std::string out;
  for (Member m : members) {
    if ((set & bit(m)) != 0) out += (out.empty() ? "" : " or ") + std::string(to_string(m));
  }
  return out;
}

/// Checks a leaf engine key's value against its table entry (type, range, choices); false after
/// reporting a problem at `pointer`.
inline bool key_value_fits(checker& check, const engine_key& k, const ojson& v, const std::string& pointer) {
  if (k.range) return check.in_range(v, pointer, *k.range).has_value();
  if (!k.choices.empty()) return check.choice(v, pointer, choices_of(k)).has_value();
  if (has_type(v, k.type)) return true;
  check.at_value(pointer, std::string("got ") + json_type_name(v), k.type == option_type::boolean ? "true or false" : "a " + std::string(to_string(k.type)));
  return false;
}

/// Whether a stage of `s`'s role takes the stage key `key` (engine_key::roles); if not, reports
/// the key with the table's refusal.
bool role_takes(checker& check, const stage_spec& s, std::string_view key);

/// Checks a stage's engine keys (dispatcher, buffer_size, buffer_keep, concurrency, restart) and
/// records them in `s` (lib/pipeline/engine_keys.cpp).
void engine_keys(checker& check, stage_spec& s, const ojson& body);

/// Checks across stages that restarts and subscriptions fit together: a subscription from or to a
/// restarted stage cannot be `cancel: permanent` (a crash on one side would end the other, and a
/// restarted consumer would end at once with a producer that has already finished).
void restart_checks(checker& check, const pipeline_spec& spec);

/// Checks what stages claim (option_claim, type_claim): an exclusive claim belongs to one stage
/// instance, and to no other stage even for a shared use (lib/pipeline/claims.cpp).
void claim_checks(checker& check, const pipeline_spec& spec);

}  // namespace sluice::pipeline::internal
