// Integration tests: the real `sluice` binary, driven as a user drives it. Every example pipeline,
// every configuration error (exit code, file:line:col and JSON pointer), --set and ${ENV}, the
// inspection commands, and the resources a running pipeline uses. Runtime failures and signals are
// in cli_failures_test.cpp.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bad_pipelines.hpp"
#include "cli_support.hpp"
#include "example_checks.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// The diagnostic line for `pointer` at `position` in `file`, or "".
std::string diagnostic_line(const std::string& err, const fs::path& file, const std::string& position,
                            const std::string& pointer) {
  return line_starting(err, file.string() + ":" + position + ": " + pointer + ": ");
}

bool has_stats_line(const std::string& err) { return !line_starting(err, "stats:").empty(); }

}  // namespace

TEST_SUITE("cli") {

// --- the example pipelines ---------------------------------------------------------------------

TEST_CASE("every example pipeline passes `sluice check`") {
  temp_dir dir;
  const auto files = example_pipelines();
  CHECK(files.size() >= 5);
  for (const auto& file : files) {
    const auto r = run_sluice(dir, {{"check", file.string()}});
    INFO(file.filename().string(), ": ", describe(r));
    CHECK(r.code() == 0);
    CHECK(contains(r.out, ": ok ("));
  }
}

TEST_CASE("every example pipeline runs to its end and writes what it should") {
  for (const auto& file : example_pipelines()) {
    temp_dir dir;
    const auto env = child_env({{"OUT_DIR", dir.path().string()}, {"OUT", (dir / "evens.jsonl").string()}});
    const auto r = run_sluice(dir, {{"run", file.string()}, env});
    INFO(file.filename().string(), ": ", describe(r));
    REQUIRE_FALSE(r.timed_out);
    CHECK(r.code() == 0);
    CHECK(parse_summary(r.err).wall_seconds.has_value());
    const auto check = content_checks().find(file.filename().string());
    if (check == content_checks().end()) {
      FAIL_CHECK("no content check for pipelines/" << file.filename().string() << ": add one to example_checks.hpp");
      continue;
    }
    check->second(dir, r);
  }
}

// --- configuration errors ------------------------------------------------------------------------

TEST_CASE("each configuration error exits 2 and names file:line:col and the JSON pointer") {
  temp_dir dir;
  for (const auto& c : bad_pipelines()) {
    const auto file = dir.write("bad.json", c.text);
    for (const char* command : {"check", "run"}) {
      const auto r = run_sluice(dir, {{command, file.string()}});
      INFO(std::string(c.name), " (sluice ", std::string(command), ")\nexpected: ", file.string(), ":", c.position,
           ": ", c.pointer, ": ", c.message, "\n", describe(r));
      CHECK(r.code() == 2);
      const std::string line = diagnostic_line(r.err, file, c.position, c.pointer);
      CHECK_MESSAGE(!line.empty(), "no diagnostic at that place");
      CHECK(contains(line, c.message));
      CHECK(contains(r.err, "sluice: " + file.string() + ": 1 problem\n"));
    }
  }
}

TEST_CASE("file paths collide as files: through a symlink, a dangling symlink or a hard link") {
  temp_dir dir;
  dir.write("data.jsonl", "1\n2\n");
  std::string other;   // the stage and path the diagnostic names
  std::string second;  // the sink's path
  std::string first_stage = R"("in": {"type": "file", "options": {"path": "data.jsonl"}})";
  SUBCASE("a sink writing, through a symlink, the file a source reads") {
    std::filesystem::create_symlink("data.jsonl", dir / "alias.jsonl");
    second = "alias.jsonl";
    other = R"(stage "in"'s "data.jsonl")";
  }
  SUBCASE("a sink writing, through a hard link, the file a source reads") {
    std::filesystem::create_hard_link(dir / "data.jsonl", dir / "twin.jsonl");
    second = "twin.jsonl";
    other = R"(stage "in"'s "data.jsonl")";
  }
  SUBCASE("two sinks, one through a dangling symlink to the other's output") {
    std::filesystem::create_symlink("new.jsonl", dir / "later.jsonl");
    first_stage = R"("in": {"type": "file", "options": {"path": "data.jsonl"}},
    "first": {"type": "file", "subscribe_to": "in", "options": {"path": "new.jsonl"}})";
    second = "later.jsonl";
    other = R"(stage "first"'s "new.jsonl")";
  }
  const std::string text = R"({
  "version": 1,
  "stages": {
    )" + first_stage + R"(,
    "out": {"type": "file", "subscribe_to": "in", "options": {"path": ")" + second + R"("}}
  }
})";
  const auto file = dir.write("loop.json", text);
  const auto r = run_sluice(dir, {{"run", file.string()}});
  INFO(text, "\n", describe(r));
  CHECK(r.code() == 2);
  const std::string line =
      diagnostic_line(r.err, file, position_of(text, "\"out\"", "\"" + second + "\""), "/stages/out/options/path");
  CHECK(contains(line, "\"path\" \"" + second + "\" names the same file as " + other));
  std::ifstream in(dir / "data.jsonl");
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "1\n2\n");  // not truncated
  CHECK(!std::filesystem::exists(dir / "new.jsonl"));
}

