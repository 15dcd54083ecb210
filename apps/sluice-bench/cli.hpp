// sluice-bench/cli.hpp: command-line options and the program itself.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// What the command line asked for.
struct options {
  std::vector<std::string> scenarios;  ///< by name, in order, no duplicates; empty means all
  unsigned runs = 5;
  std::string json_path;  ///< where to write the JSON report; empty means nowhere
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

/// The whole program: parses `args`, then lists, or runs the selected scenarios, prints the table
/// to `out` (progress and errors to `err`) and writes the JSON file. Returns the exit code: 0
/// success, 1 a run failed or the JSON file could not be written, 2 usage error or unknown scenario.
int run_cli(const std::vector<std::string_view>& args, const std::vector<scenario>& catalogue,
            std::ostream& out, std::ostream& err);

}  // namespace sluice::bench
