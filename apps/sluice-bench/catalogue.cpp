// sluice-bench/catalogue.cpp: scenario.hpp's functions; the list of every scenario, one line per
// file of scenarios.
#include "cli_observe_scenarios.hpp"
#include "cli_scenarios.hpp"
#include "jetstream_scenarios.hpp"
#include "process_scenarios.hpp"
#include "scenario.hpp"
#include "stage_scenarios.hpp"
#include "window_scenarios.hpp"

#include <iterator>

namespace sluice::bench {

namespace {
void append(std::vector<scenario>& to, std::vector<scenario> more) {
  to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}
}  // namespace

std::vector<scenario> all_scenarios(const settings& s) {
  std::vector<scenario> all;
  append(all, process_scenarios());
  append(all, stage_scenarios());
  append(all, window_scenarios());
  append(all, cli_scenarios(s));
  append(all, jetstream_scenarios(s.sluice_binary));
  append(all, cli_observe_scenarios(s.sluice_binary));  // issue 16
  return all;
}

const char* to_string(better b) noexcept { return b == better::higher ? "higher" : "lower"; }

}  // namespace sluice::bench
