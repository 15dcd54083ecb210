// `sluice check`, `sluice graph`, `sluice stages`, `sluice schema`: everything but running.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/schema.hpp>

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
    for (auto& sub : s.subscribe_to) {  // a dead-letter edge (on_error.dead_letter) is dashed and labelled
      if (dot) out << "  " << dot_id(sub.stage) << " -> " << dot_id(s.name) << (sub.dead_letters ? " [style=dashed, label=\"dead letters\"]" : "") << ";\n";
      else out << "  " << sub.stage << (sub.dead_letters ? " -. dead letters .-> " : " --> ") << s.name << "\n";
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
        all.push_back({{"type", name}, {"role", pipeline::to_string(t.role)}, {"description", t.description},
                       {"options", pipeline::options_schema(t)}, {"routes_failures", t.routes_failures}});
      }
    }
    out << all.dump(2) << "\n";
    return exit_ok;
  }
  for (auto& [name, variants] : types.types()) {
    for (auto& t : variants) {
      out << name << " (" << pipeline::to_string(t.role) << ")\n  " << t.description << "\n";
      if (t.routes_failures) out << "  takes \"on_error\" (retries, dead letters)\n";
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
  out << pipeline::pipeline_schema(types).dump(2) << "\n";
  return exit_ok;
}

}  // namespace sluice::app
