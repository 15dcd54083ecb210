// `sluice check`, `sluice graph`, `sluice stages`, `sluice schema`: everything but running.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include <sluice/stage/partition_dispatcher.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "usage.hpp"

namespace sluice::app {

namespace {

using pipeline::option_type;
using pipeline::stage_role;

/// "from A to B", "at least A" or "at most B", as `sluice stages` prints an option's range.
std::string range_text(const pipeline::option_spec& o) {
  const auto number = [](double v) {
    const bool whole = std::abs(v) < 9e15 && v == std::trunc(v);  // 1000, not 1000.0
    return whole ? std::to_string(static_cast<long long>(v)) : json(v).dump();
  };
  if (o.minimum && o.maximum) return "from " + number(*o.minimum) + " to " + number(*o.maximum);
  if (o.minimum) return "at least " + number(*o.minimum);
  return "at most " + number(*o.maximum);
}

json option_schema(const pipeline::option_spec& o) {
  json s = json::object();
  if (o.type != option_type::any) s["type"] = pipeline::to_string(o.type);
  s["description"] = o.description;
  if (o.default_value) s["default"] = *o.default_value;
  if (o.minimum) s["minimum"] = *o.minimum;
  if (o.maximum) s["maximum"] = *o.maximum;
  if (o.min_length) s["minLength"] = *o.min_length;
  if (!o.one_of.empty()) s["enum"] = o.one_of;
  // The loader's collision rule for the value (see pipeline::option_claim).
  if (o.claim != pipeline::option_claim::none) s["x-sluice-claim"] = o.claim == pipeline::option_claim::exclusive ? "exclusive" : "shared";
  if (o.claim != pipeline::option_claim::none && o.claims_file) s["x-sluice-claim-file"] = true;
  return s;
}

json options_schema(const pipeline::stage_type& t) {
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

/// A numeric engine key: its range from the loader's own table (pipeline::engine_key_ranges).
json ranged(const pipeline::key_range& r, std::optional<json> default_value = std::nullopt) {
  auto bound = [](double b) { return b == std::floor(b) ? json(static_cast<std::int64_t>(b)) : json(b); };  // 1, not 1.0
  json s = {{"type", r.integer ? "integer" : "number"}, {"maximum", bound(r.maximum)}};
  s[r.exclusive_minimum ? "exclusiveMinimum" : "minimum"] = bound(r.minimum);
  if (default_value) s["default"] = *default_value;
  return s;
}

namespace ranges = pipeline::engine_key_ranges;

/// A `subscribe_to` entry.
json subscription_schema() {
  return {{"oneOf",
           {{{"type", "string"}},
            {{"type", "object"},
             {"required", {"stage"}},
             {"additionalProperties", false},
             {"properties",
              {{"stage", {{"type", "string"}}},
               {"max_demand", ranged(ranges::max_demand, 1000)},
               {"min_demand", ranged(ranges::min_demand)},
               {"cancel", {{"enum", {"permanent", "transient", "temporary"}}}},
               {"partition", {{"type", "integer"}, {"minimum", 0}}}}}}}}};
}

json dispatcher_schema() {
  return {{"oneOf",
           {{{"enum", {"demand", "broadcast", "partition"}}},
            {{"type", "object"},
             {"required", {"type"}},
             {"additionalProperties", false},
             {"properties",
              {{"type", {{"enum", {"demand", "broadcast", "partition"}}}},
               {"partitions", ranged(ranges::partitions)},
               {"key", {{"type", "string"}}},
               {"max_queued", ranged(ranges::max_queued, partition_dispatcher<json>::options{}.max_queued)},
               {"shuffle_demands_on_first_dispatch", {{"type", "boolean"}}}}}}}}};
}

json restart_schema() {
  return {{"type", "object"},
          {"description", "restart an instance that exits abnormally, at most max_restarts times within max_seconds"},
          {"additionalProperties", false},
          {"properties",
           {{"max_restarts", ranged(ranges::max_restarts, pipeline::restart_spec{}.max_restarts)},
            {"max_seconds", ranged(ranges::max_seconds, pipeline::restart_spec{}.max_seconds)}}}};
}

/// A stage: its engine keys, and one branch per stage type for `type` and `options`.
json stage_schema(const pipeline::registry& r) {
  json variants = json::array();
  for (auto& [name, types] : r.types()) {
    for (auto& t : types) {
      variants.push_back({{"type", "object"},
                          {"description", std::string(pipeline::to_string(t.role)) + ": " + t.description},
                          {"required", {"type"}},
                          {"properties", {{"type", {{"const", name}}}, {"options", options_schema(t)}}}});
    }
  }
  const json subscription = subscription_schema();
  return {{"type", "object"},
          {"required", {"type"}},
          {"additionalProperties", false},
          {"properties",
           {{"type", {{"type", "string"}}},
            {"options", {{"type", "object"}}},
            {"description", {{"type", "string"}}},
            {"subscribe_to", {{"oneOf", {subscription, {{"type", "array"}, {"items", subscription}, {"minItems", 1}}}}}},
            {"dispatcher", dispatcher_schema()},
            {"buffer_size", ranged(ranges::buffer_size)},
            {"buffer_keep", {{"enum", {"last", "first"}}}},
            {"concurrency", ranged(ranges::concurrency, 1)},
            {"restart", restart_schema()}}},
          {"allOf", {{{"anyOf", variants}}}}};
}

/// The JSON Schema of a pipeline file, made from the registry.
json pipeline_schema(const pipeline::registry& r) {
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"title", "sluice pipeline (format version 1)"},
          {"type", "object"},
          {"required", {"version", "stages"}},
          {"additionalProperties", false},
          {"properties",
           {{"version", {{"const", 1}}},
            {"name", {{"type", "string"}}},
            {"description", {{"type", "string"}}},
            {"stages", {{"type", "object"}, {"minProperties", 1}, {"additionalProperties", stage_schema(r)}}}}}};
}

std::string dot_id(const std::string& s) { return json(s).dump(); }

}  // namespace

