// `sluice test FILE` (issue 17, item 3) through the real binary: test files beside a pipeline,
// cases that feed named sources, capture every sink and control time with a virtual clock;
// passing and failing cases (a diff, the counts, the exit code), bad test files (every problem
// named by file, line and JSON pointer), windows with events out of order, a batch timeout of a
// minute, a tick source and retries' back-off that take no real time, and the example pipelines'
// own test files.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_support.hpp"

using namespace sluice::testing;

namespace {

/// Writes `pipeline` as pipeline.json and `tests` as pipeline.test.json in `dir`, runs
/// `sluice test` on the latter.
run_result run_tests(const temp_dir& dir, const std::string& pipeline, const std::string& tests) {
  dir.write("pipeline.json", pipeline);
  const auto file = dir.write("pipeline.test.json", tests);
  return run_sluice(dir, {{"test", file.string()}});
}

/// The last line of `text` (without its newline).
std::string last_line(const std::string& text) {
  const auto lines = lines_of(text);
  return lines.empty() ? std::string() : lines.back();
}

const std::string doubler = R"J({
  "version": 1,
  "stages": {
    "in":  {"type": "file", "options": {"path": "does-not-exist.jsonl", "format": "jsonl"}, "dispatcher": "broadcast"},
    "dbl": {"type": "jq", "options": {"filter": "{n: (.n * 2)}"}, "subscribe_to": "in"},
    "odd": {"type": "jq", "options": {"filter": "select(.n % 2 == 1)"}, "subscribe_to": "in"},
    "out": {"type": "stdout", "subscribe_to": "dbl"},
    "odds": {"type": "file", "options": {"path": "odds.jsonl"}, "subscribe_to": "odd"}
  }
})J";

}  // namespace

TEST_SUITE("sluice test") {

TEST_CASE("a passing test file: each case is ok, the sources are fed and the sinks captured, exit 0") {
  temp_dir dir;
  const auto r = run_tests(dir, doubler, R"J({
  // comments are allowed, as in pipelines
  "pipeline": "pipeline.json",
  "tests": [
    {"name": "doubles in order",
     "steps": [{"events": [{"n": 1}, {"n": 2}]}, {"event": {"n": 3}}],
     "expect": {"out": {"events": [{"n": 2}, {"n": 4}, {"n": 6}]},
                "odds": {"events": [{"n": 3}, {"n": 1}], "unordered": true}}},
    {"name": "a predicate and a count",
     "steps": [{"events": [{"n": 5}, {"n": 6}, {"n": 7}]}, {"expect": {"out": {"count": 3}}}],
     "expect": {"out": {"jq": ".n % 2 == 0", "count": 3}, "odds": {"count": 2}}},
    {"name": "fed nothing, nothing out", "steps": [{"events": []}],
     "expect": {"out": {"count": 0}, "odds": {"events": []}}}
  ]
})J");
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(contains(r.out, "ok      "));
  CHECK(contains(r.out, "pipeline.test.json: doubles in order"));
  CHECK(last_line(r.out) == "3 passed, 0 failed");
  // A source no step feeds runs as written: here a file that does not exist, which fails the case.
  const auto real = dir.write("real.test.json", R"J({"pipeline": "pipeline.json", "tests": [{"name": "real source", "expect": {"out": {"count": 0}}}]})J");
  const auto rs = run_sluice(dir, {{"test", real.string()}});
  CHECK(rs.code() == 1);
  CHECK(contains(rs.out, "  stage \"in\" failed: {error, does-not-exist.jsonl: cannot open: No such file or directory}\n"));
  CHECK(last_line(rs.out) == "0 passed, 1 failed");
  // The real source (a file that does not exist) and sinks (stdout, odds.jsonl) never ran.
  CHECK(!std::filesystem::exists(dir / "odds.jsonl"));
  CHECK(!contains(r.out, "{\"n\":2}"));
}

