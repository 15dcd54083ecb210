// Issue 16: lib/observe's logic on figures made up by the test (no pipeline runs): the stall
// detector, the time shares, the bottleneck, the Prometheus text, the --http address, JSON logs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "observe/figures.hpp"
#include "observe/http_endpoint.hpp"
#include "observe/json_log.hpp"
#include "observe/prometheus.hpp"
#include "observe/stall_detector.hpp"

using namespace sluice::observe;
using namespace std::chrono_literals;

namespace {

stage_figures stage(std::string name) {
  stage_figures s;
  s.name = std::move(name);
  return s;
}

edge_figures edge(std::string from, std::string to) {
  edge_figures e;
  e.from = std::move(from);
  e.to = std::move(to);
  e.exact = true;
  return e;
}

}  // namespace

TEST_SUITE("observe_figures") {

TEST_CASE("the stall detector names the stage stuck in a handler after the timeout, once, and not the producer waiting on it") {
  stall_detector d(2s);
  const auto t0 = stall_detector::clock::now();
  std::vector<stage_figures> stages{stage("src"), stage("sink")};
  stages[0].totals.waiting_back_pressured = true;
  stages[0].totals.buffered = 10;
  stages[1].totals.handling = 1;
  const std::vector<edge_figures> edges{edge("src", "sink")};

  CHECK(d.update(t0, stages, edges).empty());
  CHECK(d.update(t0 + 1s, stages, edges).empty());  // not yet its time
  auto stalls = d.update(t0 + 2s, stages, edges);
  REQUIRE(stalls.size() == 1);
  CHECK(stalls[0].stage == "sink");
  CHECK(stalls[0].edge_from == "src");
  CHECK(stalls[0].edge_to == "sink");
  CHECK(stalls[0].seconds == doctest::Approx(2.0));
  CHECK(d.began().size() == 1);
  CHECK(stages[1].stalled);
  CHECK_FALSE(stages[0].stalled);

  CHECK(d.update(t0 + 3s, stages, edges).size() == 1);
  CHECK(d.began().empty());  // logged once per stall

  stages[1].totals.events_in = 5;  // progress: the stall is over
  CHECK(d.update(t0 + 4s, stages, edges).empty());
  CHECK(d.resumed() == std::vector<std::string>{"sink"});
}

TEST_CASE("a quiet stage (waiting for events, or for demand) is never stalled") {
  stall_detector d(1s);
  const auto t0 = stall_detector::clock::now();
  std::vector<stage_figures> stages{stage("ticks"), stage("out")};
  stages[0].totals.demand_outstanding = 1000;  // asked, nothing to give: a quiet source
  const std::vector<edge_figures> edges{edge("ticks", "out")};
  for (int i = 0; i < 5; ++i) CHECK(d.update(t0 + std::chrono::seconds(i), stages, edges).empty());
}

TEST_CASE("the shares of an interval come from the counters, with the open gap given to what the stage does now") {
  stage_figures s = stage("sink");
  stage_totals before;
  s.totals.busy_ns = 250'000'000;
  s.totals.idle_ns = 250'000'000;
  s.totals.instances = 1;
  s.totals.handling = 1;  // inside a handler since: the unbooked half second is busy
  s.totals.events_in = 500;
  fill_rates(s, before, 1.0);
  CHECK(s.busy_ratio == doctest::Approx(0.75));
  CHECK(s.idle_ratio == doctest::Approx(0.25));
  CHECK(s.in_per_second == doctest::Approx(500));
  CHECK(s.state == stage_state::busy);

  stage_figures two = stage("copies");
  two.copies = 2;
  two.totals.instances = 2;
  two.totals.back_pressured_ns = 1'500'000'000;
  two.totals.waiting_back_pressured = true;
  fill_rates(two, before, 1.0);
  CHECK(two.back_pressured_ratio == doctest::Approx(1.0));  // 1.5 s of 2 copies' 2 s, the rest open and back-pressured
  CHECK(two.state == stage_state::back_pressured);
}

TEST_CASE("the bottleneck is the mostly busy stage whose producer mostly waits for its demand") {
  std::vector<stage_figures> stages{stage("src"), stage("jq"), stage("sink")};
  stages[0].back_pressured_ratio = 0.9;
  stages[1].busy_ratio = 0.95;
  stages[2].idle_ratio = 0.9;
  mark_bottlenecks(stages, {edge("src", "jq"), edge("jq", "sink")});
  CHECK_FALSE(stages[0].bottleneck);
  CHECK(stages[1].bottleneck);
  CHECK_FALSE(stages[2].bottleneck);
}

TEST_CASE("edge figures are exact only for a one-to-one edge") {
  sluice::pipeline::pipeline_spec spec;
  auto add = [&](std::string name, std::vector<std::string> from) {
    sluice::pipeline::stage_spec s;
    s.name = std::move(name);
    for (auto& f : from) s.subscribe_to.push_back({f, {}, ""});
    spec.stages.push_back(std::move(s));
  };
  add("a", {});
  add("b", {"a"});
  add("c", {"a"});
  add("d", {"c"});
  const auto edges = edges_of(spec);
  REQUIRE(edges.size() == 3);
  CHECK_FALSE(edges[0].exact);  // a feeds b and c
  CHECK_FALSE(edges[1].exact);
  CHECK(edges[2].exact);
}

TEST_CASE("the Prometheus text escapes label values and keeps every family's samples together") {
  snapshot s;
  s.pipeline = "p\"q\\r\ns";
  s.started = true;
  s.stages = {stage("a")};
  s.stages[0].totals.events_in = 7;
  const std::string text = prometheus_text(s, "0.1.0");
  CHECK(text.find(R"(sluice_stage_events_in_total{pipeline="p\"q\\r\ns",stage="a"} 7)") != std::string::npos);
  CHECK(text.back() == '\n');
  CHECK(text.find("# TYPE sluice_stage_busy_seconds_total counter\n") != std::string::npos);
  CHECK(text.find("sluice_pipeline_ready{pipeline=") != std::string::npos);
}

TEST_CASE("retries and dead letters are counters of /metrics, per stage") {
  snapshot s;
  s.pipeline = "p";
  s.started = true;
  s.stages = {stage("parse")};
  s.stages[0].totals.retried = 3;
  s.stages[0].totals.dead_lettered = 1;
  const std::string text = prometheus_text(s, "0.1.0");
  CHECK(text.find("# TYPE sluice_stage_events_retried_total counter\n") != std::string::npos);
  CHECK(text.find(R"(sluice_stage_events_retried_total{pipeline="p",stage="parse"} 3)") != std::string::npos);
  CHECK(text.find("# TYPE sluice_stage_events_dead_lettered_total counter\n") != std::string::npos);
  CHECK(text.find(R"(sluice_stage_events_dead_lettered_total{pipeline="p",stage="parse"} 1)") != std::string::npos);
}

TEST_CASE("--http addresses: HOST:PORT, IPv6 in brackets, port 0 to 65535") {
  CHECK(parse_listen_address("127.0.0.1:8464").host == "127.0.0.1");
  CHECK(parse_listen_address("127.0.0.1:8464").port == 8464);
  CHECK(parse_listen_address("[::1]:0").host == "::1");
  CHECK(parse_listen_address("0.0.0.0:65535").port == 65535);
  for (const char* bad : {"", "8464", ":8464", "host:", "host:65536", "host:-1", "host:12345678"}) {
    CHECK_THROWS_AS(parse_listen_address(bad), std::invalid_argument);
  }
}

TEST_CASE("a JSON log line has time, level, pipeline, stage and message; report lines get a level and a stage") {
  sluice::log_record r{sluice::log_level::warning, std::chrono::system_clock::time_point(std::chrono::milliseconds(1'796'000'000'123)),
                       "discarded 3 events", "src"};
  const auto j = nlohmann::json::parse(json_log_line(r, "p"));
  CHECK(j["time"] == "2026-11-30T00:53:20.123Z");
  CHECK(j["level"] == "warning");
  CHECK(j["pipeline"] == "p");
  CHECK(j["stage"] == "src");
  CHECK(j["message"] == "discarded 3 events");
  CHECK(level_of_line("stage \"x\" failed: boom") == sluice::log_level::error);
  CHECK(level_of_line("stage \"x\" restarted (1 of 3 within 5 s)") == sluice::log_level::warning);
  CHECK(level_of_line("wall time: 1.0 s") == sluice::log_level::info);
  CHECK(stage_of_line("stage \"x y\" failed") == "x y");
  CHECK(stage_of_line("wall time") == "");
}

}  // TEST_SUITE("observe_figures")