TEST_CASE("a jq compile error of several lines has file:line:col: /pointer: on every line") {
  temp_dir dir;
  const std::string text = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}},
    "echo": {"type": "jq", "options": {"filter": "select(. >"}, "subscribe_to": "numbers"},
    "out": {"type": "null", "subscribe_to": "echo"}
  }
})";
  const auto file = dir.write("jq.json", text);
  const auto r = run_sluice(dir, {{"check", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  const std::string prefix = file.string() + ":" + position_of(text, "\"select") + ": /stages/echo/options/filter: ";
  auto lines = lines_of(r.err);
  REQUIRE(lines.size() >= 3);  // jq's message spans lines, then the count
  CHECK(lines.back() == "sluice: " + file.string() + ": 1 problem");
  lines.pop_back();
  for (auto& line : lines) CHECK_MESSAGE(line.rfind(prefix, 0) == 0, line);
  CHECK(contains(lines.front(), "jq program does not compile"));
  CHECK(contains(lines.back(), "(a valid jq program)"));
}

TEST_CASE("a file with several problems gets every one of them reported in one run") {
  temp_dir dir;
  const std::string text = R"({
  "version": 3,
  "stages": {
    "numbers": {"type": "range", "options": {"to": "ten", "stpe": 2}},
    "typo": {"type": "rnage"},
    "echo": {"type": "jq", "options": {"filter": "select(. >"}, "subscribe_to": "numbers"},
    "tidy": {"type": "jq", "options": {"filter": "."},
             "subscribe_to": [{"stage": "echo", "max_demand": 5, "min_demand": 5}, "tidy", "ghost"]},
    "out": {"type": "null", "subscribe_to": ["tidy", "typo"]}
  }
})";
  const auto file = dir.write("many.json", text);
  const std::vector<std::pair<std::string, std::string>> expected{
      {position_of(text, "\"version\": ", "3"), "/version"},
      {position_of(text, "\"ten\""), "/stages/numbers/options/to"},
      {position_of(text, "\"stpe\""), "/stages/numbers/options/stpe"},
      {position_of(text, "\"rnage\""), "/stages/typo/type"},
      {position_of(text, "\"select"), "/stages/echo/options/filter"},
      {position_of(text, "\"min_demand\": ", "5"), "/stages/tidy/subscribe_to/0/min_demand"},
      {position_of(text, "\"min_demand\": 5}, ", "\"tidy\""), "/stages/tidy/subscribe_to/1"},
      {position_of(text, "\"ghost\""), "/stages/tidy/subscribe_to/2"},
  };
  const auto r = run_sluice(dir, {{"check", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  for (const auto& e : expected) {
    // Named references, not structured bindings: Clang 14 cannot capture those in doctest's lambdas.
    const auto& position = e.first;
    const auto& pointer = e.second;
    CHECK_MESSAGE(!diagnostic_line(r.err, file, position, pointer).empty(), "missing: ", position, ": ", pointer);
  }
  CHECK(contains(r.err, "sluice: " + file.string() + ": " + std::to_string(expected.size()) + " problems\n"));
}

TEST_CASE("problems between stages are reported together with problems inside a stage") {
  temp_dir dir;
  const std::string text = R"({
  "version": 1,
  "stages": {
    "numbers": {"type": "range", "options": {"to": 10}, "dispatcher": {"type": "partition", "partitions": 2}},
    "left": {"type": "jq", "options": {"filter": "."}, "subscribe_to": [{"stage": "numbers", "partition": 0}, "right"]},
    "right": {"type": "jq", "options": {"filter": "."}, "subscribe_to": "left"},
    "odd": {"type": "null", "subscribe_to": {"stage": "numbers", "partition": 7}},
    "out": {"type": "file", "options": {"path": 42}, "subscribe_to": "right"}
  }
})";
  const auto file = dir.write("mixed.json", text);
  const auto r = run_sluice(dir, {{"check", file.string()}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(!diagnostic_line(r.err, file, position_of(text, "\"path\": ", "42"), "/stages/out/options/path").empty());
  CHECK(!diagnostic_line(r.err, file, position_of(text, "\"right\": {", "\"left\""), "/stages/right/subscribe_to").empty());
  CHECK(!diagnostic_line(r.err, file, position_of(text, "\"partition\": ", "7"), "/stages/odd/subscribe_to/partition").empty());
  CHECK(contains(r.err, ": 3 problems\n"));
}

TEST_CASE("a missing pipeline file exits 2 naming the file") {
  temp_dir dir;
  const auto file = dir / "absent.json";
  for (const char* command : {"check", "run", "graph"}) {
    const auto r = run_sluice(dir, {{command, file.string()}});
    INFO(std::string(command), ": ", describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, file.string() + ": cannot read: "));
  }
}

TEST_CASE("usage errors exit 2") {
  temp_dir dir;
  const auto hello = (pipelines_dir() / "hello.json").string();
  const std::vector<std::vector<std::string>> cases{
      {"frobnicate"},
      {"run"},
      {"run", hello, "--bogus"},
      {"run", hello, "--set"},
      {"check", hello, "extra.json"},
      {"graph", hello, "--format", "svg"},
      {"run", hello, "--threads", "many"},
      {"stages", "--plugin", (dir / "no_such_plugin.so").string()},
  };
  for (auto& args : cases) {
    const auto r = run_sluice(dir, {args});
    INFO(args[0], " ", (args.size() > 1 ? args.back() : ""), ": ", describe(r));
    CHECK(r.code() == 2);
    CHECK(!r.err.empty());
  }
}

// --- --set and ${ENV} ------------------------------------------------------------------------------

TEST_CASE("--set overrides options, by dotted path or by JSON pointer") {
  temp_dir dir;
  const auto hello = (pipelines_dir() / "hello.json").string();
  const auto custom = dir / "custom.jsonl";
  const auto env = child_env({{"OUT", (dir / "from_env.jsonl").string()}});
  auto r = run_sluice(dir, {{"run", hello, "--set", "stages.out.options.path=" + custom.string(), "--set",
                             "/stages/numbers/options/to=20"},
                            env});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(whole_jsonl(read_file(custom)) == std::vector<json>{2, 4, 6, 8, 10, 12, 14, 16, 18, 20});
  CHECK_FALSE(fs::exists(dir / "from_env.jsonl"));

  // An override that cannot apply is a configuration error, located at --set.
  r = run_sluice(dir, {{"check", hello, "--set", "stages.numbers.type.x=1"}, env});
  CHECK(r.code() == 2);
  CHECK(contains(r.err, "--set"));
}

TEST_CASE("${VAR:-default} takes the variable when it is set and the default otherwise") {
  temp_dir dir;
  const auto hello = (pipelines_dir() / "hello.json").string();
  const std::vector<std::string> args{"run", hello, "--set", "stages.numbers.options.to=10"};

  auto r = run_sluice(dir, {args, child_env({{"OUT", (dir / "chosen.jsonl").string()}})});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(whole_jsonl(read_file(dir / "chosen.jsonl")) == std::vector<json>{2, 4, 6, 8, 10});
  CHECK_FALSE(fs::exists(dir / "evens.jsonl"));

  r = run_sluice(dir, {args, child_env()});  // OUT unset: the default, relative to the working dir
  CHECK(r.code() == 0);
  CHECK(whole_jsonl(read_file(dir / "evens.jsonl")) == std::vector<json>{2, 4, 6, 8, 10});

  fs::remove(dir / "evens.jsonl");
  r = run_sluice(dir, {args, child_env({{"OUT", ""}})});  // empty counts as unset, as in the shell
  CHECK(r.code() == 0);
  CHECK(whole_jsonl(read_file(dir / "evens.jsonl")) == std::vector<json>{2, 4, 6, 8, 10});
}

// --- inspection commands ---------------------------------------------------------------------------

TEST_CASE("`sluice graph` prints every edge, as dot and as mermaid") {
  temp_dir dir;
  const auto pipeline = (pipelines_dir() / "broadcast.json").string();
  const std::vector<std::pair<std::string, std::string>> edges{
      {"numbers", "parity"}, {"numbers", "sevens"}, {"parity", "out"}, {"sevens", "out"}};

  auto r = run_sluice(dir, {{"graph", pipeline}});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(r.out.rfind("digraph \"broadcast\" {", 0) == 0);
  for (auto& [from, to] : edges) CHECK(contains(r.out, "\"" + from + "\" -> \"" + to + "\";"));

  r = run_sluice(dir, {{"graph", pipeline, "--format", "mermaid"}});
  CHECK(r.code() == 0);
  CHECK(r.out.rfind("flowchart LR\n", 0) == 0);
  for (auto& [from, to] : edges) CHECK(contains(r.out, from + " --> " + to + "\n"));

  r = run_sluice(dir, {{"graph", (pipelines_dir() / "partitioned.json").string(), "--format", "dot"}});
  CHECK(r.code() == 0);
  CHECK(contains(r.out, "\"numbers\" -> \"square\";"));
  CHECK(contains(r.out, "square (jq x4)"));
}

TEST_CASE("`sluice stages --json` lists every built-in stage type with its options") {
  temp_dir dir;
  const auto r = run_sluice(dir, {{"stages", "--json"}});
  INFO(describe(r));
  REQUIRE(r.code() == 0);
  const json all = json::parse(r.out, nullptr, false);
  REQUIRE(all.is_array());
  std::set<std::pair<std::string, std::string>> listed;
  for (auto& t : all) {
    listed.emplace(t.value("type", ""), t.value("role", ""));
    CHECK(t["options"].contains("properties"));
  }
  for (const auto& type_role : std::vector<std::pair<std::string, std::string>>{
           {"range", "source"}, {"generate", "source"}, {"tick", "source"}, {"file", "source"},
           {"stdin", "source"}, {"jq", "transform"}, {"batch", "transform"}, {"rate_limit", "transform"},
           {"stdout", "sink"}, {"file", "sink"}, {"null", "sink"}}) {
    CHECK_MESSAGE(listed.count(type_role) == 1, type_role.first, " (", type_role.second, ")");
  }

  std::set<std::string> routing;
  for (auto& t : all) {
    if (t.value("routes_failures", false)) routing.insert(t.value("type", "") + " " + t.value("role", ""));
  }
  CHECK(routing == std::set<std::string>{"jq transform", "file source", "stdin source"});

  const auto text = run_sluice(dir, {{"stages"}});
  CHECK(text.code() == 0);
  CHECK(contains(text.out, "rate_limit (transform)"));
  CHECK(contains(text.out, "jq (transform)\n  Runs a jq program on each event; 0..n outputs each (maps, filters, flattens).\n  takes \"on_error\""));
}

TEST_CASE("`sluice stages --plugin` lists the plugin's stage types") {
  temp_dir dir;
  auto r = run_sluice(dir, {{"stages", "--plugin", SLUICE_TEST_PLUGIN}});
  INFO(describe(r));
  CHECK(r.code() == 0);
  CHECK(contains(r.out, "explode (transform)"));
  CHECK(contains(r.out, "range (source)"));

  r = run_sluice(dir, {{"stages", "--json", "--plugin", SLUICE_TEST_PLUGIN}});
  CHECK(r.code() == 0);
  const json all = json::parse(r.out, nullptr, false);
  REQUIRE(all.is_array());
  CHECK(std::count_if(all.begin(), all.end(), [](const json& t) { return t.value("type", "") == "explode"; }) == 1);
}

TEST_CASE("`sluice schema` is JSON Schema with a branch for every stage type") {
  temp_dir dir;
  for (bool with_plugin : {false, true}) {
    std::vector<std::string> args{"schema"};
    if (with_plugin) args.insert(args.end(), {"--plugin", SLUICE_TEST_PLUGIN});
    const auto r = run_sluice(dir, {args});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    const json schema = json::parse(r.out, nullptr, false);
    REQUIRE(schema.is_object());
    CHECK(schema.contains("$schema"));
    CHECK(schema["required"] == json{"version", "stages"});
    std::set<std::string> types;
    for (auto& branch : schema["properties"]["stages"]["additionalProperties"]["allOf"][0]["anyOf"]) {
      types.insert(branch["properties"]["type"]["const"].get<std::string>());
    }
    std::set<std::string> expected{"batch", "file", "generate", "jq", "nats", "nats_jetstream", "null", "range", "rate_limit", "stdin", "stdout", "tick", "window"};
    if (with_plugin) expected.insert({"explode", "flaky", "fragile"});
    CHECK(types == expected);
  }
}

// --- resources (registered as their own serial meson test: they measure wall time) ----------------

TEST_CASE("memory stays bounded and CPU low with an endless source and a slow sink") {
  temp_dir dir;
  const double per_second = 1000;
  const auto file = dir.write("slow_sink.json", R"({
  "version": 1,
  "stages": {
    "source": {"type": "generate", "options": {"event": {"payload": "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"}}},
    "slow": {"type": "rate_limit", "options": {"per_second": 1000}, "subscribe_to": "source"},
    "out": {"type": "file", "options": {"path": "${OUT_DIR}/slow.jsonl"}, "subscribe_to": "slow"}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string(), "--stats"}, child_env({{"OUT_DIR", dir.path().string()}})});
  // Measure once it is up and running (its first stats line), over a fixed window of wall time.
  REQUIRE(child.await([&] { return has_stats_line(child.err()); }, test_clock::now() + watchdog));
  const auto cpu_before = cpu_time(child.pid());
  const auto rss_before = status_kb(child.pid(), "VmRSS");
  REQUIRE_FALSE(child.wait_for(2s));  // the window: it must keep running
  const auto cpu_after = cpu_time(child.pid());
  const auto rss_after = status_kb(child.pid(), "VmRSS");
  const auto peak = status_kb(child.pid(), "VmHWM");
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  const std::string err = child.err();
  INFO("stderr: ", err);
  REQUIRE((cpu_before && cpu_after && rss_before && rss_after && peak));

  const double cpu = (*cpu_after - *cpu_before).count();
  const std::size_t peak_limit_kb = sanitized ? 300 * 1024 : 100 * 1024;
  const double cpu_limit = sanitized ? 2.0 : 1.0;
  MESSAGE("slow sink: CPU ", cpu, " s over 2 s, peak RSS ", *peak / 1024, " MB, RSS ", *rss_before / 1024, " -> ",
          *rss_after / 1024, " MB");
  CHECK(*peak < peak_limit_kb);
  CHECK(*rss_after < *rss_before + (sanitized ? 64 : 16) * 1024);  // no growth while it runs
  CHECK(cpu < cpu_limit);

  CHECK(status.exited);
  CHECK(status.code == 0);
  const auto values = whole_jsonl(read_file(dir / "slow.jsonl"));
  const auto s = parse_summary(err);
  CHECK(s["out"].in == values.size());
  // The limiter held the rate: no more than per_second a second (plus one second's burst).
  CHECK(static_cast<double>(values.size()) <= per_second * (s.wall_seconds.value_or(0) + 1));
  CHECK(values.size() >= 1000);
}

TEST_CASE("an idle pipeline (a tick every second) uses almost no CPU") {
  temp_dir dir;
  const auto file = dir.write("idle.json", R"({
  "version": 1,
  "stages": {
    "ticks": {"type": "tick", "options": {"interval_ms": 1000}},
    "out": {"type": "null", "subscribe_to": "ticks"}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string(), "--stats"}});
  REQUIRE(child.await([&] { return has_stats_line(child.err()); }, test_clock::now() + watchdog));
  const auto cpu_before = cpu_time(child.pid());
  REQUIRE_FALSE(child.wait_for(2s));  // the window: it must keep running
  const auto cpu_after = cpu_time(child.pid());
  child.signal(SIGINT);
  const auto status = child.wait_or_kill(watchdog);
  INFO("stderr: ", child.err());
  REQUIRE((cpu_before && cpu_after));
  const double cpu = (*cpu_after - *cpu_before).count();
  MESSAGE("idle: CPU ", cpu, " s over 2 s");
  CHECK(cpu < (sanitized ? 0.3 : 0.1));
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(parse_summary(child.err())["out"].in >= 2);
}

}  // TEST_SUITE("cli")
