// Issue 16: the web view at `/`, loaded in Debian's headless Chromium driven through chromedriver's
// WebDriver HTTP API (chromedriver started by the test on a free loopback port): every stage and
// edge drawn, a rate that changes between two reads, a slow sink marked the bottleneck, and a PNG
// screenshot of the page (SLUICE_WEB_VIEW_PNG, the one docs/web-view.png comes from).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <set>

#include "observe_support.hpp"

using namespace sluice::testing;

namespace {

auto deadline() { return test_clock::now() + watchdog; }

std::string base64_decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    const auto at = alphabet.find(c);
    if (at == std::string::npos) continue;  // '=' padding, newlines
    bits = (bits << 6) | static_cast<unsigned>(at);
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

/// A headless Chromium session through a chromedriver of our own, ended (and chromedriver stopped)
/// on destruction.
class browser {
 public:
  explicit browser(const temp_dir& dir)
      : base_("http://127.0.0.1:" + std::to_string(free_port())),
        driver_(start_tool(dir, "chromedriver", "/usr/bin/chromedriver", {"--port=" + base_.substr(17)})) {
    const bool up = driver_.await([&] {
      const auto r = http_get(base_, "/status");
      return r && contains(r->body, "\"ready\":true");
    }, deadline());
    REQUIRE_MESSAGE(up, "chromedriver: ", driver_.err());
    const nlohmann::json caps{{"capabilities", {{"alwaysMatch", {{"browserName", "chrome"}, {"goog:chromeOptions", {
        {"binary", "/usr/bin/chromium"},
        {"args", {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,960",
                  "--user-data-dir=" + (dir / "chromium").string()}}}}}}}}};
    const auto session = http_post_json(base_, "/session", caps);
    REQUIRE_MESSAGE(session.is_object(), "no session: ", driver_.err());
    id_ = session["value"]["sessionId"].get<std::string>();
  }
  ~browser() {
    httplib::Client(base_).Delete(("/session/" + id_).c_str());
    driver_.signal(SIGTERM);
    driver_.wait_or_kill(watchdog);
  }

  void open(const std::string& url) { post("/url", {{"url", url}}); }
  /// Runs `script` (a function body) in the page; its return value.
  nlohmann::json run(const std::string& script) { return post("/execute/sync", {{"script", script}, {"args", nlohmann::json::array()}})["value"]; }
  /// A PNG of the window.
  std::string screenshot() {
    const auto r = http_get(base_, "/session/" + id_ + "/screenshot");
    REQUIRE(r);
    return base64_decode(nlohmann::json::parse(r->body)["value"].get<std::string>());
  }
  /// Re-reads `script` until `holds(value)` or the deadline; the last value.
  template <class Condition>
  nlohmann::json await(const std::string& script, Condition holds) {
    nlohmann::json last;
    driver_.await([&] { return holds(last = run(script)); }, deadline());
    return last;
  }

 private:
  nlohmann::json post(const std::string& path, const nlohmann::json& body) {
    return http_post_json(base_, "/session/" + id_ + path, body);
  }
  std::string base_;
  child_process driver_;
  std::string id_;
};

/// What the page drew: {"stages": {name: {state, rate, text}}, "edges": ["from->to"], "updates": n}.
const char* drawn = R"(
  const stages = {};
  document.querySelectorAll("g.stage").forEach(g => {
    stages[g.dataset.stage] = {state: g.dataset.state, rate: g.querySelector("text.rate").textContent, text: g.textContent};
  });
  const edges = [...document.querySelectorAll("g.edge")].map(g => g.dataset.from + "->" + g.dataset.to);
  return {stages, edges, updates: window.sluiceUpdates || 0};
)";

}  // namespace

