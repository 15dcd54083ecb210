// sluice-bench/report.hpp: the table on stdout and the JSON file.
#pragma once

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "machine.hpp"

namespace sluice::bench {

/// `v` in a short human form: three or four significant digits, with k/M/G above a thousand.
std::string format_value(double v);

/// Prints one row per scenario, metric and system: median, min, max, runs, the ratio of sluice's
/// median to this system's median, and which direction of the metric is better. Failures and
/// skipped scenarios follow.
void print_table(std::ostream& out, const report& rep);

/// `{"machine": {...}, "results": [{"scenario", "system", "metric", "median", "min", "max",
/// "runs"}...]}`, keys in that order; plus `"failures": [{"scenario", "system", "run", "what"}...]`
/// when a run failed, and `"skipped": [{"scenario", "system", "why"}...]` when a scenario or one of
/// its systems could not run (`"system"` only for a single system).
nlohmann::ordered_json to_json(const report& rep, const machine_info& machine);

}  // namespace sluice::bench