TEST_CASE("a failing case prints what differs, expected against received, and the run exits 1") {
  temp_dir dir;
  const auto r = run_tests(dir, doubler, R"J({
  "pipeline": "pipeline.json",
  "tests": [
    {"name": "right", "steps": [{"event": {"n": 1}}], "expect": {"out": {"events": [{"n": 2}]}}},
    {"name": "wrong order and value",
     "steps": [{"events": [{"n": 1}, {"n": 2}, {"n": 3}]}],
     "expect": {"out": {"events": [{"n": 2}, {"n": 7}, {"n": 6}]}}},
    {"name": "wrong predicate", "steps": [{"events": [{"n": 1}, {"n": 2}]}],
     "expect": {"out": {"jq": ".n > 3"}, "odds": {"count": 2}}}
  ]
})J");
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.out, "ok      " + (dir / "pipeline.test.json").string() + ": right"));
  CHECK(contains(r.out, "FAILED  " + (dir / "pipeline.test.json").string() + ": wrong order and value"));
  // A unified-style diff: the common events unmarked, - expected, + received.
  CHECK(contains(r.out, "sink \"out\": 3 events expected, 3 received; - expected, + received:\n"
                        "      {\"n\":2}\n"
                        "    - {\"n\":7}\n"
                        "    + {\"n\":4}\n"
                        "      {\"n\":6}\n"));
  CHECK(contains(r.out, "sink \"out\": 1 of 2 events fail `.n > 3`:"));
  CHECK(contains(r.out, "    + {\"n\":2}   (event 1: false)"));
  CHECK(contains(r.out, "sink \"odds\": 2 events expected, 1 received:\n      {\"n\":1}\n"));
  CHECK(last_line(r.out) == "1 passed, 2 failed");
}

TEST_CASE("a bad test file is refused with every problem at its line and JSON pointer, exit 2, nothing runs") {
  temp_dir dir;
  const auto r = run_tests(dir, doubler, R"J({
  "pipeline": "pipeline.json",
  "tests": [
    {"name": "one",
     "colour": "red",
     "steps": [{"event": {"n": 1}, "to": "dbl"},
               {"advance_ms": -5},
               {},
               {"event": 1, "time": "yesterday"}],
     "expect": {"nope": {"count": 1}, "out": {"jq": ".n >"}, "odds": {}}},
    {"name": "one", "expect": {"out": {"count": "3"}}}
  ]
})J");
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(r.out.empty());
  const std::string f = (dir / "pipeline.test.json").string();
  CHECK(contains(r.err, f + ":5:6: /tests/0/colour: unknown key \"colour\""));
  CHECK(contains(r.err, f + ":6:42: /tests/0/steps/0/to: stage \"dbl\" is not a source (a source: \"in\")"));
  CHECK(contains(r.err, f + ":7:31: /tests/0/steps/1/advance_ms: not a number of milliseconds"));
  CHECK(contains(r.err, f + ":8:16: /tests/0/steps/2: a step does nothing"));
  CHECK(contains(r.err, f + ":9:37: /tests/0/steps/3/time: not a time"));
  CHECK(contains(r.err, f + ":10:17: /tests/0/expect/nope: no stage \"nope\" in the pipeline (a sink: \"out\", \"odds\")"));
  CHECK(contains(r.err, "/tests/0/expect/out/jq: jq does not compile it"));
  CHECK(contains(r.err, f + ":10:70: /tests/0/expect/odds: nothing to check"));
  CHECK(contains(r.err, "/tests/1/name: a second test named \"one\""));
  CHECK(contains(r.err, "/tests/1/expect/out/count: not a non-negative integer"));
  CHECK(contains(r.err, "sluice: " + f + ": 10 problems"));

  // A missing pipeline, and a test file that is not JSON.
  const auto missing = dir.write("missing.test.json", R"J({"pipeline": "nowhere.json", "tests": [{"name": "x", "expect": {}}]})J");
  auto m = run_sluice(dir, {{"test", missing.string()}});
  CHECK(m.code() == 2);
  CHECK(contains(m.err, "nowhere.json: cannot read"));
  const auto broken = dir.write("broken.test.json", "{\"pipeline\": ");
  m = run_sluice(dir, {{"test", broken.string()}});
  CHECK(m.code() == 2);
  CHECK(contains(m.err, broken.string() + ":1:"));
  m = run_sluice(dir, {{"test"}});
  CHECK(m.code() == 2);
  CHECK(contains(m.err, "no test file given"));
}

TEST_CASE("event-time windows: events out of order, the watermark, a late event and the end of input") {
  temp_dir dir;
  const auto r = run_tests(dir, R"J({
  "version": 1,
  "stages": {
    "in":  {"type": "stdin", "options": {"format": "jsonl"}},
    "w":   {"type": "window", "options": {"kind": "tumbling", "size_ms": 10000, "time": "event",
                                          "allowed_lateness_ms": 2000, "aggregate": "count"},
            "subscribe_to": "in"},
    "out": {"type": "stdout", "subscribe_to": "w"}
  }
})J", R"J({
  "pipeline": "pipeline.json",
  "tests": [{
    "name": "out of order within the lateness, then late",
    "steps": [
      {"event": {"a": 1}, "time": "2024-05-01T10:00:05Z"},
      {"event": {"a": 2}, "time": "2024-05-01T10:00:01Z"},
      {"event": {"a": 3}, "time": "2024-05-01T10:00:11Z"},
      {"advance_ms": 3600000},
      {"expect": {"out": {"count": 0}}},
      {"event": {"a": 4}, "time": "2024-05-01T10:00:12.500Z"},
      {"expect": {"out": {"jq": ".count == 2 and .trigger == \"watermark\""}}},
      {"event": {"a": 5}, "time": 1714557603}
    ],
    "expect": {"out": {"events": [
      {"key": null, "start": 1714557600000, "end": 1714557610000, "value": 2, "count": 2, "trigger": "watermark"},
      {"late": {"a": 5}},
      {"key": null, "start": 1714557610000, "end": 1714557620000, "value": 2, "count": 2, "trigger": "end"}
    ]}}
  }]
})J");
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(last_line(r.out) == "1 passed, 0 failed");
}

