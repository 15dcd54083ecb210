// Dead letters and retries (issue 17, item 2) through the real `sluice` binary: a poison message
// among 100,000 events goes to the dead-letter stage with what failed while the rest flow on in
// order; retries run a failed input again (attempts = max + 1) without holding the others back;
// retries then `fail` fail the stage naming the attempts; the schema describes on_error. (The
// bad on_error fixtures are in bad_pipelines.hpp, run by the loader's and the CLI's tests.)
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "example_checks.hpp"

using namespace sluice::testing;
using nlohmann::json;

namespace {

/// Runs the pipeline `text` (written to `dir`) with OUT_DIR set to `dir`.
run_result run_pipeline(const temp_dir& dir, const std::string& text) {
  const auto file = dir.write("pipeline.json", text);
  return run_sluice(dir, {{"run", file.string()}, child_env({{"OUT_DIR", dir.path().string()}})});
}

/// `n` lines {"n": i, "x": i} for i = 1..n, except that line `bad` has "x": "s" (a string: `.x + 1`
/// fails on it).
std::string numbered_lines(std::size_t n, std::size_t bad) {
  std::string text;
  for (std::size_t i = 1; i <= n; ++i) {
    text += "{\"n\":" + std::to_string(i) + ",\"x\":" + (i == bad ? std::string("\"s\"") : std::to_string(i)) + "}\n";
  }
  return text;
}

/// The stage `dead` writing dead.jsonl, when `on_error` names it (else nothing would feed it).
std::string dead_stage(const std::string& on_error) {
  return contains(on_error, "dead_letter") ? R"(,
    "dead": {"type": "file", "options": {"path": "${OUT_DIR}/dead.jsonl"}})" : "";
}

/// The pipeline: lines of `in.jsonl` -> parse (jq `{n, y: (.x + 1)}`, with `on_error`) -> out.jsonl,
/// and the dead-letter stage `dead`, if `on_error` names it.
std::string poison_pipeline(const std::string& on_error) {
  return R"({
  "version": 1,
  "stages": {
    "lines": {"type": "file", "options": {"path": "${OUT_DIR}/in.jsonl", "format": "jsonl"}},
    "parse": {"type": "jq", "options": {"filter": "{n, y: (.x + 1)}"}, "subscribe_to": "lines",
              "on_error": )" + on_error + R"(},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/out.jsonl"}, "subscribe_to": "parse"})" + dead_stage(on_error) + R"(
  }
})";
}

/// Checks that `out` holds y = n + 1 for n = 1..total except `bad`, in order.
void check_the_rest_in_order(const std::vector<json>& out, std::size_t total, std::size_t bad) {
  REQUIRE(out.size() == total - 1);
  std::size_t wrong = 0;
  std::size_t n = 0;
  for (const json& o : out) {
    ++n;
    if (n == bad) ++n;
    if (o != json{{"n", n}, {"y", n + 1}}) ++wrong;
  }
  CHECK(wrong == 0);
}

