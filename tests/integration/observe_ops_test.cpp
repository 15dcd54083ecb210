// Issue 16, operations: `--log-format json` (time, level, pipeline, stage, message on every line of
// a run), and the settings a container gives through the environment (SLUICE_HTTP,
// SLUICE_LOG_FORMAT, SLUICE_STALL_TIMEOUT, SLUICE_DRAIN_TIMEOUT, SLUICE_THREADS).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "observe_support.hpp"

using namespace sluice::testing;

namespace {

auto deadline() { return test_clock::now() + watchdog; }

/// The records of a JSON log (every line must be one).
std::vector<nlohmann::json> records(const std::string& err) {
  std::vector<nlohmann::json> out;
  for (const auto& line : lines_of(err)) out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

}  // namespace

TEST_SUITE("observe_ops") {

TEST_CASE("with the settings from the environment, every line of a run is a JSON record naming the stage where it can") {
  temp_dir dir;
  const auto fifo = dir / "out.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // never read: the sink gets stuck
  REQUIRE(reader >= 0);
  auto child = start_sluice(dir, {{"run", fifo_pipeline(dir, fifo).string()},
                                  child_env({{"SLUICE_LOG_FORMAT", "json"}, {"SLUICE_STALL_TIMEOUT", "1"},
                                             {"SLUICE_DRAIN_TIMEOUT", "1"}, {"SLUICE_HTTP", "127.0.0.1:0"},
                                             {"SLUICE_THREADS", "2"}})});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  REQUIRE(child.await([&] { return contains(child.err(), "stalled"); }, deadline()));
  child.signal(SIGTERM);  // the drain cannot finish: the sink is stuck; SLUICE_DRAIN_TIMEOUT ends it
  const auto status = child.wait_or_kill(watchdog);
  INFO("status: ", status.to_string(), "\nstderr: ", child.err());
  CHECK_FALSE(child.timed_out());
  CHECK(status.exited);
  CHECK(status.code == 1);

  const auto log = records(child.err());
  REQUIRE(log.size() >= 4);
  bool stalled = false, draining = false, deadline_named = false;
  for (const auto& r : log) {
    INFO("record: ", r.dump());
    REQUIRE(r.is_object());
    CHECK(r.size() == 5);
    CHECK(r["time"].get<std::string>().size() == 24);  // 2026-12-07T06:27:45.846Z
    CHECK(r["time"].get<std::string>().back() == 'Z');
    CHECK(r["pipeline"] == "fifo");
    CHECK((r["stage"].is_null() || r["stage"].is_string()));
    const std::string message = r["message"].get<std::string>();
    CHECK_FALSE(message.empty());
    if (contains(message, "stalled: no progress")) {
      stalled = true;
      CHECK(r["level"] == "warning");
      CHECK(r["stage"] == "sink");
    }
    if (contains(message, "terminated: draining")) {
      draining = true;
      CHECK(r["level"] == "warning");
    }
    if (contains(message, "still running") && r["stage"] == "sink") {
      deadline_named = true;
      CHECK(r["level"] == "error");
    }
  }
  CHECK(stalled);
  CHECK(draining);
  CHECK(deadline_named);
  ::close(reader);
}

TEST_CASE("a bad setting in the environment is a usage error naming the variable; a flag wins over its variable") {
  temp_dir dir;
  const auto file = steady_pipeline(dir);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"SLUICE_LOG_FORMAT", "xml"}, {"SLUICE_STALL_TIMEOUT", "0"}, {"SLUICE_STALL_TIMEOUT", "soon"},
      {"SLUICE_DRAIN_TIMEOUT", "-1"}, {"SLUICE_THREADS", "0"}, {"SLUICE_HTTP", "8464"}};
  for (const auto& setting : bad) {
    const std::string& variable = setting.first;  // not a structured binding: Clang 14 cannot capture one
    const std::string& value = setting.second;
    const run_result r = run_sluice(dir, {{"run", file.string()}, child_env({{variable, value}})});
    INFO(variable, "=", value, "\n", describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "sluice: " + variable));
  }
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"--log-format", "yaml"}, {"--stall-timeout", "0.1"}, {"--stall-timeout", "86401"}, {"--log-format"}}) {
    std::vector<std::string> args{"run", file.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    const run_result r = run_sluice(dir, {args});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "sluice: " + flags[0]));
  }
  // The flag wins: text logs although the variable asks for JSON (a bad --set makes it end at once).
  const run_result text = run_sluice(dir, {{"run", file.string(), "--log-format", "text", "--set", "stages.src.options.count=5"},
                                           child_env({{"SLUICE_LOG_FORMAT", "json"}})});
  INFO(describe(text));
  CHECK(text.code() == 0);
  CHECK(parse_summary(text.err)["sink"].in == 5);
}

}  // TEST_SUITE("observe_ops")
