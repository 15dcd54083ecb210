// Hardening of the built-in transforms (issue 12), through the real `sluice` binary: `batch` with
// several producers and huge timeouts, `rate_limit` above ten times max_demand a second, and `jq`
// with endless outputs (bounded memory, SIGINT), errors after good events, and deep outputs.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "example_checks.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// Runs the pipeline `text` (written to `dir`) with OUT_DIR set to `dir`.
run_result run_pipeline(const temp_dir& dir, const std::string& text, std::vector<std::string> extra = {}) {
  const auto file = dir.write("pipeline.json", text);
  std::vector<std::string> args{"run", file.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_sluice(dir, {args, child_env({{"OUT_DIR", dir.path().string()}})});
}

/// The number of lines in `path` so far (0 if it does not exist yet).
std::size_t lines_in(const fs::path& path) {
  if (!fs::exists(path)) return 0;
  const std::string text = read_file(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_SUITE("hardening_transforms") {

// --- batch ------------------------------------------------------------------------------------

TEST_CASE("batch after a stage with two copies flushes its partial array only when both have ended") {
  temp_dir dir;
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 100000}},
    "pass": {"type": "jq", "options": {"filter": "."}, "concurrency": 2, "subscribe_to": "numbers"},
    "arrays": {"type": "batch", "options": {"size": 100000}, "subscribe_to": "pass"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/arrays.jsonl"}, "subscribe_to": "arrays"}
  }
})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  const auto arrays = whole_jsonl(read_file(dir / "arrays.jsonl"));
  REQUIRE(arrays.size() == 1);  // was two: 99,000 and 1,000, flushed when the first copy ended
  CHECK(arrays[0].size() == 100000);
}

TEST_CASE("batch's timeout_ms has a documented maximum: a week works, beyond it is refused") {
  temp_dir dir;
  const std::string pipeline = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 10}},
    "arrays": {"type": "batch", "options": {"size": 5, "timeout_ms": 1}, "subscribe_to": "numbers"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/arrays.jsonl"}, "subscribe_to": "arrays"}
  }
})";
  SUBCASE("a week: the arrays fill up, no event is flushed alone") {
    const auto r = run_pipeline(dir, pipeline, {"--set", "stages.arrays.options.timeout_ms=604800000"});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    CHECK(whole_jsonl(read_file(dir / "arrays.jsonl")) == std::vector<json>{json{1, 2, 3, 4, 5}, json{6, 7, 8, 9, 10}});
  }
  SUBCASE("beyond a week (here: near INT64_MAX, which overflowed the deadline) is a config error naming the option") {
    const auto r = run_pipeline(dir, pipeline, {"--set", "stages.arrays.options.timeout_ms=9223372036854775000"});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "/stages/arrays/options/timeout_ms"));
    CHECK(contains(r.err, "604800000"));
  }
}

// --- rate_limit -------------------------------------------------------------------------------

TEST_CASE("rate_limit above ten times max_demand a second passes every event (it asks again as batches come)") {
  // The old refill asked at most max_demand (10) per 100 ms: 100 events a second, 1000 s for these
  // 100,000, well past the watchdog. Now the limiter re-asks on each batch while credit allows.
  temp_dir dir;
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 100000}},
    "paced": {"type": "rate_limit", "options": {"per_second": 1000000},
              "subscribe_to": [{"stage": "numbers", "max_demand": 10}]},
    "out": {"type": "null", "subscribe_to": "paced"}
  }
})");
  INFO(describe(r));
  CHECK_FALSE(r.timed_out);
  REQUIRE(r.code() == 0);
  const auto s = parse_summary(r.err);
  CHECK(s["paced"].in == 100000);
  CHECK(s["paced"].out == 100000);
  CHECK(s["out"].in == 100000);
}

TEST_CASE("rate_limit's per_second has a documented range") {
  temp_dir dir;
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "paced": {"type": "rate_limit", "options": {"per_second": 1e12}, "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "paced"}
  }
})");
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(contains(r.err, "/stages/paced/options/per_second"));
}

// --- jq: streaming ----------------------------------------------------------------------------

TEST_CASE("a jq run longer than one turn delivers all its outputs, in order, after its input has ended") {
  temp_dir dir;
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 3}},
    "fan": {"type": "jq", "options": {"filter": ". as $i | range(5000) | {i: $i, n: .}"}, "subscribe_to": "numbers"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/fan.jsonl"}, "subscribe_to": [{"stage": "fan", "max_demand": 7}]}
  }
})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  const auto values = whole_jsonl(read_file(dir / "fan.jsonl"));
  REQUIRE(values.size() == 15000);
  std::size_t out_of_place = 0;
  for (std::size_t k = 0; k < values.size(); ++k) out_of_place += values[k] == json{{"i", k / 5000 + 1}, {"n", k % 5000}} ? 0 : 1;
  CHECK(out_of_place == 0);
  CHECK(parse_summary(r.err)["fan"].out == 15000);
}