TEST_CASE("processing time is virtual: a window closes, a batch times out and a tick ticks when the test advances") {
  temp_dir dir;
  const auto r = run_tests(dir, R"J({
  "version": 1,
  "stages": {
    "in":    {"type": "stdin", "options": {"format": "jsonl"}, "dispatcher": "broadcast"},
    "ticks": {"type": "tick", "options": {"interval_ms": 1000}},
    "w":     {"type": "window", "options": {"kind": "tumbling", "size_ms": 60000, "time": "processing"},
              "subscribe_to": "in"},
    "b":     {"type": "batch", "options": {"size": 100, "timeout_ms": 60000}, "subscribe_to": "in"},
    "wout":  {"type": "stdout", "subscribe_to": "w"},
    "bout":  {"type": "file", "options": {"path": "b.jsonl"}, "subscribe_to": "b"},
    "tout":  {"type": "file", "options": {"path": "t.jsonl"}, "subscribe_to": "ticks"}
  }
})J", R"J({
  "pipeline": "pipeline.json",
  "start": "2024-05-01T10:00:00Z",
  "tests": [{
    "name": "a minute of virtual time",
    "steps": [
      {"to": "in", "events": [1, 2, 3]},
      {"advance_ms": 59999},
      {"expect": {"bout": {"count": 0}, "wout": {"count": 0}, "tout": {"count": 59}}},
      {"advance_ms": 1},
      {"expect": {"bout": {"events": [[1, 2, 3]]},
                  "wout": {"events": [{"key": null, "start": 1714557600000, "end": 1714557660000,
                                       "value": 3, "count": 3, "trigger": "watermark"}]},
                  "tout": {"count": 60, "jq": ".tick < 60"}}},
      {"to": "in", "event": 4}
    ],
    "expect": {"bout": {"events": [[1, 2, 3], [4]]}, "tout": {"count": 60}, "wout": {"count": 2}}
  }]
})J");
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(last_line(r.out) == "1 passed, 0 failed");
  CHECK(r.elapsed < std::chrono::seconds(30));  // a real minute's timers would have taken one
}

TEST_CASE("retries wait on the virtual clock: a back-off of minutes takes none of the test's time") {
  temp_dir dir;
  const auto r = run_tests(dir, R"J({
  "version": 1,
  "stages": {
    "in":   {"type": "stdin", "options": {"format": "jsonl"}},
    "fail": {"type": "jq", "options": {"filter": "error(\"no\")"}, "subscribe_to": "in",
             "on_error": {"retry": {"max": 2, "backoff_ms": 60000, "max_backoff_ms": 600000}, "dead_letter": "dead"}},
    "out":  {"type": "stdout", "subscribe_to": "fail"},
    "dead": {"type": "file", "options": {"path": "dead.jsonl"}}
  }
})J", R"J({
  "pipeline": "pipeline.json",
  "tests": [{
    "name": "tried at 0, 60 s and 180 s, then a dead letter",
    "steps": [
      {"event": {"x": 1}},
      {"advance_ms": 179999},
      {"expect": {"dead": {"count": 0}}},
      {"advance_ms": 1}
    ],
    "expect": {"out": {"count": 0},
               "dead": {"events": [{"event": {"x": 1}, "error": "no", "stage": "fail", "attempts": 3,
                                    "time": "2024-01-01T00:03:00.000Z"}]}}
  }]
})J");
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(last_line(r.out) == "1 passed, 0 failed");
  CHECK(!std::filesystem::exists(dir / "dead.jsonl"));
}

TEST_CASE("the example pipelines' test files pass") {
  std::vector<std::string> args{"test"};
  for (auto& entry : std::filesystem::directory_iterator(pipelines_dir())) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 10 && name.ends_with(".test.json")) args.push_back(entry.path().string());
  }
  REQUIRE(args.size() >= 5);
  temp_dir dir;
  invocation what(args);
  what.cwd = source_root();
  const auto r = run_sluice(dir, what);
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(contains(last_line(r.out), " passed, 0 failed"));
  CHECK(!contains(r.out, "FAILED"));
}

}  // TEST_SUITE
