// Issue 16: `sluice run --http`: /metrics checked by Debian's promtool and scraped by a real
// Prometheus server, /livez and /readyz, the JSON API naming a slow sink as the bottleneck, and the
// stall detector naming a stuck stage. Every tool is started by the test, on loopback ports.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "observe_support.hpp"

using namespace sluice::testing;

namespace {

auto deadline() { return test_clock::now() + watchdog; }

/// Reads a FIFO slowly (at most 4 KiB every 10 ms) until destroyed: a deliberately slow reader,
/// which makes the sink writing into the FIFO slow. The pace is the point, not a synchronisation.
class paced_reader {
 public:
  explicit paced_reader(int fd) : fd_(fd), thread_([this] { loop(); }) {}
  ~paced_reader() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    char buf[4096];
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, 10ms, [&] { return done_; })) (void)::read(fd_, buf, sizeof buf);
  }
  int fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

/// A FIFO in `dir` and its read end, open (non-blocking) before the sink opens it for writing.
struct fifo {
  explicit fifo(const temp_dir& dir) : path(dir / "out.fifo") {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(fd >= 0);
  }
  ~fifo() { ::close(fd); }
  std::filesystem::path path;
  int fd = -1;
};

/// The value of the series `name{labels}` in a scrape (nullopt if absent).
std::optional<double> series(const std::string& scrape, const std::string& name_and_labels) {
  for (const auto& line : lines_of(scrape)) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return std::nullopt;
}

}  // namespace