TEST_CASE("jq with a hundred million outputs per input keeps memory bounded, and SIGINT drains it") {
  temp_dir dir;
  const auto file = dir.write("endless.json", R"({
  "version": 1,
  "stages": {
    "one": {"type": "generate", "options": {"event": null, "count": 1}},
    "fan": {"type": "jq", "options": {"filter": "range(100000000) | {n: .}"}, "subscribe_to": "one"},
    "slow": {"type": "rate_limit", "options": {"per_second": 20000}, "subscribe_to": "fan"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/fan.jsonl"}, "subscribe_to": "slow"}
  }
})");
  const auto output = dir / "fan.jsonl";
  auto child = start_sluice(dir, {{"run", file.string()}, child_env({{"OUT_DIR", dir.path().string()}})});
  // Sample the resident size while the outputs flow; stop early if it passes the bound (before
  // the fix jq made all 10^8 outputs in one callback: gigabytes, and nothing reached the file).
  const std::size_t bound_kb = sanitized ? 600 * 1024 : 200 * 1024;
  std::size_t most_kb = 0;
  const bool flowing = child.await(
      [&] {
        most_kb = std::max(most_kb, status_kb(child.pid(), "VmRSS").value_or(0));
        return most_kb > bound_kb || lines_in(output) >= 20000;
      },
      test_clock::now() + watchdog);
  INFO("stderr: ", child.err());
  CHECK(most_kb <= bound_kb);
  REQUIRE(flowing);
  REQUIRE(most_kb <= bound_kb);

  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO("status: ", status.to_string(), "\nstderr: ", err);
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(contains(err, "draining"));
  const auto values = whole_jsonl(read_file(output));
  const auto s = parse_summary(err);
  CHECK(s["out"].in == values.size());
  CHECK(values.size() < 100000000);
  std::size_t out_of_place = 0;  // what came out came in order, from the start, with no gap
  for (std::size_t k = 0; k < values.size(); ++k) out_of_place += values[k] == json{{"n", k}} ? 0 : 1;
  CHECK(out_of_place == 0);
}

// --- jq: errors -------------------------------------------------------------------------------

TEST_CASE("a jq error on event 2 names the event, and the outputs of event 1 are written first") {
  temp_dir dir;
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 3}},
    "picky": {"type": "jq", "options": {"filter": "if . == 2 then error(\"two is not allowed\") else {n: .} end"},
              "subscribe_to": "numbers"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/picky.jsonl"}, "subscribe_to": "picky"}
  }
})");
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "stage \"picky\" failed"));
  CHECK(contains(r.err, "jq error on event 2 of its input (2): two is not allowed"));
  // Needs the runner to let downstream finish after a failure (the lead's change in this round).
  CHECK(whole_jsonl(read_file(dir / "picky.jsonl")) == std::vector<json>{json{{"n", 1}}});
}

TEST_CASE("a jq error shows at most the first 200 bytes of a large event") {
  temp_dir dir;
  const std::string big(5000, 'x');
  const auto r = run_pipeline(dir, R"json({
  "version": 1,
  "stages": {
    "big": {"type": "generate", "options": {"event": {"text": ")json" + big + R"json("}, "count": 3}},
    "picky": {"type": "jq", "options": {"filter": "error(\"no\")"}, "subscribe_to": "big"},
    "out": {"type": "null", "subscribe_to": "picky"}
  }
})json");
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "jq error on event 1 of its input ({\"text\":\"" + std::string(191, 'x') + "... (5011 bytes)): no"));
  CHECK_FALSE(contains(r.err, std::string(300, 'x')));
}

TEST_CASE("a jq output deeper than max_depth fails the stage naming the limit; skip counts it; the limit is an option") {
  temp_dir dir;
  const std::string pipeline = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 3}},
    "deep": {"type": "jq", "options": {"filter": "if . == 2 then reduce range(1000000) as $i (0; [.]) else . end"},
             "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "deep"}
  }
})";
  SUBCASE("fail") {
    const auto r = run_pipeline(dir, pipeline);
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"deep\" failed"));
    CHECK(contains(r.err, "event 2 of its input (2): jq output nested deeper than max_depth (512 levels)"));
  }
  SUBCASE("skip") {
    const auto r = run_pipeline(dir, pipeline, {"--set", "stages.deep.options.on_error=skip"});
    INFO(describe(r));
    CHECK(r.code() == 0);
    CHECK(parse_summary(r.err)["deep"].skipped == 1);
    CHECK(parse_summary(r.err)["deep"].out == 2);
  }
  SUBCASE("a smaller max_depth") {
    const auto r = run_pipeline(dir, pipeline, {"--set", "stages.deep.options.max_depth=4"});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "max_depth (4 levels)"));
  }
  SUBCASE("max_depth beyond its range is a config error") {
    const auto r = run_pipeline(dir, pipeline, {"--set", "stages.deep.options.max_depth=100000"});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "/stages/deep/options/max_depth"));
  }
}

}  // TEST_SUITE("hardening_transforms")
