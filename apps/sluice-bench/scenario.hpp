// sluice-bench/scenario.hpp: what a benchmark scenario is.
//
// A scenario is one workload (e.g. `ping_pong`) measured on several systems: `sluice` itself and
// the baselines it is compared with (`limit`, a bare lock-free hand-off between two pinned threads;
// later `tbb_flow`). Each system is a function that performs one complete run and returns what it
// measured. The harness calls every system of a scenario once per run, interleaved, so all systems
// see the same machine state.
//
// A baseline may report only some of a scenario's metrics (`system_run::reports`). A scenario that
// cannot run on this machine is reported as skipped, not failed (`scenario::unavailable`), and so
// is a single system, such as a peer program that is not installed (`system_run::unavailable`):
// the scenario's other systems still run.
//
// To add scenarios: write a file with a function returning `std::vector<scenario>` and append its
// result in `all_scenarios()` (catalogue.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bench {

/// Which way a metric improves.
enum class better : std::uint8_t { higher, lower };

/// "higher" or "lower".
const char* to_string(better b) noexcept;

/// One quantity a scenario reports, e.g. `messages_per_s` (higher is better) or `seconds` (lower).
struct metric {
  std::string name;
  better direction = better::higher;
};

/// What one run of one system measured: metric name -> value.
using measurements = std::map<std::string, double>;

/// One implementation of a scenario. `run` performs one complete, independent run; it may throw
/// (the harness reports the failure and skips that system's remaining runs).
struct system_run {
  std::string system;
  std::function<measurements()> run;
  /// The names of the metrics this system reports when it has a figure for only some of the
  /// scenario's; empty: all of them.
  std::vector<std::string> reports = {};
  /// Why this system cannot run on this machine, or empty when it can; asked once, before the
  /// scenario's first run. Unset: it always can.
  std::function<std::string()> unavailable = {};
};

/// A workload and the systems that implement it.
struct scenario {
  std::string name;
  std::string description;
  std::vector<metric> metrics;
  std::vector<system_run> systems;
  /// Why the scenario cannot run on this machine, or empty when it can; asked once, before its
  /// first run. Unset: it always can.
  std::function<std::string()> unavailable = {};
};

/// What the command line tells the scenarios about the world outside sluice-bench.
struct settings {
  std::string sluice_binary;  ///< the `sluice` CLI the cli_* scenarios run as a child process
};

/// The system every other one is compared with: ratios are `sluice / baseline`.
inline constexpr std::string_view reference_system = "sluice";

/// Every scenario sluice-bench knows, in listing order (catalogue.cpp).
std::vector<scenario> all_scenarios(const settings& s);

}  // namespace sluice::bench
