// sluice-bench/cli_scenarios.hpp: scenarios of the `sluice` CLI, the real binary timed as a child
// process (cli_range_null; cli_jq, cli_passthrough and cli_partition from cli_json_scenarios.hpp),
// each beside baselines or peers run the same way.
#pragma once

#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// The CLI scenarios, in listing order; they run the binary `s.sluice_binary`.
std::vector<scenario> cli_scenarios(const settings& s);

}  // namespace sluice::bench
