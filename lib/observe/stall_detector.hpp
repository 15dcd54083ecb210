// lib/observe/stall_detector.hpp: names the stage where a pipeline is stuck.
//
// A stage is stalled when it made no progress (events in, out, dropped or skipped) for the stall
// timeout while work waited for it: it is inside a handler all that time (a callback that blocks),
// or events wait in its input queue or on their way to it while it is not itself waiting for
// demand downstream. As akka/akka-core#27509 suggests, a stage that merely waits (for demand, or
// for events: a quiet source) is never blamed, so one stuck stage is named, not the whole chain
// behind it. Not thread-safe: one sampler thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "observe/figures.hpp"

namespace sluice::observe {

class stall_detector {
 public:
  using clock = std::chrono::steady_clock;
  explicit stall_detector(clock::duration timeout) : timeout_(timeout) {}

  /// Looks at a new sample: marks the stalled stages in `stages` and returns them. The stalls that
  /// began with this sample (to be logged once) are in began().
  std::vector<stall> update(clock::time_point now, std::vector<stage_figures>& stages, const std::vector<edge_figures>& edges);
  /// The stalls update() found that were not stalled at the sample before.
  [[nodiscard]] const std::vector<stall>& began() const noexcept { return began_; }
  /// The stages that were stalled and progressed again at the last update().
  [[nodiscard]] const std::vector<std::string>& resumed() const noexcept { return resumed_; }

 private:
  struct track {
    std::string stage;
    std::uint64_t progress = 0;
    clock::time_point since;
    bool stalled = false;
  };
  track& tracked(const stage_figures& s, clock::time_point now);

  clock::duration timeout_;
  std::vector<track> tracks_;
  std::vector<stall> began_;
  std::vector<std::string> resumed_;
};

}  // namespace sluice::observe
