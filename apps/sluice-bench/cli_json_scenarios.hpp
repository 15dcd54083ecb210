// sluice-bench/cli_json_scenarios.hpp: the `sluice` CLI on a generated JSON log beside the programs
// users would run instead (cli_jq, cli_passthrough, cli_partition; issue 18's benchmarks).
#pragma once

#include <string>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// cli_jq, cli_passthrough and cli_partition, in that order, running the binary `sluice`; they
/// share one log, generated on first use.
std::vector<scenario> cli_json_scenarios(const std::string& sluice);

}  // namespace sluice::bench
