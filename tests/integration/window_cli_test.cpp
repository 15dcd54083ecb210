// The `window` stage through the real `sluice` binary (issue 17, item 1): every window kind over a
// file of out-of-order and late events, in 1 and 4 copies behind a partition on the key, against
// the reference computed here (tests/unit/window_reference.hpp); late events come out as
// {"late": event} and are counted; option errors name the option.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../unit/window_reference.hpp"
#include "cli_support.hpp"

using namespace sluice::testing;
using namespace sluice::testing::windows;
using nlohmann::json;

namespace {

constexpr std::int64_t epoch_ms = 1'700'000'000'000;

/// Times advance 10 ms per event for every key alike (so each copy's watermark stays within a few
/// events of the whole stream's), disorder up to 40 ms, and after the first 500 events 3% of them
/// 5 s late: far beyond the allowed lateness below, so they are late in every copy.
std::vector<ev> cli_events() {
  std::mt19937 rng(1717);
  std::uniform_int_distribution<std::int64_t> jitter(0, 40);
  std::uniform_int_distribution<int> key(0, 7);
  std::uniform_int_distribution<std::int64_t> value(-10, 90);
  std::bernoulli_distribution late(0.03);
  std::vector<ev> out;
  for (int i = 0; i < 6000; ++i) {
    std::int64_t t = epoch_ms + i * 10 - jitter(rng);
    if (i > 500 && late(rng)) t -= 5000;
    out.push_back({key(rng), t, value(rng)});
  }
  return out;
}

std::string input_text(const std::vector<ev>& events) {
  std::string text;
  for (const ev& e : events) {
    // Seconds with three decimals: the `time` expression's form.
    const std::string ms = std::to_string(e.time % 1000);
    text += R"({"user":)" + std::to_string(e.key) + R"(,"t":)" + std::to_string(e.time / 1000) + "." + std::string(3 - ms.size(), '0') + ms +
            R"(,"v":)" + std::to_string(e.value) + "}\n";
  }
  return text;
}

std::string pipeline(const json& window_options, int copies) {
  json p = {{"version", 1},
            {"stages",
             {{"in", {{"type", "file"}, {"options", {{"path", "${IN}"}, {"format", "jsonl"}}}}},
              {"keyed",
               {{"type", "jq"},
                {"options", {{"filter", "."}, {"key", ".user"}}},
                {"subscribe_to", "in"},
                {"dispatcher", {{"type", "partition"}, {"partitions", copies}}}}},
              {"win", {{"type", "window"}, {"options", window_options}, {"subscribe_to", "keyed"}, {"concurrency", copies}}},
              {"out", {{"type", "file"}, {"options", {{"path", "${OUT}"}}}, {"subscribe_to", "win"}}}}}};
  return p.dump();
}

struct cli_outcome {
  std::vector<row> rows;
  std::vector<ev> late;
  std::uint64_t late_counted = 0;  // the summary's count of late events
};

/// The summary's `stage "NAME": N late events ...` line's N (0 without one).
std::uint64_t late_in_summary(const std::string& err, const std::string& stage) {
  const std::string head = "stage \"" + stage + "\": ";
  for (const std::string& line : lines_of(err)) {
    if (line.rfind(head, 0) == 0 && line.find(" late events") != std::string::npos) return std::stoull(line.substr(head.size()));
  }
  return 0;
}

cli_outcome run_window(const temp_dir& dir, const json& options, int copies, const std::string& name) {
  const auto file = dir.write(name + ".json", pipeline(options, copies));
  const auto out = dir / (name + ".jsonl");
  const auto r = run_sluice(dir, {{"run", file.string()}, child_env({{"IN", (dir / "in.jsonl").string()}, {"OUT", out.string()}})});
  INFO(name, ": ", describe(r));
  REQUIRE(r.code() == 0);
  cli_outcome o;
  o.late_counted = late_in_summary(r.err, "win");
  for (const json& v : jsonl(read_file(out))) {
    if (v.contains("late")) {
      const json& e = v["late"];
      // Back from seconds with three decimals to the integer milliseconds written.
      const auto t = static_cast<std::int64_t>(std::llround(e["t"].get<double>() * 1000));
      o.late.push_back({e["user"].get<int>(), t, e["v"].get<std::int64_t>()});
      continue;
    }
    CHECK(v["trigger"] != "every_events");
    o.rows.push_back({v["key"].get<int>(), v["start"].get<std::int64_t>(), v["end"].get<std::int64_t>(), v["value"].get<std::int64_t>(),
                      v["count"].get<std::uint64_t>()});
  }
  std::sort(o.rows.begin(), o.rows.end());
  return o;
}

bool same_late(std::vector<ev> a, std::vector<ev> b) {
  auto order = [](const ev& x, const ev& y) { return std::tie(x.key, x.time, x.value) < std::tie(y.key, y.time, y.value); };
  std::sort(a.begin(), a.end(), order);
  std::sort(b.begin(), b.end(), order);
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const ev& x, const ev& y) { return std::tie(x.key, x.time, x.value) == std::tie(y.key, y.time, y.value); });
}

