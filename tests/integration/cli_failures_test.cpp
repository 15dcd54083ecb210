// Integration tests of a running pipeline that fails or is interrupted, through the real `sluice`
// binary: missing and unwritable files, bad input lines, jq runtime errors, a throwing plugin
// stage, standard input, and draining on SIGINT/SIGTERM (a second SIGINT stops at once).
#include <doctest/doctest.h>

#include <signal.h>

#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "example_checks.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A plugin stage's pipeline: numbers through `explode`, which throws on the tenth.
constexpr const char* exploding_pipeline = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 100}},
    "boom": {"type": "explode", "options": {"at": 10, "message": "the tenth event is one too many"},
             "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "boom"}
  }
})";

/// Doubles `n` of each JSON line on standard input, printing the results.
constexpr const char* stdin_pipeline = R"({
  "version": 1,
  "stages": {
    "in": {"type": "stdin", "options": {"format": "jsonl"}},
    "double": {"type": "jq", "options": {"filter": ".n * 2"}, "subscribe_to": "in"},
    "print": {"type": "stdout", "subscribe_to": "double"}
  }
})";

/// The stats line's buffered count for `stage` in the last `--stats` line of `err`, if any.
std::optional<std::uint64_t> last_buffered(const std::string& err, const std::string& stage) {
  std::optional<std::uint64_t> found;
  const std::regex pattern(" " + stage + R"( \d+/s demand \d+ buffered (\d+))");
  for (auto& line : lines_of(err)) {
    std::smatch m;
    if (line.rfind("stats:", 0) == 0 && std::regex_search(line, m, pattern)) found = std::stoull(m[1].str());
  }
  return found;
}

/// Runs `pipeline` (endless) until its output file has something, sends `sig`, and checks the
/// drain: exit 0, every line whole, as many lines as the sink took in. Returns the lines.
std::vector<json> interrupt_and_drain(const temp_dir& dir, const std::string& pipeline, int sig) {
  const auto file = dir.write("endless.json", pipeline);
  const auto output = dir / "endless.jsonl";
  auto child = start_sluice(dir, {{"run", file.string()}, child_env({{"OUT_DIR", dir.path().string()}})});
  const bool started = child.await([&] { return fs::exists(output) && fs::file_size(output) > 0; },
                                   test_clock::now() + watchdog);
  INFO("stderr: ", child.err());
  REQUIRE(started);
  child.signal(sig);
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO("status: ", status.to_string(), "\nstderr: ", err);
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(contains(err, "draining"));
  auto values = whole_jsonl(read_file(output));
  CHECK(!values.empty());
  CHECK(parse_summary(err)["out"].in == values.size());
  return values;
}

}  // namespace

TEST_SUITE("cli_failures") {

// --- runtime failures ------------------------------------------------------------------------------

TEST_CASE("a missing input file fails the run with exit 1 naming the stage and the file") {
  temp_dir dir;
  const auto missing = dir / "nowhere";
  const auto r = run_sluice(dir, {{"run", (pipelines_dir() / "log_filter.json").string()},
                                  child_env({{"SLUICE_DATA", missing.string()}, {"OUT_DIR", dir.path().string()}})});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "stage \"log\""));
  CHECK(contains(r.err, (missing / "app.log.jsonl").string()));
}

TEST_CASE("an output file that cannot be created fails the run with exit 1 naming the stage and the file") {
  temp_dir dir;
  const auto missing = dir / "no_such_dir";
  const auto r = run_sluice(dir, {{"run", (pipelines_dir() / "log_filter.json").string()},
                                  child_env({{"OUT_DIR", missing.string()}})});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "stage \"out\""));
  CHECK(contains(r.err, (missing / "problems.jsonl").string()));
}

