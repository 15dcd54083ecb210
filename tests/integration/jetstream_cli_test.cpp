// Integration tests of the `nats_jetstream` source through the real `sluice` binary, against a real
// nats-server (JetStream on, a free loopback port, a temporary store): delivery into a file, two
// instances on one durable, an instance killed, the server restarted, acknowledgements through jq,
// bad input. The test's own side (stream, publisher, consumer counts) uses libnats directly.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "nats_server.hpp"

using namespace sluice::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// Long enough for 100,000 messages on a loaded 2-core machine (a bound, not a speed criterion).
constexpr auto long_deadline = 180s;

/// A pipeline: nats_jetstream (`options` on top of the defaults) -> [jq `filter`] -> file `out`.
std::string js_pipeline(const nats_server& server, const json& options, const std::string& out,
                        const std::string& filter = "") {
  json in = {{"url", server.url()}, {"stream", "ORDERS"}, {"durable", "work"}, {"create", true}, {"reconnect_wait_ms", 100}};
  in.update(options);
  json stages = {{"in", {{"type", "nats_jetstream"}, {"options", in}}}};
  std::string last = "in";
  if (!filter.empty()) {
    stages["jq"] = {{"type", "jq"}, {"options", {{"filter", filter}}}, {"subscribe_to", "in"}};
    last = "jq";
  }
  stages["out"] = {{"type", "file"}, {"options", {{"path", out}}}, {"subscribe_to", last}};
  return json{{"version", 1}, {"stages", stages}}.dump(2);
}

/// How often each "n" appears in the JSON lines of `file` (a torn last line of a killed writer is
/// not JSON: left out).
std::map<int, int> counts_in(const fs::path& file) {
  std::map<int, int> c;
  if (!fs::exists(file)) return c;
  for (auto& v : jsonl(read_file(file))) {
    if (v.is_object() && v.contains("n")) ++c[v["n"].get<int>()];
  }
  return c;
}

/// Lines (newlines) in `file`: cheap enough to poll.
std::size_t lines_in(const fs::path& file) {
  if (!fs::exists(file)) return 0;
  const auto text = read_file(file);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

/// SIGINT drains the run: exit 0.
void drain(child_process& child) {
  child.signal(SIGINT);
  const auto st = child.wait_or_kill(watchdog);
  INFO("stderr: ", child.err());
  CHECK(st.to_string() == "exit 0");
}

/// Every n in 1..count exactly once across `counts`.
void check_each_once(const std::map<int, int>& counts, int count) {
  CHECK(counts.size() == static_cast<std::size_t>(count));
  CHECK(counts.begin()->first == 1);
  CHECK(counts.rbegin()->first == count);
  int twice = 0;
  for (auto& [n, c] : counts) twice += c > 1 ? 1 : 0;
  CHECK(twice == 0);
}

std::map<int, int> merged(const std::map<int, int>& a, const std::map<int, int>& b) {
  auto m = a;
  for (auto& [n, c] : b) m[n] += c;
  return m;
}

}  // namespace

TEST_SUITE("nats_jetstream source (sluice run)") {

TEST_CASE("100000 messages reach the file, each once; the consumer ends with nothing pending") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 100000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  const auto file = dir.write("p.json", js_pipeline(server, json::object(), "out.jsonl"));
  auto child = start_sluice(dir, {{"run", file.string()}});
  const bool all = child.await([&] { return js.settled("ORDERS", "work") && lines_in(dir / "out.jsonl") >= n; },
                               test_clock::now() + long_deadline);
  INFO("stderr: ", child.err());
  CHECK(all);
  drain(child);
  check_each_once(counts_in(dir / "out.jsonl"), n);
  CHECK(js.settled("ORDERS", "work"));
}

TEST_CASE("two instances on one durable share the messages: together all, none twice") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 30000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  const auto a = dir.write("a.json", js_pipeline(server, json::object(), "a.jsonl"));
  const auto b = dir.write("b.json", js_pipeline(server, json::object(), "b.jsonl"));
  auto first = start_sluice(dir, {{"run", a.string()}});
  auto second = start_sluice(dir, {{"run", b.string()}});
  const bool all = first.await(
      [&] { return js.settled("ORDERS", "work") && lines_in(dir / "a.jsonl") + lines_in(dir / "b.jsonl") >= n; },
      test_clock::now() + long_deadline);
  INFO("stderr a: ", first.err(), "\nstderr b: ", second.err());
  CHECK(all);
  drain(first);
  drain(second);
  const auto ca = counts_in(dir / "a.jsonl");
  const auto cb = counts_in(dir / "b.jsonl");
  MESSAGE("split: ", ca.size(), " / ", cb.size());
  check_each_once(merged(ca, cb), n);
}

