// sluice-bench/window_scenarios.hpp: keyed windows (issue 17): window_count, a keyed tumbling-window
// count on sluice's window stage (1 and 2 copies) beside a hand-written hash-map loop.
#pragma once

#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// The window scenarios, in listing order.
std::vector<scenario> window_scenarios();

}  // namespace sluice::bench
