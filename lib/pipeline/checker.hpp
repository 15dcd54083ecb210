// lib/pipeline/checker.hpp: what the pipeline loader's checks share: problems collected with their
// positions in the file, and the wording of the common ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  /// An integer >= `minimum`, or a problem.
  std::optional<std::int64_t> integer(const ojson& v, const std::string& pointer, std::int64_t minimum) {
    if (!v.is_number_integer()) {
      at_value(pointer, std::string("got ") + json_type_name(v), "an integer >= " + std::to_string(minimum));
      return std::nullopt;
    }
    const auto n = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), INT64_MAX))
                                          : v.get<std::int64_t>();
    if (n < minimum) {
      at_value(pointer, "got " + std::to_string(n), "an integer >= " + std::to_string(minimum));
      return std::nullopt;
    }
    return n;
  }
  /// A number above 0, or a problem.
  std::optional<double> positive_number(const ojson& v, const std::string& pointer) {
    if (!v.is_number() || v.get<double>() <= 0) {
      at_value(pointer, "got " + (v.is_number() ? v.dump() : std::string(json_type_name(v))), "a number above 0");
      return std::nullopt;
    }
    return v.get<double>();
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

/// Checks a stage's engine keys (dispatcher, buffer_size, buffer_keep, concurrency, restart) and
/// records them in `s` (lib/pipeline/engine_keys.cpp).
void engine_keys(checker& check, stage_spec& s, const ojson& body);

/// Checks across stages that restarts and subscriptions fit together: a subscription from or to a
/// restarted stage cannot be `cancel: permanent` (a crash on one side would end the other, and a
/// restarted consumer would end at once with a producer that has already finished).
void restart_checks(checker& check, const pipeline_spec& spec);

}  // namespace sluice::pipeline::internal
