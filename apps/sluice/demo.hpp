// apps/sluice/demo.hpp: `sluice demo`, processes under a supervisor, narrated.
#pragma once

#include <ostream>

namespace sluice::app {

/// Runs the demo, narrating to `out`; returns the process exit code.
int run_demo(std::ostream& out);

}  // namespace sluice::app
