// sluice-bench/cli_scenarios.cpp: cli_range_null, and the list of every CLI scenario.
//
// Each run writes a pipeline file and times `sluice run FILE` from spawn to exit (child_process.hpp),
// so a figure includes what a user waits for: exec, loading and checking the pipeline, starting the
// runtime, the work, draining and the summary; cpu_seconds beside it is the child's user + system
// time. A run fails loudly when a child exits non-zero, runs past its deadline or produces the
// wrong output.
//
// cli_range_null's baseline is `startup`, the same command on a one-event range: the fixed cost
// inside every `sluice` figure, reported as `seconds` and `cpu_seconds` only. The engine without
// the CLI and without JSON events is measured by producer_consumer. The JSON scenarios beside
// their peers are in cli_json_scenarios.cpp.
#include "cli_scenarios.hpp"

#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string>

#include "cli_json_scenarios.hpp"
#include "cli_sluice.hpp"
#include "temp_dir.hpp"

namespace sluice::bench {

namespace {

using json = nlohmann::ordered_json;
using std::filesystem::path;

constexpr std::int64_t range_events = 20'000'000;

/// range from 1 to `to` -> null.
json range_null_pipeline(std::int64_t to) {
  return pipeline("cli_range_null", {{"numbers", {{"type", "range"}, {"options", {{"from", 1}, {"to", to}}}}},
                                     {"sink", {{"type", "null"}, {"subscribe_to", json::array({"numbers"})}}}});
}

/// One `sluice run` of range 1..`to` -> null: its times, after checking the sink got `to`.
child_times time_range_null(const std::string& sluice, std::int64_t to) {
  const temp_dir dir;
  const path file = dir / "range_null.json";
  write_file(file, range_null_pipeline(to));
  const child_times t = time_sluice_run(sluice, file, dir / "summary.txt");
  if (const std::int64_t got = events_in(dir / "summary.txt", "sink"); got != to) {
    throw std::runtime_error("the null sink counted " + std::to_string(got) + " events, expected " +
                             std::to_string(to));
  }
  return t;
}

measurements sluice_range_null(const std::string& sluice) {
  const child_times t = time_range_null(sluice, range_events);
  return {{"events_per_s", range_events / t.wall_seconds}, {"seconds", t.wall_seconds}, {"cpu_seconds", t.cpu_seconds}};
}

measurements startup_range_null(const std::string& sluice) {
  const child_times t = time_range_null(sluice, 1);
  return {{"seconds", t.wall_seconds}, {"cpu_seconds", t.cpu_seconds}};
}

}  // namespace

std::vector<scenario> cli_scenarios(const settings& s) {
  const std::string sluice = s.sluice_binary;
  std::vector<scenario> all{
      {"cli_range_null",
       "`sluice run` of range 1..20,000,000 -> null, timed from spawn to exit (start-up and drain "
       "included); baseline `startup`: the same on range 1..1, the fixed cost inside that figure",
       {{"events_per_s", better::higher}, {"seconds", better::lower}, {"cpu_seconds", better::lower}},
       {{"sluice", [sluice] { return sluice_range_null(sluice); }},
        {"startup", [sluice] { return startup_range_null(sluice); }, {"seconds", "cpu_seconds"}}}},
  };
  std::vector<scenario> json_scenarios = cli_json_scenarios(sluice);
  all.insert(all.end(), std::make_move_iterator(json_scenarios.begin()), std::make_move_iterator(json_scenarios.end()));
  return all;
}

}  // namespace sluice::bench
