// sluice-bench/process_scenarios.hpp: scenarios of the process core (spawn_1m, ping_pong,
// send_1to1), each with its `limit` baseline.
#pragma once

#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// The process-core scenarios, in listing order.
std::vector<scenario> process_scenarios();

}  // namespace sluice::bench
