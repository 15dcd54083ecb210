// `sluice schema`: the JSON Schema of a pipeline file, generated from engine_key_table (the table
// the loader checks files against) and the registry's stage types.
#include <sluice/pipeline/schema.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include <sluice/pipeline/engine_keys.hpp>

namespace sluice::pipeline {

namespace {

json option_schema(const option_spec& o) {
  json s = json::object();
  if (o.type != option_type::any) s["type"] = to_string(o.type);
  s["description"] = o.description;
  if (o.default_value) s["default"] = *o.default_value;
  if (o.minimum) s["minimum"] = *o.minimum;
  if (o.maximum) s["maximum"] = *o.maximum;
  if (o.min_length) s["minLength"] = *o.min_length;
  if (!o.one_of.empty()) s["enum"] = o.one_of;
  // The loader's collision rule for the value (see option_claim).
  if (o.claim != option_claim::none) s["x-sluice-claim"] = o.claim == option_claim::exclusive ? "exclusive" : "shared";
  if (o.claim != option_claim::none && o.claims_file) s["x-sluice-claim-file"] = true;
  return s;
}

/// A whole number as an integer (1, not 1.0).
json number(double n) { return n == std::floor(n) && std::fabs(n) < 9e15 ? json(static_cast<std::int64_t>(n)) : json(n); }

json default_of(const key_default& d) {
  switch (d.type) {
    case key_default::kind::number: return number(d.number);
    case key_default::kind::boolean: return d.boolean;
    case key_default::kind::text: return std::string(d.text);
    case key_default::kind::none: break;
  }
  return nullptr;
}

json strings(std::span<const std::string_view> items) {
  json out = json::array();
  for (std::string_view i : items) out.push_back(std::string(i));
  return out;
}

/// A key that is a plain value: its type, range or choices, and default.
json leaf_schema(const engine_key& k) {
  json s = json::object();
  if (k.range) {
    s["type"] = k.range->integer ? "integer" : "number";
    s[k.range->exclusive_minimum ? "exclusiveMinimum" : "minimum"] = number(k.range->minimum);
    s["maximum"] = number(k.range->maximum);
  } else if (!k.choices.empty()) {
    s["enum"] = strings(k.choices);
  } else if (k.type != option_type::any) {
    s["type"] = to_string(k.type);
  }
  if (k.default_value.type != key_default::kind::none) s["default"] = default_of(k.default_value);
  return s;
}

/// An object of `scope`'s keys that `takes` accepts, with `required` first in its required list.
template <class Takes>
json scope_object(key_scope scope, json required, Takes takes) {
  json props = json::object();
  for (const engine_key& k : engine_key_table) {
    if (k.scope != scope || !takes(k)) continue;
    props[std::string(k.name)] = leaf_schema(k);
    if (k.required && std::find(required.begin(), required.end(), std::string(k.name)) == required.end()) required.push_back(std::string(k.name));
  }
  json s = {{"type", "object"}, {"additionalProperties", false}, {"properties", props}};
  if (!required.empty()) s["required"] = required;
  return s;
}

json subscription_schema() {
  const json entry = {{"oneOf", {{{"type", "string"}}, scope_object(key_scope::subscription, json::array(), [](auto&) { return true; })}}};
  return {{"oneOf", {entry, {{"type", "array"}, {"items", entry}, {"minItems", 1}}}}};
}

/// A kind by name alone (when it needs no key), or an object with its kind's keys only.
json dispatcher_schema() {
  json bare = json::array();
  json branches = json::array();
  for (dispatcher_kind kind : {dispatcher_kind::demand, dispatcher_kind::broadcast, dispatcher_kind::partition}) {
    bool needs_keys = false;
    json object = scope_object(key_scope::dispatcher, json::array({"type"}), [&](const engine_key& k) {
      const bool takes = k.name != "type" && (k.kinds & bit(kind)) != 0;
      needs_keys = needs_keys || (takes && k.required);
      return takes;
    });
    object["properties"]["type"] = {{"const", std::string(to_string(kind))}};
    branches.push_back(object);
    if (!needs_keys) bare.push_back(std::string(to_string(kind)));
  }
  branches.insert(branches.begin(), json::object({{"enum", bare}}));
  return {{"oneOf", branches}};
}

json restart_schema(const engine_key& k) {
  json s = scope_object(key_scope::restart, json::array(), [](auto&) { return true; });
  s["description"] = std::string(k.description);
  return s;
}

/// "fail", "skip", or {"retry": {max, backoff_ms, max_backoff_ms}, "dead_letter": stage}.
json on_error_schema() {
  json object = scope_object(key_scope::on_error, json::array(), [](auto&) { return true; });
  object["properties"]["retry"] = scope_object(key_scope::retry, json::array(), [](auto&) { return true; });
  object["properties"]["retry"]["description"] = std::string(engine_key_of(key_scope::on_error, "retry").description);
  object["properties"]["dead_letter"]["minLength"] = 1;
  object["properties"]["dead_letter"]["description"] = std::string(engine_key_of(key_scope::on_error, "dead_letter").description);
  return {{"oneOf", {leaf_schema(engine_key_of(key_scope::stage, "on_error")), object}}};
}

/// One stage-level key, with its description.
json stage_key_schema(const engine_key& k) {
  json s = k.name == "subscribe_to" ? subscription_schema()
           : k.name == "dispatcher" ? dispatcher_schema()
           : k.name == "restart"    ? restart_schema(k)
           : k.name == "on_error"   ? on_error_schema()
                                    : leaf_schema(k);
  s["description"] = std::string(k.description) + (k.default_note.empty() ? "" : " (default: " + std::string(k.default_note) + ")");
  return s;
}

/// What a stage of type `t` may and must have: its type by name, its options, and the engine keys
/// of its role (the others refused: a sink has no dispatcher, a source no subscribe_to).
json variant_schema(const std::string& name, const stage_type& t) {
  json required = {"type"};
  json refused = json::array();
  for (const engine_key& k : engine_key_table) {
    if (k.scope != key_scope::stage || k.name == "type") continue;
    const bool refuses = (k.roles & bit(t.role)) == 0 || (k.name == "on_error" && !t.routes_failures);
    if (refuses) refused.push_back({{"required", {std::string(k.name)}}});
    else if (k.required) required.push_back(std::string(k.name));
  }
  json s = {{"type", "object"},
            {"description", std::string(to_string(t.role)) + ": " + t.description},
            {"required", required},
            {"properties", {{"type", {{"const", name}}}, {"options", options_schema(t)}}}};
  if (!refused.empty()) s["not"] = {{"anyOf", refused}};
  return s;
}

/// A stage: its engine keys, and one branch per stage type and role for the rest.
json stage_schema(const registry& r) {
  json variants = json::array();
  for (auto& [name, types] : r.types()) {
    for (auto& t : types) variants.push_back(variant_schema(name, t));
  }
  json props = json::object();
  json required = json::array();
  for (const engine_key& k : engine_key_table) {
    if (k.scope != key_scope::stage) continue;
    props[std::string(k.name)] = stage_key_schema(k);
    if (k.required && (k.roles == every_role)) required.push_back(std::string(k.name));
  }
  return {{"type", "object"}, {"required", required}, {"additionalProperties", false}, {"properties", props}, {"allOf", {{{"anyOf", variants}}}}};
}

}  // namespace

json options_schema(const stage_type& t) {
  json props = json::object();
  json required = json::array();
  for (auto& o : t.options) {
    props[o.name] = option_schema(o);
    if (o.required) required.push_back(o.name);
  }
  json s = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

json pipeline_schema(const registry& r) {
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"title", "sluice pipeline (format version 1)"},
          {"type", "object"},
          {"required", {"version", "stages"}},
          {"additionalProperties", false},
          {"properties",
           {{"version", {{"const", 1}}},
            {"name", {{"type", "string"}}},
            {"description", {{"type", "string"}}},
            {"http", {{"type", "string"}, {"pattern", "^.+:[0-9]{1,5}$"}}},
            {"stages", {{"type", "object"}, {"minProperties", 1}, {"additionalProperties", stage_schema(r)}}}}}};
}

}  // namespace sluice::pipeline
