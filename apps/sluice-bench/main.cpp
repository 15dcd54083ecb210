// sluice-bench: runs the benchmark scenarios; see cli.hpp and `sluice-bench --help`.
#include <iostream>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "scenario.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  return sluice::bench::run_cli(args, sluice::bench::all_scenarios, std::cout, std::cerr);
}
