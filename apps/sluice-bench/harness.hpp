// sluice-bench/harness.hpp: runs scenarios several times and summarises what they measured.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace sluice::bench {

/// Median, min and max of one metric over the runs that produced it.
struct summary {
  double median = 0;
  double min = 0;
  double max = 0;
  unsigned runs = 0;
};

/// The summary of `values` (precondition: not empty). The median of an even count is the mean of
/// the two middle values.
summary summarise(std::vector<double> values);

/// One metric of one system in one scenario, over all its runs.
struct result {
  std::string scenario;
  std::string system;
  metric measured;
  summary stats;
};

/// A run that threw or reported the wrong metrics; the system's later runs were skipped.
struct failure {
  std::string scenario;
  std::string system;
  unsigned run = 0;  ///< 1-based
  std::string what;
};

/// A scenario, or one system of it, that did not run because it cannot on this machine.
struct skip {
  std::string scenario;
  std::string system;  ///< empty: the whole scenario
  std::string why;
};

/// Everything one invocation measured, in scenario, metric, system order.
struct report {
  std::vector<result> results;
  std::vector<failure> failures;
  std::vector<skip> skipped;
};

/// Runs every scenario in `selected` `runs` times. Within a run each system runs once, in the
/// scenario's order, so the systems are interleaved. A scenario or system that is `unavailable` is
/// skipped.
/// Writes one progress line per system run (or skipped scenario) to `progress`.
report run_scenarios(const std::vector<scenario>& selected, unsigned runs, std::ostream& progress);

/// The result for `system` with the same scenario and metric as `r`, or nullptr.
const result* find_result(const report& rep, const result& r, std::string_view system);

}  // namespace sluice::bench