/// Checks one dead letter: the original event, the stage, jq's error, the attempts and an RFC 3339 time.
void check_dead_letter(const json& letter, std::size_t bad, std::size_t attempts) {
  INFO(letter.dump());
  CHECK(letter["event"] == json{{"n", bad}, {"x", "s"}});
  CHECK(letter["stage"] == "parse");
  CHECK(letter["attempts"] == attempts);
  REQUIRE(letter["error"].is_string());
  CHECK(contains(letter["error"].get<std::string>(), "cannot be added"));
  REQUIRE(letter["time"].is_string());
  CHECK(std::regex_match(letter["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(letter.size() == 5);
}

}  // namespace

TEST_SUITE("dead_letters") {

TEST_CASE("one poison message among 100,000 reaches the dead-letter stage with what failed; the rest flow on in order") {
  constexpr std::size_t total = 100'000;
  constexpr std::size_t bad = 54'321;
  temp_dir dir;
  dir.write("in.jsonl", numbered_lines(total, bad));
  const auto r = run_pipeline(dir, poison_pipeline(R"({"dead_letter": "dead"})"));
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  check_the_rest_in_order(whole_jsonl(read_file(dir / "out.jsonl")), total, bad);
  const auto dead = whole_jsonl(read_file(dir / "dead.jsonl"));
  REQUIRE(dead.size() == 1);
  check_dead_letter(dead[0], bad, 1);
  const auto s = parse_summary(r.err);
  CHECK(s["parse"].in == total);
  CHECK(s["parse"].out == total);  // 99,999 outputs and the dead letter
  CHECK(s["parse"].dead_letters == 1);
  CHECK(s["parse"].retried == 0);
  CHECK(s["parse"].skipped == 0);
  CHECK(s["out"].in == total - 1);
  CHECK(s["dead"].in == 1);
}

TEST_CASE("a failed input is retried max times (attempts = max + 1) while the events behind it go on") {
  constexpr std::size_t total = 1000;
  constexpr std::size_t bad = 3;
  temp_dir dir;
  dir.write("in.jsonl", numbered_lines(total, bad));
  const auto r = run_pipeline(dir, poison_pipeline(R"({"retry": {"max": 3, "backoff_ms": 5, "max_backoff_ms": 10}, "dead_letter": "dead"})"));
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  check_the_rest_in_order(whole_jsonl(read_file(dir / "out.jsonl")), total, bad);
  const auto dead = whole_jsonl(read_file(dir / "dead.jsonl"));
  REQUIRE(dead.size() == 1);
  check_dead_letter(dead[0], bad, 4);
  const auto s = parse_summary(r.err);
  CHECK(s["parse"].retried == 3);
  CHECK(s["parse"].dead_letters == 1);
  CHECK(s["dead"].in == 1);
}

TEST_CASE("a dead-letter stage with producers of its own takes both, and several stages may share it") {
  temp_dir dir;
  dir.write("in.jsonl", numbered_lines(100, 10) + "{\"n\":101,\"x\":[]}\n");
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "lines": {"type": "file", "options": {"path": "${OUT_DIR}/in.jsonl", "format": "jsonl"}},
    "parse": {"type": "jq", "options": {"filter": "{n, y: (.x + 1)}"}, "subscribe_to": "lines", "concurrency": 2,
              "on_error": {"dead_letter": "problems"}},
    "check": {"type": "jq", "options": {"filter": "if .n == 50 then error(\"fifty\") else . end"}, "subscribe_to": "parse",
              "on_error": {"dead_letter": "problems"}},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/out.jsonl"}, "subscribe_to": "check"},
    "notes": {"type": "generate", "options": {"event": {"note": "hello"}, "count": 2}},
    "problems": {"type": "file", "options": {"path": "${OUT_DIR}/problems.jsonl"}, "subscribe_to": "notes"}
  }
})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  CHECK(whole_jsonl(read_file(dir / "out.jsonl")).size() == 98);  // 101 lines, less 10, 50 and 101
  const auto problems = whole_jsonl(read_file(dir / "problems.jsonl"));
  REQUIRE(problems.size() == 5);
  std::size_t notes = 0;
  std::vector<json> failed;
  for (const json& p : problems) {
    if (p.contains("note")) ++notes;
    else failed.push_back(p["event"]);
  }
  CHECK(notes == 2);
  std::sort(failed.begin(), failed.end(), [](const json& a, const json& b) { return a["n"] < b["n"]; });
  CHECK(failed == std::vector<json>{json{{"n", 10}, {"x", "s"}}, json{{"n", 50}, {"y", 51}}, json{{"n", 101}, {"x", json::array()}}});
  const auto s = parse_summary(r.err);
  CHECK(s["parse"].dead_letters == 2);
  CHECK(s["check"].dead_letters == 1);
}