TEST_CASE("a bad JSON line in a jsonl source: on_error fail names file and line, skip counts it") {
  temp_dir dir;
  const auto log = dir.write("app.log.jsonl",
                             "{\"ts\": \"t1\", \"level\": \"error\", \"service\": \"a\", \"msg\": \"one\"}\n"
                             "{\"ts\": \"t2\", \"level\": \"info\", \"service\": \"a\", \"msg\": \"two\"}\n"
                             "{\"ts\": \"t3\", \"level\": \"error\", \"service\": \n"
                             "{\"ts\": \"t4\", \"level\": \"warn\", \"service\": \"b\", \"msg\": \"four\"}\n"
                             "{\"ts\": \"t5\", \"level\": \"debug\", \"service\": \"b\", \"msg\": \"five\"}\n");
  const auto env = child_env({{"SLUICE_DATA", dir.path().string()}, {"OUT_DIR", dir.path().string()}});
  const auto pipeline = (pipelines_dir() / "log_filter.json").string();

  SUBCASE("on_error: fail") {
    const auto r = run_sluice(dir, {{"run", pipeline}, env});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"log\" failed"));
    CHECK(contains(r.err, log.string() + ":3: not valid JSON"));
  }
  SUBCASE("on_error: skip") {
    const auto r = run_sluice(dir, {{"run", pipeline, "--set", "stages.log.options.on_error=skip"}, env});
    INFO(describe(r));
    CHECK(r.code() == 0);
    const auto s = parse_summary(r.err);
    CHECK(s["log"].skipped == 1);
    CHECK(s["log"].out == 4);
    CHECK(whole_jsonl(read_file(dir / "problems.jsonl")) ==
          std::vector<json>{{{"ts", "t1"}, {"level", "error"}, {"service", "a"}, {"msg", "one"}},
                            {{"ts", "t4"}, {"level", "warn"}, {"service", "b"}, {"msg", "four"}}});
  }
}

TEST_CASE("a jq runtime error: on_error fail names the stage and the error, skip counts it") {
  temp_dir dir;
  const auto file = dir.write("picky.json", R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1, "to": 10}},
    "picky": {"type": "jq", "options": {"filter": "if . == 5 then error(\"five is not allowed\") else . end"},
              "subscribe_to": "numbers"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/picky.jsonl"}, "subscribe_to": "picky"}
  }
})");
  const auto env = child_env({{"OUT_DIR", dir.path().string()}});

  SUBCASE("on_error: fail") {
    const auto r = run_sluice(dir, {{"run", file.string()}, env});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"picky\" failed"));
    CHECK(contains(r.err, "five is not allowed"));
  }
  SUBCASE("on_error: skip") {
    const auto r = run_sluice(dir, {{"run", file.string(), "--set", "stages.picky.options.on_error=skip"}, env});
    INFO(describe(r));
    CHECK(r.code() == 0);
    CHECK(whole_jsonl(read_file(dir / "picky.jsonl")) == std::vector<json>{1, 2, 3, 4, 6, 7, 8, 9, 10});
    const auto s = parse_summary(r.err);
    CHECK(s["picky"].skipped == 1);
    CHECK(s["picky"].out == 9);
  }
}

TEST_CASE("a runtime error of several lines names the stage on every line") {
  temp_dir dir;
  const auto file = dir.write("lines.json", R"json({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 3}},
    "picky": {"type": "jq", "options": {"filter": "error(\"first line\\nsecond line\\n\\nthird line\")"},
              "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "picky"}
  }
})json");
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "sluice: stage \"picky\" failed: "));
  CHECK(contains(r.err, "first line\nsluice: stage \"picky\": second line\nsluice: stage \"picky\": third line"));
}

TEST_CASE("a C++ stage that throws fails the run with exit 1, naming the stage and the exception") {
  temp_dir dir;
  const auto file = dir.write("explode.json", exploding_pipeline);
  auto r = run_sluice(dir, {{"check", file.string()}});
  CHECK(r.code() == 2);  // without the plugin, `explode` is unknown
  CHECK(contains(r.err, "unknown stage type \"explode\""));

  r = run_sluice(dir, {{"check", file.string(), "--plugin", SLUICE_TEST_PLUGIN}});
  CHECK(r.code() == 0);

  r = run_sluice(dir, {{"run", file.string(), "--plugin", SLUICE_TEST_PLUGIN}});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "stage \"boom\" failed"));
  CHECK(contains(r.err, "the tenth event is one too many"));
}

TEST_CASE("a stdin source reads standard input to its end") {
  temp_dir dir;
  const auto file = dir.write("stdin.json", stdin_pipeline);
  invocation what{{"run", file.string()}};
  what.stdin_file = dir.write("input.jsonl", "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}");  // no final newline
  const auto r = run_sluice(dir, what);
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(r.out == "2\n4\n6\n");
  CHECK(parse_summary(r.err)["print"].in == 3);
}

// --- signals ---------------------------------------------------------------------------------------

