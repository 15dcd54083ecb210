// sluice-bench/cli_observe_scenarios.cpp: cli_observe_pipeline4, cli_observe_range and cli_observe_jq.
//
// Each workload runs as `sluice run` timed from spawn to exit (child_process.hpp), three ways:
//   sluice   with --http on a loopback port, /metrics and /api/pipeline fetched once a second by a
//            thread of the benchmark (what Prometheus and an open web view cost);
//   no_http  the same binary without --http (the stage counters and the sampler still run: they
//            are always on);
//   before   (only when SLUICE_BENCH_BASELINE_BIN names a binary) a sluice built without the
//            observability counters, without --http: what the counters themselves cost.
// Ratios are sluice / baseline: for seconds, 1.03 is 3% slower. Each run checks the sink's count.
#include "cli_observe_scenarios.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "cli_peers.hpp"
#include "cli_sluice.hpp"
#include "log_lines.hpp"
#include "temp_dir.hpp"

namespace sluice::bench {

namespace {

using json = nlohmann::ordered_json;
using std::filesystem::path;

constexpr std::int64_t pipeline4_events = 2'000'000;
constexpr std::int64_t range_events = 20'000'000;
constexpr std::int64_t log_lines = 1'000'000;

/// A loopback port free a moment ago.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

/// Fetches /metrics and /api/pipeline from `port` once a second until destroyed; counts the scrapes
/// that answered.
class scraper {
 public:
  explicit scraper(int port) : client_("127.0.0.1", port), thread_([this] { loop(); }) {}
  ~scraper() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  [[nodiscard]] int scrapes() const {
    std::lock_guard lock(mutex_);
    return scrapes_;
  }

 private:
  void loop() {
    client_.set_connection_timeout(1, 0);
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::seconds(1), [&] { return done_; })) {
      lock.unlock();
      const bool metrics = static_cast<bool>(client_.Get("/metrics"));
      const bool api = static_cast<bool>(client_.Get("/api/pipeline"));
      lock.lock();
      scrapes_ += metrics && api ? 1 : 0;
    }
  }
  httplib::Client client_;
  mutable std::mutex mutex_;  // guards done_ and scrapes_
  std::condition_variable wake_;
  bool done_ = false;
  int scrapes_ = 0;
  std::thread thread_;
};

/// How a system runs `sluice run`.
enum class mode : std::uint8_t { scraped, no_http, before };

std::string baseline_binary() {
  const char* b = std::getenv("SLUICE_BENCH_BASELINE_BIN");
  return b == nullptr ? std::string() : std::string(b);
}

/// Runs `pipeline_file` with `sluice` as `m` says; checks the sink `sink` counted `expected`.
measurements run(const std::string& sluice, mode m, const path& pipeline_file, const std::string& sink, std::int64_t expected,
                 double events) {
  const temp_dir dir;
  const path summary = dir / "summary.txt";
  child_spec child = sluice_run(m == mode::before ? baseline_binary() : sluice, pipeline_file, summary);
  std::unique_ptr<scraper> scrape;
  if (m == mode::scraped) {
    const int port = free_port();
    child.args.insert(child.args.end(), {"--http", "127.0.0.1:" + std::to_string(port)});
    scrape = std::make_unique<scraper>(port);
  }
  const child_times t = run_timed(child, child_deadline);
  const int scrapes = scrape ? scrape->scrapes() : 0;
  scrape.reset();
  if (const std::int64_t got = events_in(summary, sink); got != expected) {
    throw std::runtime_error("the sink counted " + std::to_string(got) + " events, expected " + std::to_string(expected));
  }
  if (m == mode::scraped && t.wall_seconds > 2.5 && scrapes == 0) throw std::runtime_error("no scrape was answered");
  return {{"events_per_s", events / t.wall_seconds}, {"seconds", t.wall_seconds}, {"cpu_seconds", t.cpu_seconds}};
}

/// range 1..N -> jq x2 -> jq keep multiples of 4 -> null: the stage benchmark pipeline4's shape.
json pipeline4() {
  return pipeline("cli_observe_pipeline4",
                  {{"numbers", {{"type", "range"}, {"options", {{"from", 1}, {"to", pipeline4_events}}}}},
                   {"double", {{"type", "jq"}, {"options", {{"filter", ". * 2"}}}, {"subscribe_to", json::array({"numbers"})}}},
                   {"fours", {{"type", "jq"}, {"options", {{"filter", "select(. % 4 == 0)"}}}, {"subscribe_to", json::array({"double"})}}},
                   {"sink", {{"type", "null"}, {"subscribe_to", json::array({"fours"})}}}});
}

