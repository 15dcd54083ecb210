// sluice-bench/cli_scenarios.cpp: cli_range_null and cli_jq.
//
// Each run writes a pipeline file and times `sluice run FILE` from spawn to exit (child_process.hpp),
// so a figure includes what a user waits for: exec, loading and checking the pipeline, starting the
// runtime, the work, draining and the summary. A run fails loudly when a child exits non-zero, runs
// past its deadline or produces the wrong output.
//
// cli_range_null's baseline is `startup`, the same command on a one-event range: the fixed cost
// inside every `sluice` figure, reported as `seconds` only. The engine without the CLI and without
// JSON events is measured by producer_consumer.
//
// cli_jq's baseline is the jq CLI on the same generated file, in the same run. The log (about
// 100 MB) is generated once per invocation, by whichever system runs first (outside the timed part),
// in a temporary directory removed when the scenarios are destroyed; the page cache holds it for
// both systems alike. Every output is checked against the generator's own list of error lines.
#include "cli_scenarios.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "log_lines.hpp"
#include "temp_dir.hpp"

namespace sluice::bench {

namespace {

using json = nlohmann::ordered_json;
using std::filesystem::path;

constexpr std::int64_t range_events = 20'000'000;
constexpr std::int64_t log_line_count = 1'000'000;
constexpr std::uint64_t log_seed = 20261124;
constexpr std::string_view error_filter = R"(select(.level == "error") | {id, msg})";
/// How long one child may run before it is killed and its run fails.
constexpr std::chrono::seconds child_deadline{120};

// ---- pipelines and the sluice binary -------------------------------------------------------------

/// A version 1 pipeline document.
json pipeline(std::string_view name, json stages) {
  return {{"version", 1}, {"name", name}, {"stages", std::move(stages)}};
}

/// range from 1 to `to` -> null.
json range_null_pipeline(std::int64_t to) {
  return pipeline("cli_range_null",
                  {{"numbers", {{"type", "range"}, {"options", {{"from", 1}, {"to", to}}}}},
                   {"sink", {{"type", "null"}, {"subscribe_to", json::array({"numbers"})}}}});
}

/// file `log` (jsonl) -> jq error_filter with concurrency 2 -> file `out` (jsonl).
json jq_pipeline(const path& log, const path& out) {
  return pipeline(
      "cli_jq",
      {{"log", {{"type", "file"}, {"options", {{"path", log.string()}, {"format", "jsonl"}}}}},
       {"errors",
        {{"type", "jq"}, {"options", {{"filter", error_filter}}}, {"subscribe_to", json::array({"log"})},
         {"concurrency", 2}}},
       {"out",
        {{"type", "file"}, {"options", {{"path", out.string()}, {"format", "jsonl"}}},
         {"subscribe_to", json::array({"errors"})}}}});
}

void write_file(const path& p, const json& doc) {
  std::ofstream file(p);
  file << doc.dump(2) << '\n';
  file.close();
  if (!file) throw std::runtime_error("cannot write " + p.string());
}

/// Wall seconds of `sluice run PIPELINE`, its summary (standard error) kept in `summary`.
double time_sluice_run(const std::string& sluice, const path& pipeline, const path& summary) {
  if (!std::filesystem::is_regular_file(sluice)) {
    throw std::runtime_error("no sluice binary at '" + sluice +
                             "': build it (ninja -C build apps/sluice/sluice) or pass --sluice PATH");
  }
  return run_timed({sluice, {"run", pipeline.string()}, "/dev/null", summary}, child_deadline);
}

/// The `in` column of stage `stage` in the summary `sluice run` printed to `summary`; throws if
/// the summary has no such row.
std::int64_t events_in(const path& summary, const std::string& stage) {
  std::ifstream in(summary);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    std::string type;
    std::int64_t count = -1;
    if (fields >> name >> type >> count && name == stage) return count;
  }
  throw std::runtime_error("no row for stage '" + stage + "' in sluice's summary " + summary.string());
}

// ---- cli_range_null ------------------------------------------------------------------------------

/// One `sluice run` of range 1..`to` -> null: its wall seconds, after checking the sink got `to`.
double time_range_null(const std::string& sluice, std::int64_t to) {
  const temp_dir dir;
  const path file = dir / "range_null.json";
  write_file(file, range_null_pipeline(to));
  const double seconds = time_sluice_run(sluice, file, dir / "summary.txt");
  if (const std::int64_t got = events_in(dir / "summary.txt", "sink"); got != to) {
    throw std::runtime_error("the null sink counted " + std::to_string(got) + " events, expected " +
                             std::to_string(to));
  }
  return seconds;
}

measurements sluice_range_null(const std::string& sluice) {
  const double seconds = time_range_null(sluice, range_events);
  return {{"events_per_s", range_events / seconds}, {"seconds", seconds}};
}

measurements startup_range_null(const std::string& sluice) {
  return {{"seconds", time_range_null(sluice, 1)}};
}

// ---- cli_jq --------------------------------------------------------------------------------------

/// cli_jq's files: the log, the lines the filter must keep, and sluice's pipeline file.
struct log_files {
  temp_dir dir;
  path log = dir / "app.log.jsonl";
  error_lines expected = write_log(log, log_line_count, log_seed);
  path sluice_out = dir / "sluice.out.jsonl";
  path pipeline = dir / "jq_filter.json";

