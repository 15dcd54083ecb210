// sluice-bench/cli_json_scenarios.cpp: cli_jq, cli_passthrough and cli_partition.
//
// The three run on one generated log (log_lines.hpp: 1,000,000 lines of about 100 bytes, six
// fields), made once per invocation by whichever system runs first (outside the timed part), in a
// temporary directory removed when the scenarios are destroyed; the page cache holds it for every
// system alike. Each system is a child process timed from spawn to exit, wall and CPU (user + sys
// from wait4, so the per-core cost shows beside the wall time), and its output is checked against
// the generator's records (output_check.hpp) before the run counts, then deleted, so the disk never
// holds more than one output.
#include "cli_json_scenarios.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_peers.hpp"
#include "cli_sluice.hpp"
#include "output_check.hpp"
#include "temp_dir.hpp"

namespace sluice::bench {

namespace {

using json = nlohmann::ordered_json;
using std::filesystem::path;

constexpr std::int64_t log_line_count = 1'000'000;
constexpr std::uint64_t log_seed = 20261124;
constexpr double bytes_per_mb = 1e6;

/// The log and its records, made on first use and shared by every system of the three scenarios.
/// Used from the bench thread only.
class shared_log {
 public:
  struct files {
    temp_dir dir;
    path log = dir / "app.log.jsonl";
    log_contents contents = write_log(log, log_line_count, log_seed);
  };

  const files& get() {
    if (!files_) files_ = std::make_unique<files>();
    return *files_;
  }