TEST_CASE("retries and then fail: the stage fails naming the event and its attempts, after the events before it") {
  temp_dir dir;
  dir.write("in.jsonl", numbered_lines(5, 3));
  const auto r = run_pipeline(dir, poison_pipeline(R"({"retry": {"max": 2, "backoff_ms": 1}})"));
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "jq error on event 3 of its input ({\"n\":3,\"x\":\"s\"}) (after 3 attempts)"));
  CHECK(parse_summary(r.err)["parse"].retried == 2);
  const auto out = whole_jsonl(read_file(dir / "out.jsonl"));
  REQUIRE(out.size() >= 2);
  CHECK(out[0] == json{{"n", 1}, {"y", 2}});
  CHECK(out[1] == json{{"n", 2}, {"y", 3}});
}

TEST_CASE("a file source sends its bad lines to the dead-letter stage (the line as a string, or null when too long)") {
  temp_dir dir;
  std::string text;
  for (std::size_t i = 1; i <= 1000; ++i) {
    if (i == 300) text += "{\"n\": 300,\n";                                  // not JSON
    else if (i == 600) text += "\"caf\xff\"\n";                                // not UTF-8
    else if (i == 900) text += "{\"n\": 900, \"pad\": \"" + std::string(200, 'x') + "\"}\n";  // too long
    else text += "{\"n\":" + std::to_string(i) + "}\n";
  }
  dir.write("in.jsonl", text);
  const auto r = run_pipeline(dir, R"({
  "version": 1,
  "stages": {
    "lines": {"type": "file", "options": {"path": "${OUT_DIR}/in.jsonl", "format": "jsonl", "max_line_bytes": 100},
              "on_error": {"dead_letter": "dead"}},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/out.jsonl"}, "subscribe_to": "lines"},
    "dead": {"type": "file", "options": {"path": "${OUT_DIR}/dead.jsonl"}}
  }
})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  std::vector<json> expected;
  for (std::size_t i = 1; i <= 1000; ++i) {
    if (i != 300 && i != 600 && i != 900) expected.push_back(json{{"n", i}});
  }
  CHECK(whole_jsonl(read_file(dir / "out.jsonl")) == expected);
  const auto dead = whole_jsonl(read_file(dir / "dead.jsonl"));
  REQUIRE(dead.size() == 3);
  CHECK(dead[0]["event"] == "{\"n\": 300,");
  CHECK(dead[1]["event"] == "\"caf\xef\xbf\xbd\"");  // the bad byte replaced (U+FFFD)
  CHECK(dead[2]["event"].is_null());
  const std::string file = (dir / "in.jsonl").string();
  CHECK(dead[0]["error"].get<std::string>().starts_with(file + ":300: "));
  CHECK(dead[1]["error"].get<std::string>().starts_with(file + ":600: not valid UTF-8"));
  CHECK(dead[2]["error"] == file + ":900: line longer than max_line_bytes (100 bytes)");
  for (const json& d : dead) {
    CHECK(d["stage"] == "lines");
    CHECK(d["attempts"] == 1);
  }
  const auto s = parse_summary(r.err);
  CHECK(s["lines"].dead_letters == 3);
  CHECK(s["dead"].in == 3);
}

// --- a plugin's event_transform (tests/plugin: `fragile` throws on the event `at`) ------------------

/// numbers 1..1000 -> fragile (with `on_error`) -> out.jsonl, and `dead` writing dead.jsonl; run
/// with the test plugin.
run_result run_fragile(const temp_dir& dir, const std::string& fragile_options, const std::string& on_error) {
  const auto file = dir.write("pipeline.json", R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 1000}},
    "fragile": {"type": "fragile", "options": )" + fragile_options + R"(, "subscribe_to": "numbers", "on_error": )" + on_error + R"(},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/out.jsonl"}, "subscribe_to": "fragile"})" + dead_stage(on_error) + R"(
  }
})");
  return run_sluice(dir, {{"run", file.string(), "--plugin", SLUICE_TEST_PLUGIN}, child_env({{"OUT_DIR", dir.path().string()}})});
}

