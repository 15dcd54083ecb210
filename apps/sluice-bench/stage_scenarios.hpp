// sluice-bench/stage_scenarios.hpp: scenarios of the stage layer (producer_consumer, pipeline4,
// partition4, broadcast4, bounded_memory), each with its `limit` and `tbb_flow` baselines.
#pragma once

#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// The stage scenarios, in listing order.
std::vector<scenario> stage_scenarios();

}  // namespace sluice::bench
