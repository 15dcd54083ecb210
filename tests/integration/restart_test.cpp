// Integration tests of stage restarts and the per-stage summary, through the real `sluice` binary
// with the test plugin's `flaky` stage: a transform restarted after a crash, one that crashes too
// often, a restarted copy of a partitioned consumer, each stage's wall time, and the schema.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "example_checks.hpp"

using namespace sluice::testing;
using nlohmann::json;

namespace {

/// The numbers 1 to 1000 through `flaky` (an instance crashes on its 20th event, `crashes` times
/// in all), 10 events in flight at most, into flaky.jsonl.
std::string flaky_pipeline(int crashes, const std::string& restart) {
  return R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 1000}},
    "shaky": {"type": "flaky", "options": {"at": 20, "crashes": )" +
         std::to_string(crashes) + R"(},
              "subscribe_to": {"stage": "numbers", "max_demand": 10, "min_demand": 5})" +
         (restart.empty() ? "" : ", \"restart\": " + restart) + R"(},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/flaky.jsonl"}, "subscribe_to": "shaky"}
  }
})";
}

run_result run_with_plugin(const temp_dir& dir, const std::string& pipeline) {
  const auto file = dir.write("pipeline.json", pipeline);
  return run_sluice(dir, {{"run", file.string(), "--plugin", SLUICE_TEST_PLUGIN}, child_env({{"OUT_DIR", dir.path().string()}})});
}

}  // namespace

TEST_SUITE("cli_restart") {

TEST_CASE("a transform restarted after a crash passes on the later events, and its consumer waits for them") {
  temp_dir dir;
  const auto r = run_with_plugin(dir, flaky_pipeline(1, R"({"max_restarts": 1, "max_seconds": 60})"));
  INFO(describe(r));
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.code() == 0);
  const auto values = whole_jsonl(read_file(dir / "flaky.jsonl"));
  // The sink did not end with the crash: it took in the replacement's events, to the last one.
  REQUIRE(!values.empty());
  CHECK(values.back() == json(1000));
  CHECK(std::is_sorted(values.begin(), values.end()));
  CHECK(values.size() < 1000);         // the crashed batch is lost: at most once
  CHECK(values.size() >= 1000 - 10);  // and no more than max_demand with it
  const auto s = parse_summary(r.err);
  CHECK(s["shaky"].restarts == 1);
  CHECK(s["numbers"].restarts == 0);
  CHECK(s["out"].in == values.size());
  // The restart is reported as it happens, not only counted in the summary.
  CHECK(contains(r.err, "sluice: stage \"shaky\" restarted (1 of 1 within 60 s) after: "));
  CHECK(contains(r.err, "flaky: crashed on event 20"));
}

TEST_CASE("a stage that crashes more than max_restarts times within max_seconds fails the run: exit 1, restarts exhausted") {
  temp_dir dir;
  const auto r = run_with_plugin(dir, flaky_pipeline(3, R"({"max_restarts": 2, "max_seconds": 60})"));
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "sluice: stage \"shaky\" failed, restarts exhausted (more than 2 within 60 s); last: "));
  CHECK(contains(r.err, "flaky: crashed on event 20"));
  CHECK(contains(r.err, "sluice: stage \"shaky\" restarted (1 of 2 within 60 s)"));
  CHECK(contains(r.err, "sluice: stage \"shaky\" restarted (2 of 2 within 60 s)"));
  CHECK_FALSE(contains(r.err, "restarted (3 of"));
  CHECK(parse_summary(r.err)["shaky"].restarts == 2);
}

TEST_CASE("without a restart key the first crash fails the run, as before") {
  temp_dir dir;
  const auto r = run_with_plugin(dir, flaky_pipeline(1, ""));
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "sluice: stage \"shaky\" failed: {error, flaky: crashed on event 20}"));
  CHECK_FALSE(contains(r.err, "restarts exhausted"));
  CHECK(parse_summary(r.err)["shaky"].restarts == 0);
}

TEST_CASE("a restarted copy of a partitioned consumer takes its partition again") {
  temp_dir dir;
  const auto r = run_with_plugin(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 1000}, "dispatcher": {"type": "partition", "partitions": 2}},
    "shaky": {"type": "flaky", "options": {"at": 20, "crashes": 1}, "concurrency": 2,
              "subscribe_to": {"stage": "numbers", "max_demand": 10, "min_demand": 5},
              "restart": {"max_restarts": 1}},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/flaky.jsonl"}, "subscribe_to": "shaky"}
  }
})");
  INFO(describe(r));
  REQUIRE_FALSE(r.timed_out);
  CHECK(r.code() == 0);
  auto values = whole_jsonl(read_file(dir / "flaky.jsonl"));
  std::sort(values.begin(), values.end());
  // Both partitions got through to their last number, so the replacement has its partition back.
  CHECK(std::count(values.begin(), values.end(), json(999)) == 1);
  CHECK(std::count(values.begin(), values.end(), json(1000)) == 1);
  // Lost with the crash: its batch in flight and what the dispatcher had queued for its partition
  // (both bounded by the demand of the two copies, 2 x max_demand).
  CHECK(values.size() >= 1000 - 4 * 10);
  CHECK(parse_summary(r.err)["shaky"].restarts == 1);
  CHECK(contains(r.err, "sluice: stage \"shaky\" (copy "));  // which copy crashed varies
  CHECK(contains(r.err, " of 2) restarted (1 of 1 within 5 s) after: "));
}

TEST_CASE("the summary gives each stage its own wall time, from its start to its last exit") {
  temp_dir dir;
  // `fast` is done after two ticks 10 ms apart; `slow` needs five ticks 100 ms apart.
  const auto file = dir.write("ticks.json", R"({
  "version": 1,
  "stages": {
    "fast": {"type": "tick", "options": {"interval_ms": 10, "count": 2}},
    "slow": {"type": "tick", "options": {"interval_ms": 100, "count": 5}},
    "out": {"type": "null", "subscribe_to": ["fast", "slow"]}
  }
})");
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 0);
  const auto s = parse_summary(r.err);
  REQUIRE(s["fast"].wall_seconds);
  REQUIRE(s["slow"].wall_seconds);
  REQUIRE(s["out"].wall_seconds);
  CHECK(*s["slow"].wall_seconds >= 0.35);
  CHECK(*s["fast"].wall_seconds < *s["slow"].wall_seconds);
  CHECK(*s["out"].wall_seconds >= *s["slow"].wall_seconds - 0.05);  // the sink ends after its last producer
  CHECK(s["out"].in == 7);
  // The run's own wall time covers every stage's, start-up included (the summary has 3 decimals).
  REQUIRE(s.wall_seconds);
  CHECK(*s.wall_seconds >= *s["out"].wall_seconds - 0.0015);
}

TEST_CASE("`sluice schema` describes the restart key with its defaults") {
  temp_dir dir;
  const auto r = run_sluice(dir, {{"schema"}});
  REQUIRE(r.code() == 0);
  const json schema = json::parse(r.out, nullptr, false);
  REQUIRE(schema.is_object());
  const json restart = schema["properties"]["stages"]["additionalProperties"]["properties"]["restart"];
  CHECK(restart["type"] == "object");
  CHECK(restart["additionalProperties"] == false);
  CHECK(restart["properties"]["max_restarts"] == json{{"type", "integer"}, {"minimum", 0}, {"maximum", 1000000}, {"default", 0}});
  CHECK(restart["properties"]["max_seconds"] == json{{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 86400}, {"default", 5}});
}

}  // TEST_SUITE("cli_restart")
