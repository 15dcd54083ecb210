// sluice-bench/cli.hpp: command-line options and the program itself.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// The `sluice` binary built beside sluice-bench in the same build tree (a path meson passes in).
std::string default_sluice_binary();

/// What the command line asked for.
struct options {
  std::vector<std::string> scenarios;  ///< by name, in order, no duplicates; empty means all
  std::vector<std::string> systems;    ///< only these systems of each scenario; empty means all
  unsigned runs = 5;
  std::string json_path;  ///< where to write the JSON report; empty means nowhere
  settings scenario_settings = {.sluice_binary = default_sluice_binary()};  ///< --sluice
  bool list = false;
  bool help = false;
};

/// The usage text, ending in a newline.
std::string usage();

/// The options in `args` (the arguments without the program name), or why they are not valid.
std::variant<options, std::string> parse_args(const std::vector<std::string_view>& args);

/// The scenarios of `catalogue` named in `names` (all when `names` is empty), in that order, or an
/// error naming the first unknown name.
std::variant<std::vector<scenario>, std::string> select_scenarios(
    const std::vector<scenario>& catalogue, const std::vector<std::string>& names);

/// `selected` with only the systems named in `systems` (all when empty); scenarios left with no
/// system are dropped. An error if a name matches no system of any selected scenario.
std::variant<std::vector<scenario>, std::string> select_systems(std::vector<scenario> selected,
                                                                const std::vector<std::string>& systems);

/// Makes the list of every scenario for the settings the command line gave (all_scenarios).
using catalogue_maker = std::function<std::vector<scenario>(const settings&)>;

/// The whole program: parses `args`, then lists, or runs the selected scenarios of the catalogue
/// `make_catalogue` makes, prints the table to `out` (progress and errors to `err`) and writes the
/// JSON file. Returns the exit code: 0 success (a skipped scenario is not a failure), 1 a run
/// failed or the JSON file could not be written, 2 usage error or unknown scenario.
int run_cli(const std::vector<std::string_view>& args, const catalogue_maker& make_catalogue,
            std::ostream& out, std::ostream& err);

}  // namespace sluice::bench