TEST_CASE("SIGKILL of one of two instances: every message still reaches a file; duplicates only from the killed one") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 50000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  // A short ack_wait: what the killed instance held unacknowledged comes back to the survivor soon.
  const json fast = {{"ack_wait_ms", 2000}};
  const auto a = dir.write("a.json", js_pipeline(server, fast, "a.jsonl"));
  const auto b = dir.write("b.json", js_pipeline(server, fast, "b.jsonl"));
  auto victim = start_sluice(dir, {{"run", a.string()}});
  auto survivor = start_sluice(dir, {{"run", b.string()}});
  REQUIRE(victim.await([&] { return lines_in(dir / "a.jsonl") >= 2000; }, test_clock::now() + long_deadline));
  victim.signal(SIGKILL);
  victim.wait_or_kill(watchdog);
  const bool all = survivor.await(
      [&] { return js.settled("ORDERS", "work") && counts_in(dir / "a.jsonl").size() + lines_in(dir / "b.jsonl") >= n; },
      test_clock::now() + long_deadline);
  INFO("stderr survivor: ", survivor.err());
  CHECK(all);
  drain(survivor);
  const auto ca = counts_in(dir / "a.jsonl");
  const auto cb = counts_in(dir / "b.jsonl");
  const auto both = merged(ca, cb);
  CHECK(both.size() == static_cast<std::size_t>(n));  // at least once
  int duplicates = 0;
  for (const auto& vc : cb) CHECK_MESSAGE(vc.second == 1, "the survivor wrote ", vc.first, " twice");
  for (const auto& vc : both) {
    if (vc.second < 2) continue;
    duplicates += vc.second - 1;
    CHECK_MESSAGE(ca.count(vc.first) == 1, vc.first, " is a duplicate the killed instance did not write");
  }
  MESSAGE("killed instance wrote ", ca.size(), ", survivor ", cb.size(), "; duplicates (written by the killed one, "
          "not acknowledged before the kill): ", duplicates);
}

TEST_CASE("the server killed and restarted mid-way: nothing is lost") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 30000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  const auto file = dir.write("p.json", js_pipeline(server, {{"ack_wait_ms", 2000}}, "out.jsonl"));
  auto child = start_sluice(dir, {{"run", file.string()}});
  REQUIRE(child.await([&] { return lines_in(dir / "out.jsonl") >= 3000; }, test_clock::now() + long_deadline));
  server.restart();
  jetstream_client again(server);
  const bool all = child.await(
      [&] { return again.settled("ORDERS", "work") && counts_in(dir / "out.jsonl").size() >= n; },
      test_clock::now() + long_deadline);
  INFO("stderr: ", child.err());
  CHECK(all);
  drain(child);
  const auto c = counts_in(dir / "out.jsonl");
  CHECK(c.size() == static_cast<std::size_t>(n));
  int duplicates = 0;
  for (auto& [v, k] : c) duplicates += k - 1;
  MESSAGE("duplicates after the restart (acks the server had not stored yet): ", duplicates);
}

TEST_CASE("a jq filter that drops events and one that multiplies them: acknowledgements stay exact") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 10000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  SUBCASE("drop") {
    const auto file = dir.write("p.json", js_pipeline(server, json::object(), "out.jsonl", "select(.n % 2 == 0)"));
    auto child = start_sluice(dir, {{"run", file.string()}});
    const bool all = child.await([&] { return js.settled("ORDERS", "work") && lines_in(dir / "out.jsonl") >= n / 2; },
                                 test_clock::now() + long_deadline);
    INFO("stderr: ", child.err());
    CHECK(all);
    drain(child);
    CHECK(counts_in(dir / "out.jsonl").size() == n / 2);
  }
  SUBCASE("multiply") {
    const auto file = dir.write("p.json", js_pipeline(server, json::object(), "out.jsonl", ".,."));
    auto child = start_sluice(dir, {{"run", file.string()}});
    const bool all = child.await([&] { return js.settled("ORDERS", "work") && lines_in(dir / "out.jsonl") >= 2 * n; },
                                 test_clock::now() + long_deadline);
    INFO("stderr: ", child.err());
    CHECK(all);
    drain(child);
    const auto c = counts_in(dir / "out.jsonl");
    CHECK(c.size() == n);
    for (const auto& vk : c) REQUIRE_MESSAGE(vk.second == 2, vk.first, " appears ", vk.second, " times");
  }
  CHECK(js.settled("ORDERS", "work"));
}

