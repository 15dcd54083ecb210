// sluice-bench/cli_observe_scenarios.hpp: what observing a run costs (issue 16): `sluice run --http`
// scraped once a second beside the same run without --http.
#pragma once

#include <string>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// cli_observe_pipeline4, cli_observe_range and cli_observe_jq; they run the binary `sluice`.
std::vector<scenario> cli_observe_scenarios(const std::string& sluice);

}  // namespace sluice::bench
