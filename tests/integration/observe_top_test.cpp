// Issue 16: `sluice top` in its plain mode (what it prints when its output is not a terminal),
// against a running `sluice run --http`.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "observe_support.hpp"

using namespace sluice::testing;

namespace {

auto deadline() { return test_clock::now() + watchdog; }

/// The row of `stage` in a plain table ("" if none): the line starting with its name and a space.
std::string row_of(const std::string& table, const std::string& stage) { return line_starting(table, stage + " "); }

/// `sluice top` run to its end against `base` with `flags`.
run_result top(const temp_dir& dir, const std::string& base, std::vector<std::string> flags) {
  flags.insert(flags.begin(), {"top", base});
  return run_sluice(dir, {flags});
}

}  // namespace

TEST_SUITE("observe_top") {

TEST_CASE("sluice top prints a table per refresh, a row per stage with its rates, sorted and filtered as asked") {
  temp_dir dir;
  auto child = start_sluice(dir, {{"run", steady_pipeline(dir).string(), "--http", "127.0.0.1:0"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  await_api(child, base, [](const nlohmann::json& a) { return stage_in(a, "sink")["in_per_second"] > 0; }, deadline());

  // Standard output is a file here: plain by itself, without escape codes.
  const run_result r = top(dir, base, {"--count", "2", "--interval", "200"});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK_FALSE(contains(r.out, "\x1b"));
  const auto lines = lines_of(r.out);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("sluice top: pipeline \"steady\"", 0) == 0; }) == 2);
  CHECK(contains(r.out, "STAGE"));
  CHECK(contains(r.out, "BACKPR"));
  CHECK(contains(row_of(r.out, "sink"), "null"));
  CHECK(contains(row_of(r.out, "sink"), "/s"));
  CHECK_FALSE(contains(row_of(r.out, "sink"), " 0/s"));  // a sink's events-in rate while 2,000 a second flow
  CHECK(contains(row_of(r.out, "src"), "generate"));
  CHECK(contains(row_of(r.out, "double"), "jq"));

  const run_result sorted = top(dir, base, {"--plain", "--count", "1", "--sort", "stage", "--desc"});
  INFO(describe(sorted));
  const auto at = [&](const std::string& stage) { return sorted.out.find("\n" + stage + " "); };
  CHECK(at("src") < at("sink"));
  CHECK(at("sink") < at("double"));

  const run_result filtered = top(dir, base, {"--plain", "--count", "1", "--filter", "^s"});
  INFO(describe(filtered));
  CHECK_FALSE(row_of(filtered.out, "src").empty());
  CHECK_FALSE(row_of(filtered.out, "sink").empty());
  CHECK(row_of(filtered.out, "double").empty());
}

TEST_CASE("sluice top flags the stalled stage, with its edge, and the bottleneck") {
  temp_dir dir;
  const auto fifo = dir / "out.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // never read: the sink gets stuck
  REQUIRE(reader >= 0);
  auto child = start_sluice(dir, {{"run", fifo_pipeline(dir, fifo).string(), "--http", "127.0.0.1:0", "--stall-timeout", "1"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  await_api(child, base, [](const nlohmann::json& a) { return !a["stalled"].empty() && stage_in(a, "sink")["bottleneck"] == true; }, deadline());
  const run_result r = top(dir, base, {"--plain", "--count", "1"});
  ::close(reader);
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(contains(row_of(r.out, "sink"), "STALLED"));
  CHECK(contains(row_of(r.out, "sink"), "BOTTLENECK"));
  CHECK(contains(row_of(r.out, "src"), "back_pressured"));
  CHECK_FALSE(contains(row_of(r.out, "src"), "STALLED"));
  CHECK(contains(r.out, "STALLED: \"sink\" on edge \"src\" -> \"sink\""));
}

TEST_CASE("sluice top fails naming the URL when nothing answers there; bad flags are usage errors") {
  temp_dir dir;
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(free_port());
  const run_result r = top(dir, nowhere, {"--plain", "--count", "1"});
  INFO(describe(r));
  CHECK(r.code() == 1);
  CHECK(contains(r.err, "sluice top: cannot read " + nowhere + "/api/pipeline"));
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--interval", "99"}, {"--sort", "colour"}, {"--filter", "("}, {"--count"}, {"--bogus"}}) {
    const run_result u = top(dir, nowhere, bad);
    INFO(describe(u));
    CHECK(u.code() == 2);
  }
}

}  // TEST_SUITE("observe_top")
