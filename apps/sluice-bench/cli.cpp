// sluice-bench/cli.cpp: argument parsing, scenario selection, listing and the JSON file.
//
// SLUICE_BENCH_SLUICE_BIN, the default for --sluice, comes from apps/sluice-bench/meson.build.
#include "cli.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <ostream>

#include "harness.hpp"
#include "machine.hpp"
#include "report.hpp"

namespace sluice::bench {

namespace {

constexpr unsigned max_runs = 1000;

/// Splits `--name=value` into its two halves; a bare `--name` has no value.
std::pair<std::string_view, std::optional<std::string_view>> split_option(std::string_view arg) {
  const auto eq = arg.find('=');
  if (!arg.starts_with("--") || eq == std::string_view::npos) return {arg, std::nullopt};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

std::optional<unsigned> parse_runs(std::string_view text) {
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n == 0 || n > max_runs) {
    return std::nullopt;
  }
  return n;
}

void add_scenario(options& o, std::string_view name) {
  if (std::find(o.scenarios.begin(), o.scenarios.end(), name) == o.scenarios.end()) {
    o.scenarios.emplace_back(name);
  }
}

/// Applies the option `name` with `value` to `o`; an error message if it is not valid.
std::optional<std::string> apply_valued(options& o, std::string_view name, std::string_view value) {
  if (name == "--scenario") {
    if (value.empty()) return "--scenario needs a name";
    add_scenario(o, value);
  } else if (name == "--runs") {
    const auto n = parse_runs(value);
    if (!n) return "--runs needs an integer from 1 to " + std::to_string(max_runs) + ", got '" +
                   std::string(value) + "'";
    o.runs = *n;
  } else if (name == "--system") {
    if (value.empty()) return "--system needs a name";
    if (std::find(o.systems.begin(), o.systems.end(), value) == o.systems.end()) o.systems.emplace_back(value);
  } else if (name == "--sluice") {
    if (value.empty()) return "--sluice needs a path";
    o.scenario_settings.sluice_binary = value;
  } else {
    if (value.empty()) return "--json needs a file name";
    o.json_path = value;
  }
  return std::nullopt;
}

bool takes_value(std::string_view name) {
  return name == "--scenario" || name == "--system" || name == "--runs" || name == "--json" || name == "--sluice";
}

/// Applies the flag `name` (an option without a value) to `o`; false if there is no such flag.
bool apply_flag(options& o, std::string_view name) {
  if (name == "--list") {
    o.list = true;
  } else if (name == "--help" || name == "-h") {
    o.help = true;
  } else {
    return false;
  }
  return true;
}

void list_scenarios(std::ostream& out, const std::vector<scenario>& catalogue) {
  for (const scenario& sc : catalogue) {
    std::string systems;
    for (const system_run& s : sc.systems) systems += (systems.empty() ? "" : ", ") + s.system;
    out << sc.name << "\n  " << sc.description << "\n  systems: " << systems << '\n';
  }
}

/// Writes the JSON report; false (with a message on `err`) if the file could not be written.
bool write_json(const std::string& path, const report& rep, std::ostream& err) {
  std::ofstream file(path);
  file << to_json(rep, describe_machine()).dump(2) << '\n';
  file.close();
  if (!file) {
    err << "sluice-bench: cannot write " << path << '\n';
    return false;
  }
  return true;
}

int run_selected(const options& o, const std::vector<scenario>& selected, std::ostream& out,
                 std::ostream& err) {
  const report rep = run_scenarios(selected, o.runs, err);
  print_table(out, rep);
  const bool written = o.json_path.empty() || write_json(o.json_path, rep, err);
  return rep.failures.empty() && written ? 0 : 1;
}

}  // namespace

std::string default_sluice_binary() { return SLUICE_BENCH_SLUICE_BIN; }

std::string usage() {
  return "usage: sluice-bench [--scenario NAME]... [--system NAME]... [--runs N] [--json FILE]\n"
         "                    [--sluice PATH]\n"
         "       sluice-bench --list\n"
         "\n"
         "Runs the named scenarios (all when none is named) N times each (default 5), prints\n"
         "median/min/max per system and the ratio sluice/baseline, and with --json writes them\n"
         "to FILE. --system keeps only the named systems (e.g. sluice, to profile it alone). The cli_* scenarios run the sluice binary at PATH (default: the one built\n"
         "beside sluice-bench, " + default_sluice_binary() + ").\n";
}

std::variant<options, std::string> parse_args(const std::vector<std::string_view>& args) {
  options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto [name, value] = split_option(args[i]);
    if (!takes_value(name)) {
      if (value || !apply_flag(o, name)) return "unknown argument '" + std::string(args[i]) + "'";
      continue;
    }
    if (!value) {
      if (i + 1 == args.size()) return std::string(name) + " needs a value";
      value = args[++i];
    }
    if (auto error = apply_valued(o, name, *value)) return *error;
  }
  return o;
}

std::variant<std::vector<scenario>, std::string> select_scenarios(
    const std::vector<scenario>& catalogue, const std::vector<std::string>& names) {
  if (names.empty()) return catalogue;
  std::vector<scenario> selected;
  for (const std::string& name : names) {
    const auto it = std::find_if(catalogue.begin(), catalogue.end(),
                                 [&](const scenario& sc) { return sc.name == name; });
    if (it == catalogue.end()) return "unknown scenario '" + name + "' (see --list)";
    selected.push_back(*it);
  }
  return selected;
}

std::variant<std::vector<scenario>, std::string> select_systems(std::vector<scenario> selected,
                                                                const std::vector<std::string>& systems) {
  if (systems.empty()) return selected;
  std::vector<bool> used(systems.size(), false);
  for (scenario& sc : selected) {
    std::erase_if(sc.systems, [&](const system_run& s) {
      const auto it = std::find(systems.begin(), systems.end(), s.system);
      if (it == systems.end()) return true;
      used[static_cast<std::size_t>(it - systems.begin())] = true;
      return false;
    });
  }
  for (std::size_t i = 0; i < systems.size(); ++i) {
    if (!used[i]) return "no selected scenario has a system '" + systems[i] + "' (see --list)";
  }
  std::erase_if(selected, [](const scenario& sc) { return sc.systems.empty(); });
  return selected;
}

int run_cli(const std::vector<std::string_view>& args, const catalogue_maker& make_catalogue,
            std::ostream& out, std::ostream& err) {
  auto parsed = parse_args(args);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    err << "sluice-bench: " << *error << "\n\n" << usage();
    return 2;
  }
  const options& o = std::get<options>(parsed);
  if (o.help) {
    out << usage();
    return 0;
  }
  const std::vector<scenario> catalogue = make_catalogue(o.scenario_settings);
  if (o.list) {
    list_scenarios(out, catalogue);
    return 0;
  }
  auto selected = select_scenarios(catalogue, o.scenarios);
  if (auto* error = std::get_if<std::string>(&selected)) {
    err << "sluice-bench: " << *error << '\n';
    return 2;
  }
  selected = select_systems(std::get<std::vector<scenario>>(std::move(selected)), o.systems);
  if (auto* error = std::get_if<std::string>(&selected)) {
    err << "sluice-bench: " << *error << '\n';
    return 2;
  }
  return run_selected(o, std::get<std::vector<scenario>>(selected), out, err);
}

}  // namespace sluice::bench
