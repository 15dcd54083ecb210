// Issue 12, the CLI's part: numeric flags in range, --version and COMMAND --help, --set values that
// are not JSON, plugins that fail to register, and signals from main's first instruction on. (The
// checks of several writers on one stream and of the engine keys' ranges are in bad_pipelines.hpp,
// which cli_test runs through check and run.)
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// An endless source into a sink that discards: only a signal ends it.
constexpr const char* endless_pipeline = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1}},
    "out": {"type": "null", "subscribe_to": "numbers"}
  }
})";

/// The signals process `pid` blocks (SigBlk in /proc/PID/status); 0 if it cannot be read.
unsigned long long blocked_signals(pid_t pid) {
  for (const auto& line : lines_of(read_file("/proc/" + std::to_string(pid) + "/status"))) {
    if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

/// Whether process `pid` waits in open(2) for a FIFO's writer (Linux's wait_for_partner).
bool waits_on_fifo(pid_t pid) { return contains(read_file("/proc/" + std::to_string(pid) + "/wchan"), "wait_for_partner"); }

bool blocks(pid_t pid, int sig) { return (blocked_signals(pid) >> (sig - 1)) & 1U; }

}  // namespace

TEST_SUITE("issue 12: the sluice command line") {

TEST_CASE("--threads takes an integer from 1 to 256 and says so otherwise") {
  temp_dir dir;
  const auto hello = (pipelines_dir() / "hello.json").string();
  // -1 used to abort on a oneTBB assertion (exit 134) and 100000 to start that many threads.
  for (const char* bad : {"-1", "0", "257", "100000", "8x", "", "18446744073709551617"}) {
    const auto r = run_sluice(dir, {{"run", hello, "--threads", bad, "--set", "stages.out.options.path=out.jsonl"}});
    INFO("--threads '", bad, "': ", describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "sluice: --threads takes an integer from 1 to 256, got '" + std::string(bad) + "'"));
    CHECK(contains(r.err, "see `sluice run --help`"));
    CHECK_FALSE(fs::exists(dir / "out.jsonl"));
  }
  const auto r = run_sluice(dir, {{"run", hello, "--threads", "1", "--set", "stages.out.options.path=out.jsonl"}});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(lines_of(read_file(dir / "out.jsonl")).size() == 50000);
}

TEST_CASE("--version prints the project's version") {
  temp_dir dir;
  const auto r = run_sluice(dir, {{"--version"}});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(r.out == "sluice " SLUICE_PROJECT_VERSION "\n");
}

TEST_CASE("every command's --help prints its usage and exits 0") {
  temp_dir dir;
  const auto hello = (pipelines_dir() / "hello.json").string();
  for (const char* command : {"run", "check", "graph", "stages", "schema", "test", "demo"}) {
    for (const char* flag : {"--help", "-h"}) {
      const auto r = run_sluice(dir, {{command, flag}});
      INFO(command, " ", flag, ": ", describe(r));
      CHECK(r.code() == 0);
      CHECK(r.out.rfind("usage: sluice " + std::string(command), 0) == 0);
      CHECK(r.err.empty());
    }
  }
  // After other arguments too, and nothing runs.
  const auto r = run_sluice(dir, {{"run", hello, "--set", "stages.out.options.path=out.jsonl", "--help"}});
  CHECK(r.code() == 0);
  CHECK(contains(r.out, "--threads N (1 to 256"));
  CHECK_FALSE(fs::exists(dir / "out.jsonl"));
  const auto help = run_sluice(dir, {{"help", "check"}});
  CHECK(help.out.rfind("usage: sluice check FILE", 0) == 0);
}

TEST_CASE("--set takes a value that is not JSON as a string, even one that starts with { or [") {
  temp_dir dir;
  const auto file = dir.write("pick.json", R"({
  "version": 1,
  "stages": {
    "events": {"type": "generate", "options": {"event": {"a": 1, "b": 2}, "count": 2}},
    "f": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "events"},
    "print": {"type": "stdout", "subscribe_to": "f"}
  }
})");
  for (const std::string filter : {"{a}", "[.a, .b]"}) {
    const auto r = run_sluice(dir, {{"run", file.string(), "--set", "stages.f.options.filter=" + filter}});
    INFO(filter, ": ", describe(r));
    CHECK(r.code() == 0);
    const json expected = filter == "{a}" ? json{{"a", 1}} : json::array({1, 2});
    CHECK(jsonl(r.out) == std::vector<json>{expected, expected});
  }
  // Where a string does not fit, the loader says so, at --set.
  const auto r = run_sluice(dir, {{"check", file.string(), "--set", "stages.events.options.count=[1,"}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(contains(r.err, "--set: /stages/events/options/count: got a string"));
}

TEST_CASE("a plugin that fails to register is a usage error naming the plugin, whatever it throws") {
  temp_dir dir;
  const std::string plugin = SLUICE_MISBEHAVING_PLUGIN;
  struct failure {
    const char* mode;
    std::string message;
  };
  const std::vector<failure> failures{
      {"throw_int", "failed to register: it threw something that is not a std::exception"},
      {"bad_default", "stage type 'misbehaving', option 'at': default \"ten\" is not of its type integer"},
      {"default_out_of_range", "stage type 'misbehaving', option 'at': default 0 is outside its range"},
  };
  for (const auto& f : failures) {
    const auto r = run_sluice(dir, {{"stages", "--plugin", plugin}, child_env({{"SLUICE_MISBEHAVE", f.mode}})});
    INFO(f.mode, ": ", describe(r));
    CHECK(r.code() == 2);  // not 134: a plugin's exception never aborts sluice
    CHECK(contains(r.err, "sluice: plugin " + plugin + " failed to register: "));
    CHECK(contains(r.err, f.message));
  }
  const auto r = run_sluice(dir, {{"stages", "--plugin", plugin}, child_env({{"SLUICE_MISBEHAVE", "none"}})});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(contains(r.out, "misbehaving (transform)"));
}

TEST_CASE("SIGTERM from the moment main runs ends a run cleanly: a drain or a clean stop, never death") {
  temp_dir dir;
  const auto file = dir.write("endless.json", endless_pipeline);
  // The signal goes as soon as sluice blocks it (its first instruction in main), so it lands
  // anywhere from loading the pipeline to running it. Before main nothing can take a signal, so
  // that moment is the earliest a test can ask of the program.
  int drained = 0;
  int before_start = 0;
  for (int round = 0; round < 20; ++round) {
    auto child = start_sluice(dir, {{"run", file.string()}});
    const bool masked = child.await([&] { return blocks(child.pid(), SIGTERM); }, test_clock::now() + watchdog);
    child.signal(SIGTERM);
    const auto status = child.wait_or_kill(watchdog);
    const std::string err = child.err();
    INFO("round ", round, ": ", status.to_string(), "\nstderr: ", err);
    REQUIRE(masked);
    CHECK_FALSE(child.timed_out());
    REQUIRE(status.exited);
    CHECK(status.code == 0);
    CHECK(contains(err, "sluice: terminated: draining"));
    if (contains(err, "sluice: stopped before the pipeline started: nothing ran")) {
      ++before_start;
      CHECK_FALSE(contains(err, "wall time:"));
    } else {
      ++drained;
      CHECK(parse_summary(err)["out"].type == "null");
    }
  }
  MESSAGE(drained, " drained, ", before_start, " stopped before starting");
}

TEST_CASE("SIGTERM while the pipeline file is still being read stops the run before it starts") {
  temp_dir dir;
  // A FIFO as the pipeline file holds `run` in its loading (open(2) waits for a writer): the
  // signal lands there for sure. It used to kill sluice (the mask was set after loading).
  const auto fifo = dir / "pipeline.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto child = start_sluice(dir, {{"run", fifo.string()}});
  REQUIRE(child.await([&] { return waits_on_fifo(child.pid()); }, test_clock::now() + watchdog));
  child.signal(SIGTERM);
  REQUIRE(child.await([&] { return contains(child.err(), "sluice: terminated: draining"); }, test_clock::now() + watchdog));
  std::ofstream(fifo) << endless_pipeline;  // now the load goes on, and finds the run stopped
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO(status.to_string(), "\nstderr: ", err);
  CHECK_FALSE(child.timed_out());
  REQUIRE(status.exited);
  CHECK(status.code == 0);
  CHECK(contains(err, "sluice: stopped before the pipeline started: nothing ran"));
  CHECK_FALSE(contains(err, "wall time:"));
}

TEST_CASE("SIGINT while 1024 copies start drains them once they exist") {
  temp_dir dir;
  const auto file = dir.write("wide.json", R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"from": 1}},
    "out": {"type": "null", "subscribe_to": "numbers", "concurrency": 1024}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string()}});
  REQUIRE(child.await([&] { return blocks(child.pid(), SIGINT); }, test_clock::now() + watchdog));
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO(status.to_string(), "\nstderr: ", err);
  CHECK_FALSE(child.timed_out());
  REQUIRE(status.exited);
  CHECK(status.code == 0);
  CHECK(contains(err, "sluice: interrupted: draining"));
}

TEST_CASE("commands other than run still end on SIGINT") {
  temp_dir dir;
  // check opens its file: a FIFO nobody writes to keeps it waiting until the signal.
  const auto fifo = dir / "pipeline.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto child = start_sluice(dir, {{"check", fifo.string()}});
  REQUIRE(child.await([&] { return waits_on_fifo(child.pid()); }, test_clock::now() + watchdog));
  CHECK(blocked_signals(child.pid()) == 0);
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  CHECK_FALSE(child.timed_out());
  CHECK_FALSE(status.exited);
  CHECK(status.signal == SIGINT);
}

}  // TEST_SUITE