std::vector<json> one_to(std::size_t n, std::size_t without = 0) {
  std::vector<json> v;
  for (std::size_t i = 1; i <= n; ++i) {
    if (i != without) v.push_back(i);
  }
  return v;
}

TEST_CASE("a plugin transform that throws on one event sends that event to the dead-letter stage; the rest flow on in order") {
  temp_dir dir;
  const auto r = run_fragile(dir, R"({"at": "500"})", R"({"dead_letter": "dead"})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  CHECK(whole_jsonl(read_file(dir / "out.jsonl")) == one_to(1000, 500));
  const auto dead = whole_jsonl(read_file(dir / "dead.jsonl"));
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["event"] == 500);
  CHECK(dead[0]["error"] == "fragile: cannot take 500");
  CHECK(dead[0]["stage"] == "fragile");
  CHECK(dead[0]["attempts"] == 1);
  CHECK(parse_summary(r.err)["fragile"].dead_letters == 1);
}

TEST_CASE("a plugin transform that fails twice on an event and then takes it loses nothing when retried") {
  temp_dir dir;
  const auto r = run_fragile(dir, R"({"at": "500", "failures": 2})", R"({"retry": {"max": 3, "backoff_ms": 1}, "dead_letter": "dead"})");
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  auto out = whole_jsonl(read_file(dir / "out.jsonl"));
  CHECK(out.size() == 1000);
  std::sort(out.begin(), out.end());  // the retried event comes after some of those behind it
  CHECK(out == one_to(1000));
  CHECK(read_file(dir / "dead.jsonl").empty());
  const auto s = parse_summary(r.err);
  CHECK(s["fragile"].retried == 2);
  CHECK(s["fragile"].dead_letters == 0);
}

TEST_CASE("a plugin transform that throws, with on_error fail, fails its stage naming the event (no crash, exit 1)") {
  temp_dir dir;
  const auto r = run_fragile(dir, R"({"at": "500"})", R"("fail")");
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "failed on event 500 of its input: fragile: cannot take 500"));
  const auto out = whole_jsonl(read_file(dir / "out.jsonl"));
  CHECK(out == one_to(499));  // the events before it went first
}

TEST_CASE("`sluice graph` draws a dead-letter edge dashed, as dot and as mermaid") {
  temp_dir dir;
  const auto file = dir.write("pipeline.json", poison_pipeline(R"({"dead_letter": "dead"})"));
  const auto env = child_env({{"OUT_DIR", dir.path().string()}});
  auto r = run_sluice(dir, {{"graph", file.string()}, env});
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  CHECK(contains(r.out, "\"parse\" -> \"dead\" [style=dashed, label=\"dead letters\"];"));
  CHECK(contains(r.out, "\"parse\" -> \"out\";"));
  r = run_sluice(dir, {{"graph", file.string(), "--format", "mermaid"}, env});
  CHECK(contains(r.out, "parse -. dead letters .-> dead"));
}

TEST_CASE("`sluice schema` describes on_error: an action, or retry and dead_letter") {
  temp_dir dir;
  const auto r = run_sluice(dir, {{"schema"}});
  REQUIRE(r.code() == 0);
  const json schema = json::parse(r.out);
  const json& on_error = schema["properties"]["stages"]["additionalProperties"]["properties"]["on_error"];
  INFO(on_error.dump(2));
  REQUIRE(on_error["oneOf"].size() == 2);
  CHECK(on_error["oneOf"][0]["enum"] == json{"fail", "skip"});
  const json& object = on_error["oneOf"][1];
  CHECK(object["properties"]["retry"]["properties"]["max"]["maximum"] == 1000);
  CHECK(object["properties"]["retry"]["properties"]["backoff_ms"]["default"] == 100);
  CHECK(object["properties"]["dead_letter"]["type"] == "string");
}

}  // TEST_SUITE("dead_letters")