struct kind_case {
  const char* name;
  json options;
  window_spec spec;
};

std::vector<kind_case> kind_cases() {
  const json common = {{"time", ".t"}, {"value", ".v"}, {"aggregate", "sum"}, {"allowed_lateness_ms", 500}};
  std::vector<kind_case> cases;
  auto add = [&](const char* name, json extra, window_spec s) {
    json o = common;
    o.update(extra);
    s.allowed_lateness_ms = 500;
    cases.push_back({name, o, s});
  };
  window_spec s;
  s.kind = window_kind::tumbling;
  s.size_ms = 1000;
  add("tumbling", {{"kind", "tumbling"}, {"size_ms", 1000}}, s);
  s.kind = window_kind::sliding;
  s.slide_ms = 250;
  add("sliding", {{"kind", "sliding"}, {"size_ms", 1000}, {"slide_ms", 250}}, s);
  s = {};
  s.kind = window_kind::session;
  s.gap_ms = 45;
  add("session", {{"kind", "session"}, {"gap_ms", 45}}, s);
  s = {};
  s.kind = window_kind::count;
  s.count = 25;
  add("count", {{"kind", "count"}, {"count", 25}}, s);
  return cases;
}

}  // namespace

TEST_SUITE("window_cli") {
  TEST_CASE("every window kind gives the reference's results and late events, in 1 and in 4 copies") {
    temp_dir dir;
    const std::vector<ev> events = cli_events();
    dir.write("in.jsonl", input_text(events));
    for (const kind_case& c : kind_cases()) {
      const reference want = compute_reference(c.spec, events);
      for (int copies : {1, 4}) {
        CAPTURE(c.name);
        CAPTURE(copies);
        const cli_outcome got = run_window(dir, c.options, copies, std::string(c.name) + std::to_string(copies));
        CHECK(got.rows.size() == want.rows.size());
        CHECK(got.rows == want.rows);
        CHECK(same_late(got.late, want.late));
        CHECK(got.late_counted == want.late.size());  // the summary counts them
        if (c.spec.kind != window_kind::count) CHECK(!want.late.empty());
      }
    }
  }

  TEST_CASE("a key, count and collect with the defaults: one global window set, the event's own payload") {
    temp_dir dir;
    dir.write("in.jsonl", R"({"n":1})" "\n" R"({"n":2})" "\n" R"({"n":3})" "\n");
    const json p = {{"version", 1},
                    {"stages",
                     {{"in", {{"type", "file"}, {"options", {{"path", "${IN}"}, {"format", "jsonl"}}}}},
                      {"win", {{"type", "window"}, {"options", {{"kind", "count"}, {"count", 2}, {"aggregate", "collect"}}}, {"subscribe_to", "in"}}},
                      {"out", {{"type", "file"}, {"options", {{"path", "${OUT}"}}}, {"subscribe_to", "win"}}}}}};
    const auto file = dir.write("p.json", p.dump());
    const auto r = run_sluice(dir, {{"run", file.string()}, child_env({{"IN", (dir / "in.jsonl").string()}, {"OUT", (dir / "o.jsonl").string()}})});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    const auto values = jsonl(read_file(dir / "o.jsonl"));
    REQUIRE(values.size() == 2);
    CHECK(values[0]["key"] == nullptr);
    CHECK(values[0]["value"] == json::parse(R"([{"n":1},{"n":2}])"));
    CHECK(values[0]["trigger"] == "count");
    CHECK(values[1]["value"] == json::parse(R"([{"n":3}])"));
    CHECK(values[1]["trigger"] == "end");
  }

  TEST_CASE("a jq reducer gets the window's values as an array") {
    temp_dir dir;
    dir.write("in.jsonl", R"({"k":"a","n":2})" "\n" R"({"k":"a","n":5})" "\n" R"({"k":"b","n":7})" "\n");
    const json p = {{"version", 1},
                    {"stages",
                     {{"in", {{"type", "file"}, {"options", {{"path", "${IN}"}, {"format", "jsonl"}}}}},
                      {"win", {{"type", "window"}, {"options", {{"kind", "count"}, {"count", 10}, {"key", ".k"}, {"value", ".n"}, {"aggregate", "jq:map(. * 10) | add"}}}, {"subscribe_to", "in"}}},
                      {"out", {{"type", "file"}, {"options", {{"path", "${OUT}"}}}, {"subscribe_to", "win"}}}}}};
    const auto file = dir.write("p.json", p.dump());
    const auto r = run_sluice(dir, {{"run", file.string()}, child_env({{"IN", (dir / "in.jsonl").string()}, {"OUT", (dir / "o.jsonl").string()}})});
    INFO(describe(r));
    REQUIRE(r.code() == 0);
    auto values = jsonl(read_file(dir / "o.jsonl"));
    std::sort(values.begin(), values.end(), [](const json& a, const json& b) { return a["key"] < b["key"]; });
    REQUIRE(values.size() == 2);
    CHECK(values[0]["key"] == "a");
    CHECK(values[0]["value"] == 70);
    CHECK(values[1]["value"] == 70);
  }

  TEST_CASE("bad window options are configuration errors naming the option") {
    temp_dir dir;
    dir.write("in.jsonl", "1\n");
    auto check_bad = [&](const json& options, const std::string& pointer, const std::string& words) {
      const json p = {{"version", 1},
                      {"stages",
                       {{"in", {{"type", "file"}, {"options", {{"path", "${IN}"}}}}},
                        {"win", {{"type", "window"}, {"options", options}, {"subscribe_to", "in"}}},
                        {"out", {{"type", "null"}, {"subscribe_to", "win"}}}}}};
      const auto file = dir.write("bad.json", p.dump());
      const auto r = run_sluice(dir, {{"check", file.string()}, child_env({{"IN", (dir / "in.jsonl").string()}})});
      INFO(describe(r));
      CHECK(r.code() == 2);
      CHECK(contains(r.err, pointer));
      CHECK(contains(r.err, words));
    };
    check_bad({{"kind", "tumbling"}}, "/stages/win/options/size_ms", "size_ms is 0, expected 1 to");
    check_bad({{"kind", "sliding"}, {"size_ms", 100}, {"slide_ms", 200}}, "/stages/win/options/slide_ms", "slide_ms is 200");
    check_bad({{"kind", "count"}, {"count", 2}, {"aggregate", "median"}}, "/stages/win/options/aggregate", "unknown aggregate");
    check_bad({{"kind", "count"}, {"count", 2}, {"key", ".a |"}}, "/stages/win/options/key", "does not compile");
  }

  TEST_CASE("a value that is not a number for sum fails the run naming the stage and the event") {
    temp_dir dir;
    dir.write("in.jsonl", R"({"v":1})" "\n" R"({"v":"x"})" "\n");
    const json p = {{"version", 1},
                    {"stages",
                     {{"in", {{"type", "file"}, {"options", {{"path", "${IN}"}, {"format", "jsonl"}}}}},
                      {"win", {{"type", "window"}, {"options", {{"kind", "count"}, {"count", 5}, {"value", ".v"}, {"aggregate", "sum"}}}, {"subscribe_to", "in"}}},
                      {"out", {{"type", "null"}, {"subscribe_to", "win"}}}}}};
    const auto file = dir.write("p.json", p.dump());
    const auto r = run_sluice(dir, {{"run", file.string()}, child_env({{"IN", (dir / "in.jsonl").string()}})});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, R"(window stage "win": event 2 of its input ({"v":"x"}): value: "x" is not a number)"));
  }
}