TEST_SUITE("observe_http") {

TEST_CASE("/metrics of a running pipeline passes promtool check metrics and has every stage's series") {
  temp_dir dir;
  auto child = start_sluice(dir, {{"run", steady_pipeline(dir).string(), "--http", "127.0.0.1:0", "--stall-timeout", "1"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  const auto running = await_api(child, base, [](const nlohmann::json& a) { return stage_in(a, "sink")["events_in"] > 0; }, deadline());
  REQUIRE(stage_in(running, "sink")["events_in"] > 0);

  const auto scrape = http_get(base, "/metrics");
  REQUIRE(scrape);
  CHECK(scrape->status == 200);
  CHECK(scrape->content_type == "text/plain; version=0.0.4; charset=utf-8");
  for (const char* stage : {"src", "double", "sink"}) {
    const std::string labels = std::string("{pipeline=\"steady\",stage=\"") + stage + "\"}";
    CHECK(series(scrape->body, "sluice_stage_busy_seconds_total" + labels));
    CHECK(series(scrape->body, "sluice_stage_back_pressured_seconds_total" + labels));
    CHECK(series(scrape->body, "sluice_stage_stalled" + labels) == 0);
  }
  CHECK(series(scrape->body, "sluice_stage_events_in_total{pipeline=\"steady\",stage=\"sink\"}") > 0);
  CHECK(series(scrape->body, "sluice_stage_events_out_total{pipeline=\"steady\",stage=\"src\"}") > 0);
  CHECK(series(scrape->body, "sluice_edge_events_in_flight{pipeline=\"steady\",from=\"src\",to=\"double\"}"));
  CHECK(series(scrape->body, "sluice_pipeline_ready{pipeline=\"steady\"}") == 1);

  const auto text = dir.write("scrape.txt", scrape->body);
  auto promtool = start_tool(dir, "promtool", "/usr/bin/promtool", {"check", "metrics"}, text);
  const auto status = promtool.wait_or_kill(watchdog);
  INFO("promtool: ", promtool.out(), promtool.err());
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(promtool.out() + promtool.err() == "");
  CHECK_FALSE(contains(child.err(), "stalled"));  // a healthy pipeline is never called stalled
}

TEST_CASE("a real Prometheus server scrapes a running pipeline and answers a rate() query for a stage") {
  temp_dir dir;
  auto child = start_sluice(dir, {{"run", steady_pipeline(dir).string(), "--http", "127.0.0.1:0"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("sluice stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  const std::string target = base.substr(std::string("http://").size());
  const auto config = dir.write("prometheus.yml", "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                                  "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                                                  "      - targets: ['" + target + "']\n");
  const std::string prom = "http://127.0.0.1:" + std::to_string(free_port());
  auto server = start_tool(dir, "prometheus", "/usr/bin/prometheus",
                           {"--config.file=" + config.string(), "--storage.tsdb.path=" + (dir / "tsdb").string(),
                            "--web.listen-address=" + prom.substr(7)});
  INFO("prometheus stderr: ", server.err().substr(0, 4000));
  const std::string query = "/api/v1/query?query=" + httplib::detail::encode_query_param(
                                                        "rate(sluice_stage_events_in_total{job=\"sluice\",stage=\"sink\"}[5s])");
  nlohmann::json answer;
  const bool answered = server.await([&] {
    const auto r = http_get(prom, query);
    if (!r || r->status != 200) return false;
    answer = nlohmann::json::parse(r->body, nullptr, false);
    if (!answer.is_object() || answer["data"]["result"].empty()) return false;
    return std::stod(answer["data"]["result"][0]["value"][1].get<std::string>()) > 0;
  }, deadline());
  INFO("answer: ", answer.dump());
  CHECK(answered);
  CHECK(answer["data"]["result"][0]["metric"]["stage"] == "sink");
  CHECK(answer["data"]["result"][0]["metric"]["pipeline"] == "steady");
}

TEST_CASE("/readyz answers 200 while the pipeline runs and 503 while it drains; /livez answers 200 throughout") {
  temp_dir dir;
  // A drain that cannot finish: the ticks pile up while the limiter asks for almost nothing.
  const auto file = dir.write("stuck.json", R"({
  "version": 1,
  "stages": {
    "ticks": {"type": "tick", "options": {"interval_ms": 1}},
    "slow": {"type": "rate_limit", "options": {"per_second": 0.001}, "subscribe_to": "ticks"},
    "out": {"type": "null", "subscribe_to": "slow"}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string(), "--http", "127.0.0.1:0", "--drain-timeout", "60"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  // Listening begins before the stages start: "not ready: starting" until they all have.
  std::optional<http_answer> ready;
  child.await([&] { return (ready = http_get(base, "/readyz")) && ready->status == 200; }, deadline());
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(ready->body == "ready\n");
  // A tick held back by the limiter is what keeps the drain from finishing: wait for one (a
  // signal within the first millisecond would find nothing to drain).
  const auto held = await_api(child, base, [](const nlohmann::json& a) { return stage_in(a, "ticks")["buffered"] > 0; }, deadline());
  REQUIRE(stage_in(held, "ticks")["buffered"] > 0);
  child.signal(SIGTERM);
  std::optional<http_answer> draining;
  child.await([&] { return (draining = http_get(base, "/readyz")) && draining->body != "ready\n"; }, deadline());
  REQUIRE(draining);
  CHECK(draining->status == 503);
  CHECK(draining->body == "not ready: draining\n");
  const auto live = http_get(base, "/livez");
  REQUIRE(live);
  CHECK(live->status == 200);
  CHECK(api(base)["draining"] == true);
}

TEST_CASE("a slow sink is named the bottleneck and its source back-pressured, in the JSON API and the metrics") {
  temp_dir dir;
  fifo out(dir);
  auto child = start_sluice(dir, {{"run", fifo_pipeline(dir, out.path).string(), "--http", "127.0.0.1:0"}});
  paced_reader reader(out.fd);
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  const auto a = await_api(child, base, [](const nlohmann::json& j) {
    return stage_in(j, "sink")["bottleneck"] == true && stage_in(j, "sink")["events_in"] > 0;
  }, deadline());
  INFO("api: ", a.dump());
  CHECK(stage_in(a, "sink")["bottleneck"] == true);
  CHECK(stage_in(a, "sink")["state"] == "busy");
  CHECK(stage_in(a, "src")["state"] == "back_pressured");
  CHECK(stage_in(a, "src")["bottleneck"] == false);
  CHECK(stage_in(a, "src")["back_pressured_ratio"] >= 0.5);
  const auto scrape = http_get(base, "/metrics");
  REQUIRE(scrape);
  CHECK(series(scrape->body, "sluice_stage_bottleneck{pipeline=\"fifo\",stage=\"sink\"}") == 1);
  CHECK(series(scrape->body, "sluice_stage_bottleneck{pipeline=\"fifo\",stage=\"src\"}") == 0);
}

TEST_CASE("a stage stuck in a callback is named by the stall detector once, with its edge, in the log and the API") {
  temp_dir dir;
  fifo out(dir);  // nobody reads it: the sink's write blocks once the pipe is full
  auto child = start_sluice(dir, {{"run", fifo_pipeline(dir, out.path).string(), "--http", "127.0.0.1:0", "--stall-timeout", "1"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  const auto a = await_api(child, base, [](const nlohmann::json& j) { return !j["stalled"].empty(); }, deadline());
  INFO("api: ", a.dump());
  REQUIRE(a["stalled"].size() == 1);
  CHECK(a["stalled"][0]["stage"] == "sink");
  CHECK(a["stalled"][0]["edge"] == nlohmann::json{{"from", "src"}, {"to", "sink"}});
  CHECK(a["stalled"][0]["seconds"] >= 1.0);  // not before its time
  CHECK(stage_in(a, "sink")["stalled"] == true);
  CHECK(stage_in(a, "src")["stalled"] == false);  // only waiting for demand: not blamed
  REQUIRE(child.await([&] { return contains(child.err(), "stalled"); }, deadline()));
  CHECK(contains(child.err(), "sluice: warning: [sink] stalled: no progress for "));
  CHECK(contains(child.err(), "on edge \"src\" -> \"sink\": inside a handler"));
  // Logged once per stall, however long it lasts: wait for a few more samples to be sure.
  await_api(child, base, [](const nlohmann::json& j) { return j["stalled"][0]["seconds"] >= 2.5; }, deadline());
  const auto lines = lines_of(child.err());
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return contains(l, "stalled"); }) == 1);
}

TEST_CASE("a stage that stops emitting while its consumer waits and its producer holds events is named stalled") {
  temp_dir dir;
  const auto file = dir.write("slow.json", R"({
  "version": 1,
  "stages": {
    "ticks": {"type": "tick", "options": {"interval_ms": 1}},
    "slow": {"type": "rate_limit", "options": {"per_second": 0.001}, "subscribe_to": "ticks"},
    "out": {"type": "null", "subscribe_to": "slow"}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string(), "--http", "127.0.0.1:0", "--stall-timeout", "1"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  const auto a = await_api(child, base, [](const nlohmann::json& j) { return !j["stalled"].empty(); }, deadline());
  INFO("api: ", a.dump());
  REQUIRE(a["stalled"].size() == 1);
  CHECK(a["stalled"][0]["stage"] == "slow");
  CHECK(a["stalled"][0]["edge"] == nlohmann::json{{"from", "ticks"}, {"to", "slow"}});
  CHECK(contains(a["stalled"][0]["why"].get<std::string>(), "\"ticks\" holds"));
}

TEST_CASE("--http takes HOST:PORT (also from SLUICE_HTTP, the flag winning); a malformed one is a usage error") {
  temp_dir dir;
  const auto file = steady_pipeline(dir);
  for (const char* bad : {"8464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x"}) {
    const run_result r = run_sluice(dir, {{"run", file.string(), "--http", bad}});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "sluice: --http: expected"));
  }
  const run_result env = run_sluice(dir, {{"run", file.string()}, child_env({{"SLUICE_HTTP", "nowhere"}})});
  CHECK(env.code() == 2);
  CHECK(contains(env.err, "sluice: SLUICE_HTTP: expected HOST:PORT"));

  auto child = start_sluice(dir, {{"run", file.string(), "--http", "127.0.0.1:0"}, child_env({{"SLUICE_HTTP", "nowhere"}})});
  CHECK_FALSE(endpoint_of(child, deadline()).empty());
}

TEST_CASE("a run that ends at once with --http exits as it would without, the summary printed") {
  temp_dir dir;
  const auto file = dir.write("quick.json", R"({"version": 1, "stages": {
    "src": {"type": "range", "options": {"from": 1, "to": 1}}, "sink": {"type": "null", "subscribe_to": "src"}}})");
  for (int i = 0; i < 5; ++i) {
    const run_result r = run_sluice(dir, {{"run", file.string(), "--http", "127.0.0.1:0"}});
    INFO(describe(r));
    CHECK_FALSE(r.timed_out);
    CHECK(r.code() == 0);
    CHECK(parse_summary(r.err)["sink"].in == 1);
  }
}

TEST_CASE("the pipeline file's http key serves as --http; the flag and SLUICE_HTTP win over it; a bad one names /http") {
  temp_dir dir;
  const auto file = dir.write("with_http.json", R"({"version": 1, "name": "filed", "http": "127.0.0.1:0", "stages": {
    "src": {"type": "generate", "options": {"event": {"n": 1}, "rate": 100}}, "sink": {"type": "null", "subscribe_to": "src"}}})");
  {
    auto child = start_sluice(dir, {{"run", file.string()}});
    const std::string base = endpoint_of(child, deadline());
    INFO("stderr: ", child.err());
    REQUIRE_FALSE(base.empty());
    CHECK(api(base)["pipeline"] == "filed");
  }
  {
    const int port = free_port();
    auto child = start_sluice(dir, {{"run", file.string()}, child_env({{"SLUICE_HTTP", "127.0.0.1:" + std::to_string(port)}})});
    CHECK(endpoint_of(child, deadline()) == "http://127.0.0.1:" + std::to_string(port));
  }
  const auto bad = dir.write("bad_http.json", R"({"version": 1, "http": "nowhere", "stages": {
    "src": {"type": "range", "options": {"to": 1}}, "sink": {"type": "null", "subscribe_to": "src"}}})");
  const run_result r = run_sluice(dir, {{"run", bad.string()}});
  INFO(describe(r));
  CHECK(r.code() == 2);
  CHECK(contains(r.err, "bad_http.json: /http: expected HOST:PORT"));
  const auto wrong_type = dir.write("number_http.json", R"({"version": 1, "http": 8464, "stages": {
    "src": {"type": "range", "options": {"to": 1}}, "sink": {"type": "null", "subscribe_to": "src"}}})");
  const run_result t = run_sluice(dir, {{"check", wrong_type.string()}});
  INFO(describe(t));
  CHECK(t.code() == 2);
  CHECK(contains(t.err, "/http"));
  CHECK(contains(t.err, "a string HOST:PORT"));
}

}  // TEST_SUITE("observe_http")