TEST_SUITE("observe_web") {

TEST_CASE("the web view draws every stage and edge, a stage's rate changes between two reads, a stuck stage and a restart are marked") {
  temp_dir dir;
  const auto fifo = dir / "archive.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // never read: "archive" gets stuck
  REQUIRE(reader >= 0);
  // Three chains: a burst (20,000 events at 2,000 a second, then its stages stop) through two
  // copies of a transform; events into a sink that gets stuck, which keeps the run going; ticks
  // through a transform that fails once and is restarted.
  const auto file = dir.write("web.json", R"({
  "version": 1,
  "name": "web",
  "stages": {
    "burst": {"type": "generate", "options": {"event": {"n": 1}, "count": 20000, "rate": 2000}},
    "double": {"type": "jq", "options": {"filter": ".n * 2"}, "subscribe_to": "burst", "concurrency": 2},
    "sink": {"type": "null", "subscribe_to": "double"},
    "events": {"type": "generate", "options": {"event": {"level": "info"}}},
    "tag": {"type": "jq", "options": {"filter": ". + {tagged: true}"}, "subscribe_to": "events"},
    "archive": {"type": "file", "options": {"path": ")" + fifo.string() + R"("}, "subscribe_to": "tag"},
    "ticks": {"type": "tick", "options": {"interval_ms": 10}},
    "picky": {"type": "jq", "options": {"filter": "if .tick == 20 then error(\"20 is not allowed\") else . end"},
              "subscribe_to": "ticks", "restart": {"max_restarts": 3, "max_seconds": 60}},
    "kept": {"type": "null", "subscribe_to": "picky"}
  }
})");
  auto child = start_sluice(dir, {{"run", file.string(), "--http", "127.0.0.1:0", "--stall-timeout", "1"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  browser b(dir);
  b.open(base + "/");

  const auto flowing = b.await(drawn, [](const nlohmann::json& d) {
    return d.is_object() && d["stages"].contains("sink") && d["stages"]["sink"]["rate"] != "in 0/s" &&
           contains(d["stages"]["archive"]["text"].get<std::string>(), "STALLED") &&
           contains(d["stages"]["picky"]["text"].get<std::string>(), "restarts 1");
  });
  INFO("first read: ", flowing.dump());
  REQUIRE(flowing.is_object());
  std::set<std::string> stages;
  for (const auto& [name, _] : flowing["stages"].items()) stages.insert(name);
  CHECK(stages == std::set<std::string>{"burst", "double", "sink", "events", "tag", "archive", "ticks", "picky", "kept"});
  const auto edges = flowing["edges"].get<std::set<std::string>>();
  CHECK(edges == std::set<std::string>{"burst->double", "double->sink", "events->tag", "tag->archive", "ticks->picky", "picky->kept"});
  CHECK(contains(flowing["stages"]["picky"]["text"].get<std::string>(), "restarts 1"));
  CHECK(contains(flowing["stages"]["double"]["text"].get<std::string>(), "x2"));  // copies grouped in one node
  CHECK(contains(flowing["stages"]["sink"]["rate"].get<std::string>(), "in "));
  CHECK(contains(flowing["stages"]["archive"]["text"].get<std::string>(), "STALLED"));
  CHECK_FALSE(contains(flowing["stages"]["tag"]["text"].get<std::string>(), "STALLED"));
  const std::string png = b.screenshot();
  CHECK(png.substr(1, 3) == "PNG");
  std::ofstream(SLUICE_WEB_VIEW_PNG, std::ios::binary) << png;

  const auto later = b.await(drawn, [&](const nlohmann::json& d) {
    return d.is_object() && d["stages"]["sink"]["rate"] != flowing["stages"]["sink"]["rate"];
  });
  ::close(reader);
  INFO("second read: ", later.dump());
  CHECK(later["stages"]["sink"]["rate"] != flowing["stages"]["sink"]["rate"]);
  CHECK(later["updates"] > flowing["updates"]);
}

TEST_CASE("the web view marks a slow sink as the bottleneck and its source as back-pressured") {
  temp_dir dir;
  const auto fifo = dir / "out.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // never read: the slowest sink there is
  REQUIRE(reader >= 0);
  auto child = start_sluice(dir, {{"run", fifo_pipeline(dir, fifo).string(), "--http", "127.0.0.1:0"}});
  const std::string base = endpoint_of(child, deadline());
  INFO("stderr: ", child.err());
  REQUIRE_FALSE(base.empty());
  browser b(dir);
  b.open(base + "/");
  const auto d = b.await(drawn, [](const nlohmann::json& v) {
    return v.is_object() && v["stages"].contains("sink") && contains(v["stages"]["sink"]["text"].get<std::string>(), "bottleneck");
  });
  ::close(reader);
  INFO("drawn: ", d.dump());
  REQUIRE(d.is_object());
  CHECK(contains(d["stages"]["sink"]["text"].get<std::string>(), "bottleneck"));
  CHECK(d["stages"]["sink"]["state"] == "busy");
  CHECK(d["stages"]["src"]["state"] == "back_pressured");
  CHECK_FALSE(contains(d["stages"]["src"]["text"].get<std::string>(), "bottleneck"));
}

}  // TEST_SUITE("observe_web")