/// range 1..N -> null: the engine alone (cli_range_null), where a per-message cost shows most.
json range_null() {
  return pipeline("cli_observe_range", {{"numbers", {{"type", "range"}, {"options", {{"from", 1}, {"to", range_events}}}}},
                                        {"sink", {{"type", "null"}, {"subscribe_to", json::array({"numbers"})}}}});
}

/// cli_jq's pipeline (file -> jq error_filter x2 -> file) with the generated log; the errors expected.
struct jq_files {
  temp_dir dir;
  path log = dir / "app.log.jsonl";
  log_contents contents = write_log(log, log_lines, 20261124);
  path pipeline_file = dir / "cli_observe_jq.json";
  std::int64_t errors = 0;
  jq_files() {
    for (const auto& r : contents.records) errors += level_name(r) == "error" ? 1 : 0;
    write_file(pipeline_file, pipeline("cli_observe_jq",
        {{"log", {{"type", "file"}, {"options", {{"path", log.string()}, {"format", "jsonl"}}}}},
         {"errors", {{"type", "jq"}, {"options", {{"filter", error_filter}}}, {"subscribe_to", json::array({"log"})}, {"concurrency", 2}}},
         {"out", {{"type", "file"}, {"options", {{"path", (dir / "out.jsonl").string()}, {"format", "jsonl"}}},
                  {"subscribe_to", json::array({"errors"})}}}}));
  }
};

std::vector<system_run> systems(const std::string& sluice, const std::function<measurements(const std::string&, mode)>& f) {
  return {{"sluice", [=] { return f(sluice, mode::scraped); }},
          {"no_http", [=] { return f(sluice, mode::no_http); }},
          {"before", [=] { return f(sluice, mode::before); }, {},
           [] { return baseline_binary().empty() ? std::string("SLUICE_BENCH_BASELINE_BIN is not set") : std::string(); }}};
}

}  // namespace

std::vector<scenario> cli_observe_scenarios(const std::string& sluice) {
  const std::vector<metric> metrics{{"events_per_s", better::higher}, {"seconds", better::lower}, {"cpu_seconds", better::lower}};
  auto p4 = std::make_shared<temp_dir>();
  const path p4_file = *p4 / "pipeline4.json";
  write_file(p4_file, pipeline4());
  const path range_file = *p4 / "range.json";
  write_file(range_file, range_null());
  auto jq = std::make_shared<std::unique_ptr<jq_files>>();
  std::vector<scenario> all;
  all.push_back({"cli_observe_pipeline4",
                 "`sluice run` of range 1..2,000,000 -> jq `. * 2` -> jq `select(. % 4 == 0)` -> null: with --http "
                 "scraped once a second (sluice) beside without (no_http) and, given SLUICE_BENCH_BASELINE_BIN, a "
                 "sluice without the stage counters (before)",
                 metrics, systems(sluice, [p4, p4_file](const std::string& bin, mode m) {
                   return run(bin, m, p4_file, "sink", pipeline4_events / 2, static_cast<double>(pipeline4_events));
                 })});
  all.push_back({"cli_observe_range",
                 "`sluice run` of range 1..20,000,000 -> null (cli_range_null): with --http scraped once a second "
                 "(sluice) beside without (no_http) and, given SLUICE_BENCH_BASELINE_BIN, before the counters",
                 metrics, systems(sluice, [p4, range_file](const std::string& bin, mode m) {
                   return run(bin, m, range_file, "sink", range_events, static_cast<double>(range_events));
                 })});
  all.push_back({"cli_observe_jq",
                 "cli_jq's run (1,000,000 log lines, jq error filter x2, to a file) with --http scraped once a second "
                 "(sluice) beside without (no_http) and, given SLUICE_BENCH_BASELINE_BIN, before the counters",
                 metrics, systems(sluice, [jq](const std::string& bin, mode m) {
                   if (!*jq) *jq = std::make_unique<jq_files>();
                   const jq_files& f = **jq;
                   return run(bin, m, f.pipeline_file, "out", f.errors, static_cast<double>(log_lines));
                 })});
  return all;
}

}  // namespace sluice::bench