int check_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_options("check", args, true, {"--set", "--plugin"}, err);
  if (!o) return exit_usage;
  if (o->help) return print_help("check", out);
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, err)) return exit_usage;
  auto spec = load_or_report(*o, types, err);
  if (!spec) return exit_usage;
  out << o->file << ": ok (" << spec->stages.size() << " stages)\n";
  return exit_ok;
}

int graph_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_options("graph", args, true, {"--set", "--plugin", "--format"}, err);
  if (!o) return exit_usage;
  if (o->help) return print_help("graph", out);
  if (o->format != "dot" && o->format != "mermaid") {
    err << "sluice: --format is dot or mermaid, not '" << o->format << "'\n";
    return exit_usage;
  }
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, err)) return exit_usage;
  auto spec = load_or_report(*o, types, err);
  if (!spec) return exit_usage;
  const bool dot = o->format == "dot";
  out << (dot ? "digraph " + dot_id(spec->name.empty() ? "pipeline" : spec->name) + " {\n  rankdir=LR;\n" : "flowchart LR\n");
  for (auto& s : spec->stages) {
    const std::string label = s.name + " (" + s.type + (s.concurrency > 1 ? " x" + std::to_string(s.concurrency) : "") + ")";
    if (dot) out << "  " << dot_id(s.name) << " [label=" << dot_id(label) << "];\n";
    else out << "  " << s.name << "[\"" << label << "\"]\n";
  }
  for (auto& s : spec->stages) {
    for (auto& sub : s.subscribe_to) {
      if (dot) out << "  " << dot_id(sub.stage) << " -> " << dot_id(s.name) << ";\n";
      else out << "  " << sub.stage << " --> " << s.name << "\n";
    }
  }
  if (dot) out << "}\n";
  return exit_ok;
}

int stages_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_options("stages", args, false, {"--plugin", "--json"}, err);
  if (!o) return exit_usage;
  if (o->help) return print_help("stages", out);
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, err)) return exit_usage;
  if (o->json_output) {
    json all = json::array();
    for (auto& [name, variants] : types.types()) {
      for (auto& t : variants) {
        all.push_back({{"type", name}, {"role", pipeline::to_string(t.role)}, {"description", t.description}, {"options", options_schema(t)}});
      }
    }
    out << all.dump(2) << "\n";
    return exit_ok;
  }
  for (auto& [name, variants] : types.types()) {
    for (auto& t : variants) {
      out << name << " (" << pipeline::to_string(t.role) << ")\n  " << t.description << "\n";
      for (auto& opt : t.options) {
        out << "    " << opt.name << ": " << pipeline::to_string(opt.type) << (opt.required ? ", required" : "");
        if (opt.default_value) out << ", default " << opt.default_value->dump();
        if (opt.minimum || opt.maximum) out << ", " << range_text(opt);
        if (opt.min_length) out << ", at least " << *opt.min_length << " character" << (*opt.min_length == 1 ? "" : "s");
        if (!opt.one_of.empty()) {
          out << ", one of";
          for (auto& c : opt.one_of) out << " " << c;
        }
        if (opt.claim == pipeline::option_claim::exclusive) out << ", held by one stage alone";
        if (opt.claim == pipeline::option_claim::shared) out << ", shareable, but not with a stage holding it alone";
        if (opt.claim != pipeline::option_claim::none && opt.claims_file) out << " (compared as files)";
        out << "\n      " << opt.description << "\n";
      }
    }
  }
  return exit_ok;
}

int schema_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto o = parse_options("schema", args, false, {"--plugin"}, err);
  if (!o) return exit_usage;
  if (o->help) return print_help("schema", out);
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, err)) return exit_usage;
  out << pipeline_schema(types).dump(2) << "\n";
  return exit_ok;
}

}  // namespace sluice::app
