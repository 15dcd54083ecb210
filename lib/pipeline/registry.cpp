#include <sluice/pipeline/registry.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "pipeline/checker.hpp"

namespace sluice::pipeline {

const char* to_string(stage_role r) noexcept {
  switch (r) {
    case stage_role::source: return "source";
    case stage_role::transform: return "transform";
    case stage_role::sink: return "sink";
  }
  return "?";
}

const char* to_string(option_type t) noexcept {
  switch (t) {
    case option_type::integer: return "integer";
    case option_type::number: return "number";
    case option_type::string: return "string";
    case option_type::boolean: return "boolean";
    case option_type::object: return "object";
    case option_type::array: return "array";
    case option_type::any: return "any";
  }
  return "?";
}

namespace {

/// Why an option's default does not fit the option itself (its type, range, length, choices):
/// the loader never checks defaults, so a bad one would reach the stage unchecked.
std::optional<std::string> default_problem(const option_spec& o) {
  if (!o.default_value || o.default_value->is_null()) return std::nullopt;
  const json& v = *o.default_value;
  if (!internal::has_type(v, o.type)) return "default " + v.dump() + " is not of its type " + to_string(o.type);
  const double inf = std::numeric_limits<double>::infinity();
  const key_range range{o.minimum.value_or(-inf), o.maximum.value_or(inf), o.type == option_type::integer};
  if (v.is_number() && !internal::within(v, range)) return "default " + v.dump() + " is outside its range";
  if (!v.is_string()) return std::nullopt;
  const std::string& text = v.get_ref<const std::string&>();
  if (o.min_length && text.size() < *o.min_length) return "default " + v.dump() + " is shorter than its min_length";
  if (!o.one_of.empty() && std::find(o.one_of.begin(), o.one_of.end(), text) == o.one_of.end()) {
    return "default " + v.dump() + " is not one of its choices";
  }
  return std::nullopt;
}

}  // namespace

void registry::add(stage_type type) {
  if (type.name.empty()) throw std::invalid_argument("sluice: a stage type needs a name");
  if (!type.start) throw std::invalid_argument("sluice: stage type '" + type.name + "' has no start function");
  for (const option_spec& o : type.options) {
    if (auto problem = default_problem(o)) {
      throw std::invalid_argument("sluice: stage type '" + type.name + "', option '" + o.name + "': " + *problem);
    }
  }
  auto& variants = types_[type.name];
  for (auto& v : variants) {
    if (v.role == type.role) {
      throw std::invalid_argument("sluice: stage type '" + type.name + "' is already registered as a " + to_string(type.role));
    }
  }
  variants.push_back(std::move(type));
}

const stage_type* registry::find(const std::string& name, stage_role role) const {
  auto it = types_.find(name);
  if (it == types_.end() || it->second.empty()) return nullptr;
  for (auto& v : it->second) {
    if (v.role == role) return &v;
  }
  return it->second.size() == 1 ? &it->second.front() : nullptr;
}

namespace {
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::optional<std::string> registry::nearest(const std::string& name) const {
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (auto& [candidate, variants] : types_) {
    const std::size_t d = edit_distance(name, candidate);
    if (!best || d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  // Only a plausible typo is worth suggesting.
  if (best && best_distance > std::max<std::size_t>(2, name.size() / 2)) return std::nullopt;
  return best;
}

}  // namespace sluice::pipeline