TEST_CASE("SIGINT drains an endless pipeline: nothing is lost and every line is whole") {
  temp_dir dir;
  const auto values = interrupt_and_drain(dir, R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1}},
    "wrap": {"type": "jq", "options": {"filter": "{n: .}"}, "subscribe_to": "numbers"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/endless.jsonl"}, "subscribe_to": "wrap"}
  }
})", SIGINT);
  // Every number the source produced reached the file, in order, with no gap.
  std::size_t out_of_place = 0;
  for (std::size_t i = 0; i < values.size(); ++i) out_of_place += values[i] == json{{"n", i + 1}} ? 0 : 1;
  CHECK(out_of_place == 0);
}

TEST_CASE("SIGTERM drains like SIGINT") {
  temp_dir dir;
  const auto values = interrupt_and_drain(dir, R"({
  "version": 1,
  "stages": {
    "source": {"type": "generate", "options": {"event": {"k": "v"}}},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/endless.jsonl"}, "subscribe_to": "source"}
  }
})", SIGTERM);
  CHECK(std::count(values.begin(), values.end(), json{{"k", "v"}}) == static_cast<std::ptrdiff_t>(values.size()));
}

TEST_CASE("SIGINT ends a pipeline whose stdin source is waiting for input") {
  temp_dir dir;
  const auto file = dir.write("stdin.json", stdin_pipeline);
  int input[2];
  REQUIRE(::pipe2(input, O_CLOEXEC) == 0);  // the child gets the read end as its standard input
  invocation what{{"run", file.string()}};
  what.stdin_fd = input[0];
  auto child = start_sluice(dir, what);
  ::close(input[0]);
  const std::string line = "{\"n\": 21}\n";
  CHECK(::write(input[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  const bool printed = child.await([&] { return child.out() == "42\n"; }, test_clock::now() + watchdog);
  INFO("stdout: ", child.out(), "\nstderr: ", child.err());
  CHECK(printed);
  child.signal(SIGINT);  // the input stays open: only the signal can end the run
  const auto status = child.wait_or_kill(watchdog);
  ::close(input[1]);
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(parse_summary(child.err())["print"].in == 1);
}

/// A pipeline whose drain cannot finish: the ticks pile up in the source's buffer, the limiter asks
/// for nothing (0.001 a second), so the drain waits for a buffer that never empties.
std::filesystem::path stuck_pipeline(const temp_dir& dir) {
  return dir.write("stuck.json", R"({
  "version": 1,
  "stages": {
    "ticks": {"type": "tick", "options": {"interval_ms": 1}},
    "slow": {"type": "rate_limit", "options": {"per_second": 0.001}, "subscribe_to": "ticks"},
    "out": {"type": "null", "subscribe_to": "slow"}
  }
})");
}

/// Waits until the ticks of stuck_pipeline are piling up (its --stats line says so).
bool ticks_buffered(child_process& child) {
  return child.await([&] { return last_buffered(child.err(), "ticks").value_or(0) > 0; }, test_clock::now() + watchdog);
}

TEST_CASE("a drain that cannot finish within --drain-timeout stops, naming the stages still running, exit 1") {
  temp_dir dir;
  const auto file = stuck_pipeline(dir);
  auto child = start_sluice(dir, {{"run", file.string(), "--stats", "--drain-timeout", "1"}});
  INFO("stderr: ", child.err());
  REQUIRE(ticks_buffered(child));
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  INFO("status: ", status.to_string(), "\nstderr: ", child.err());
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 1);
  CHECK(contains(child.err(), "still running 1000 ms after the drain began"));
  CHECK(contains(child.err(), "\"ticks\" (holding "));
  CHECK(contains(child.err(), "stage "));  // the summary was printed before

  for (const char* bad : {"-1", "86401", "1.5", "x"}) {
    const run_result r = run_sluice(dir, {{"run", file.string(), "--drain-timeout", bad}});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "--drain-timeout takes an integer from 0 to 86400"));
  }
}

TEST_CASE("a second SIGINT during a drain that cannot finish stops at once with exit 130") {
  temp_dir dir;
  const auto file = stuck_pipeline(dir);
  auto child = start_sluice(dir, {{"run", file.string(), "--stats"}});
  INFO("stderr: ", child.err());
  REQUIRE(ticks_buffered(child));
  child.signal(SIGINT);
  REQUIRE(child.await([&] { return contains(child.err(), "draining"); }, test_clock::now() + watchdog));
  REQUIRE_FALSE(child.ended());
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  INFO("status: ", status.to_string(), "\nstderr: ", child.err());
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 130);
  CHECK(contains(child.err(), "stopped at once"));
}

}  // TEST_SUITE("cli_failures")