  log_files() { write_file(pipeline, jq_pipeline(log, sluice_out)); }
};

/// cli_jq's files, made on the first run of either system and shared by both. Used from the
/// bench thread only.
class shared_log_files {
 public:
  const log_files& get() {
    if (!files_) files_ = std::make_unique<log_files>();
    return *files_;
  }

 private:
  std::unique_ptr<log_files> files_;
};

measurements filter_throughput(double seconds) {
  return {{"events_per_s", log_line_count / seconds}, {"seconds", seconds}};
}

measurements sluice_jq(const std::string& sluice, shared_log_files& shared) {
  const log_files& f = shared.get();
  std::filesystem::remove(f.sluice_out);  // what an earlier run wrote must not pass for this one's
  const double seconds = time_sluice_run(sluice, f.pipeline, f.dir / "sluice.summary.txt");
  check_filtered(f.sluice_out, f.expected, "sluice");
  return filter_throughput(seconds);
}

measurements jq_cli(shared_log_files& shared) {
  const path jq = find_program("jq");
  if (jq.empty()) throw std::runtime_error("jq not found in PATH");
  const log_files& f = shared.get();
  const path out = f.dir / "jq_cli.out.jsonl";
  std::filesystem::remove(out);
  const double seconds = run_timed(
      {jq, {"-c", std::string(error_filter), f.log.string()}, out, f.dir / "jq_cli.stderr.txt"}, child_deadline);
  check_filtered(out, f.expected, "jq_cli");
  return filter_throughput(seconds);
}

std::string jq_missing() {
  return find_program("jq").empty() ? "no `jq` in PATH to compare with (Debian package jq)" : "";
}

}  // namespace

std::vector<scenario> cli_scenarios(const settings& s) {
  const std::string sluice = s.sluice_binary;
  auto files = std::make_shared<shared_log_files>();
  return {
      {"cli_range_null",
       "`sluice run` of range 1..20,000,000 -> null, timed from spawn to exit (start-up and drain "
       "included); baseline `startup`: the same on range 1..1, the fixed cost inside that figure",
       {{"events_per_s", better::higher}, {"seconds", better::lower}},
       {{"sluice", [sluice] { return sluice_range_null(sluice); }},
        {"startup", [sluice] { return startup_range_null(sluice); }, {"seconds"}}}},
      {"cli_jq",
       "1,000,000 JSON log lines (seeded, ~10% error) from a file through jq "
       "`select(.level == \"error\") | {id, msg}` to a file: `sluice run` (concurrency 2) beside "
       "`jq -c` on the same file; both outputs checked; events_per_s counts input lines",
       {{"events_per_s", better::higher}, {"seconds", better::lower}},
       {{"sluice", [sluice, files] { return sluice_jq(sluice, *files); }},
        {"jq_cli", [files] { return jq_cli(*files); }}},
       jq_missing},
  };
}

}  // namespace sluice::bench