 private:
  std::unique_ptr<files> files_;
};

/// What a scenario's figure of merit is: input lines per second, or input megabytes per second.
enum class rate : std::uint8_t { events_per_s, mb_per_s };

/// One of the three scenarios: what sluice runs, what the peers run, what the output must be.
struct workload {
  std::string name;  ///< the scenario's name, also the prefix of its files
  std::function<json(const path& log, const path& out)> sluice_pipeline;
  std::vector<peer> peers;
  expected_output expected;
  rate figure = rate::events_per_s;
};

/// The measurements of one run that took `t` on `log`.
measurements measure(const workload& w, const log_contents& log, const child_times& t) {
  measurements m{{"seconds", t.wall_seconds}, {"cpu_seconds", t.cpu_seconds}};
  if (w.figure == rate::mb_per_s) {
    m["mb_per_s"] = static_cast<double>(log.bytes) / bytes_per_mb / t.wall_seconds;
  } else {
    m["events_per_s"] = static_cast<double>(log.records.size()) / t.wall_seconds;
  }
  return m;
}

/// Runs `child`, which writes `out`, and checks `out` before the figures count.
measurements run_checked(const workload& w, const shared_log::files& f, const std::string& system,
                         const child_spec& child, const path& out) {
  std::filesystem::remove(out);  // what an earlier run wrote must not pass for this one's
  const child_times t = run_timed(child, child_deadline);
  check_output(out, f.contents, w.expected, system);
  std::filesystem::remove(out);
  return measure(w, f.contents, t);
}

measurements run_sluice(const workload& w, const std::string& sluice, shared_log& shared) {
  const shared_log::files& f = shared.get();
  const path out = f.dir / (w.name + ".sluice.out.jsonl");
  const path pipeline_file = f.dir / (w.name + ".pipeline.json");
  write_file(pipeline_file, w.sluice_pipeline(f.log, out));
  const path summary = f.dir / (w.name + ".sluice.summary.txt");
  return run_checked(w, f, "sluice", sluice_run(sluice, pipeline_file, summary), out);
}

measurements run_peer(const workload& w, const peer& p, shared_log& shared) {
  const shared_log::files& f = shared.get();
  const path program = find_peer(p);
  if (program.empty()) throw std::runtime_error(peer_missing(p));
  const path out = f.dir / (w.name + '.' + p.system + ".out.jsonl");
  child_spec child{program, p.args, out, f.dir / (w.name + '.' + p.system + ".stderr.txt")};
  child.args.push_back(f.log.string());
  return run_checked(w, f, p.system, child, out);
}

// ---- the sluice pipelines --------------------------------------------------------------------------

json file_source(const path& log) {
  return {{"type", "file"}, {"options", {{"path", log.string()}, {"format", "jsonl"}}}};
}

json file_sink(const path& out, const std::string& producer) {
  return {{"type", "file"},
          {"options", {{"path", out.string()}, {"format", "jsonl"}}},
          {"subscribe_to", json::array({producer})}};
}

json jq_stage(const char* filter, const std::string& producer, int concurrency) {
  return {{"type", "jq"},
          {"options", {{"filter", filter}}},
          {"subscribe_to", json::array({producer})},
          {"concurrency", concurrency}};
}

/// file -> jq error_filter, two copies -> file.
json filter_pipeline(const path& log, const path& out) {
  return pipeline(
      "cli_jq",
      {{"log", file_source(log)}, {"errors", jq_stage(error_filter, "log", 2)}, {"out", file_sink(out, "errors")}});
}

/// file -> file.
json passthrough_pipeline(const path& log, const path& out) {
  return pipeline("cli_passthrough", {{"log", file_source(log)}, {"out", file_sink(out, "log")}});
}

/// file, partitioned four ways on /host -> four copies of jq projection_filter -> file.
json partition_pipeline(const path& log, const path& out) {
  json source = file_source(log);
  source["dispatcher"] = {{"type", "partition"}, {"partitions", 4}, {"key", "/host"}};
  return pipeline("cli_partition", {{"log", std::move(source)},
                                    {"project", jq_stage(projection_filter, "log", 4)},
                                    {"out", file_sink(out, "project")}});
}

// ---- the scenarios --------------------------------------------------------------------------------

std::vector<metric> metrics_of(rate figure) {
  return {{figure == rate::mb_per_s ? "mb_per_s" : "events_per_s", better::higher},
          {"seconds", better::lower},
          {"cpu_seconds", better::lower}};
}

scenario make_scenario(workload w, std::string description, const std::string& sluice,
                       const std::shared_ptr<shared_log>& log) {
  auto shared_w = std::make_shared<const workload>(std::move(w));
  scenario sc{shared_w->name, std::move(description), metrics_of(shared_w->figure), {}};
  sc.systems.push_back({"sluice", [shared_w, sluice, log] { return run_sluice(*shared_w, sluice, *log); }});
  for (const peer& p : shared_w->peers) {
    sc.systems.push_back(
        {p.system, [shared_w, p, log] { return run_peer(*shared_w, p, *log); }, {}, [p] { return peer_missing(p); }});
  }
  return sc;
}

const std::vector<log_field> whole_line{log_field::id,   log_field::ts,  log_field::level,
                                        log_field::host, log_field::msg, log_field::latency_ms};

bool is_error(const log_record& r) { return level_name(r) == "error"; }

}  // namespace

std::vector<scenario> cli_json_scenarios(const std::string& sluice) {
  auto log = std::make_shared<shared_log>();
  std::vector<scenario> all;
  all.push_back(
      make_scenario({"cli_jq", filter_pipeline, filter_project_peers(), {{log_field::id, log_field::msg}, is_error}},
                    "1,000,000 JSON log lines (~100 bytes, six fields, ~10% error) from a file through "
                    "`select(.level == \"error\") | {id, msg}` to a file: `sluice run` (jq concurrency 2) beside "
                    "`jq -c`, `gojq -c` and Miller; events_per_s counts input lines; every output checked",
                    sluice, log));
  all.push_back(
      make_scenario({"cli_passthrough", passthrough_pipeline, passthrough_peers(), {whole_line}, rate::mb_per_s},
                    "the same log from a file to a file, every line parsed (jsonl) and written "
                    "back: `sluice run` beside `jq -c .`, `gojq -c .` and `mlr cat`; mb_per_s "
                    "counts input bytes (10^6); every output checked",
                    sluice, log));
  all.push_back(make_scenario(
      {"cli_partition", partition_pipeline, projection_peers(), {{log_field::id, log_field::host, log_field::level}}},
      "the same log partitioned on /host into 4 copies of jq `{id, host, level}` and back into one "
      "file: `sluice run` beside the same projection by `jq -c`, `gojq -c` and Miller on one core; "
      "every output checked (in any order)",
      sluice, log));
  return all;
}

}  // namespace sluice::bench