TEST_CASE("a message that is not JSON: on_error fail exits 1 naming it; skip acknowledges it (+TERM) and counts it") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  js.publish("orders.new", {R"({"n":1})", "oops", R"({"n":3})"});
  temp_dir dir;
  SUBCASE("fail") {
    const auto file = dir.write("p.json", js_pipeline(server, json::object(), "out.jsonl"));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"in\""));
    CHECK(contains(r.err, "stream \"ORDERS\" sequence 2"));
    CHECK(contains(r.err, "not valid JSON"));
    CHECK(js.pending("ORDERS", "work").second >= 1);  // still unacknowledged: redelivered to the next run
  }
  SUBCASE("skip") {
    const auto file = dir.write("p.json", js_pipeline(server, {{"on_error", "skip"}}, "out.jsonl"));
    auto child = start_sluice(dir, {{"run", file.string()}});
    const bool all = child.await([&] { return js.settled("ORDERS", "work") && lines_in(dir / "out.jsonl") >= 2; },
                                 test_clock::now() + long_deadline);
    INFO("stderr: ", child.err());
    CHECK(all);
    drain(child);
    CHECK(parse_summary(child.err())["in"].skipped == 1);
  }
}

TEST_CASE("bad setups: no server, a missing stream, an uncovered subject each exit 1 naming the stage and what is wrong") {
  temp_dir dir;
  SUBCASE("no server at the URL") {
    const std::string url = "nats://127.0.0.1:" + std::to_string(closed_loopback_port());
    json p = {{"version", 1},
              {"stages",
               {{"in", {{"type", "nats_jetstream"}, {"options", {{"url", url}, {"stream", "S"}, {"durable", "d"}, {"connect_timeout_ms", 500}}}}},
                {"out", {{"type", "null"}, {"subscribe_to", "in"}}}}}};
    const auto r = run_sluice(dir, {{"run", dir.write("p.json", p.dump()).string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, url));
    CHECK(contains(r.err, "\"in\""));
  }
  SUBCASE("a stream that does not exist") {
    nats_server server;
    const auto file = dir.write("p.json", js_pipeline(server, {{"create", false}, {"stream", "NOPE"}}, "out.jsonl"));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "stage \"in\""));
    CHECK(contains(r.err, "stream \"NOPE\": the stream does not exist"));
  }
  SUBCASE("a subject the stream does not cover") {
    nats_server server;
    jetstream_client js(server);
    js.add_stream("ORDERS", "orders.>");
    const auto file = dir.write("p.json", js_pipeline(server, {{"subject", "payments.*"}}, "out.jsonl"));
    const auto r = run_sluice(dir, {{"run", file.string()}});
    INFO(describe(r));
    CHECK(r.code() == 1);
    CHECK(contains(r.err, "subject \"payments.*\" is not covered by the stream"));
  }
  SUBCASE("sluice check: a durable name with a dot is a configuration error (exit 2)") {
    json p = {{"version", 1},
              {"stages",
               {{"in", {{"type", "nats_jetstream"}, {"options", {{"stream", "S"}, {"durable", "a.b"}}}}},
                {"out", {{"type", "null"}, {"subscribe_to", "in"}}}}}};
    const auto r = run_sluice(dir, {{"check", dir.write("p.json", p.dump()).string()}});
    INFO(describe(r));
    CHECK(r.code() == 2);
    CHECK(contains(r.err, "a.b"));
  }
}

TEST_CASE("a transform that crashes and is restarted loses nothing: what its instance held is redelivered") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 5000;
  js.publish("orders.new", numbered_payloads(n));
  temp_dir dir;
  json p = json::parse(js_pipeline(server, {{"nak_delay_ms", 50}}, "out.jsonl"));
  // `flaky` (the test plugin) throws on the 700th event its instance sees, once in all.
  p["stages"]["flaky"] = {{"type", "flaky"}, {"subscribe_to", "in"}, {"options", {{"at", 700}, {"crashes", 1}}},
                          {"restart", {{"max_restarts", 1}}}};
  p["stages"]["out"]["subscribe_to"] = "flaky";
  const auto file = dir.write("p.json", p.dump(2));
  auto child = start_sluice(dir, {{"run", file.string(), "--plugin", SLUICE_TEST_PLUGIN}});
  const auto every_one = [&] { return counts_in(dir / "out.jsonl").size() == static_cast<std::size_t>(n); };
  const bool all = child.await([&] { return js.settled("ORDERS", "work") && every_one(); }, test_clock::now() + long_deadline);
  INFO("stderr: ", child.err());
  CHECK(all);
  drain(child);
  CHECK(contains(child.err(), "stage \"flaky\" restarted"));
  const auto counts = counts_in(dir / "out.jsonl");
  CHECK(counts.size() == static_cast<std::size_t>(n));  // every message at least once
  CHECK(js.settled("ORDERS", "work"));
}

}  // TEST_SUITE
