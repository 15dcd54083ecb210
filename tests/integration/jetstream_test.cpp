// Integration tests of the `nats_jetstream` source through the embedding API, against a real
// nats-server (JetStream on, a free loopback port, a temporary store): the source is started as a
// stage producing `pipeline::event`s and a test consumer settles every event it gets.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/sluice.hpp>

#include "nats_server.hpp"
#include "stages/nats_jetstream.hpp"
#include "stages/nats_jetstream_link.hpp"

using namespace sluice;
using namespace sluice::testing;
using sluice::pipeline::event;
using namespace std::chrono_literals;

namespace {

/// What the test consumer saw: how often each stream sequence arrived, and the payloads.
struct seen_state {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::uint64_t, int> deliveries;  // stream sequence -> times seen
  std::vector<std::string> payloads;
  std::size_t total = 0;

  /// Waits until `pred()` holds (under the lock) or `deadline`.
  template <class Pred>
  bool wait_until(Pred pred, test_clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return changed.wait_until(lock, deadline, [&] { return pred(); });
  }
};

/// Whether the consumer settles an event as done (true) or lets it go without done() (false),
/// given its stream sequence and how often it was seen before.
using settle_policy = std::function<bool(std::uint64_t seq, int seen_before)>;

/// Records every event, then done()s it or destroys it undone, as the policy says.
class settling_consumer final : public consumer<event> {
 public:
  settling_consumer(std::shared_ptr<seen_state> state, settle_policy policy) : state_(std::move(state)), policy_(std::move(policy)) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>&) override {
    for (auto& e : events) {
      int before = 0;
      {
        std::lock_guard lock(state_->mutex);
        before = state_->deliveries[e.position()]++;
        state_->payloads.push_back(e.json());
        ++state_->total;
      }
      if (policy_(e.position(), before)) e.ack().done();
      else e.ack().fail();
    }
    state_->changed.notify_all();
  }

 private:
  std::shared_ptr<seen_state> state_;
  settle_policy policy_;
};

bool done_always(std::uint64_t, int) { return true; }

/// Waits until the consumer has nothing pending and nothing unacknowledged (a server-side count:
/// nothing to wait on but the next look, at child_process::await's pace).
bool settles(jetstream_client& js, const std::string& stream, const std::string& durable, test_clock::time_point deadline) {
  while (!js.settled(stream, durable)) {
    if (test_clock::now() >= deadline) {
      const auto [msgs, acks] = js.pending(stream, durable);
      MESSAGE("num_pending ", msgs, ", num_ack_pending ", acks);
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}


stages::jetstream_settings settings_for(const nats_server& server, const std::string& stream, const std::string& durable) {
  stages::jetstream_settings s;
  s.connection.url = server.url();
  s.connection.urls = {server.url()};
  s.connection.name = "jetstream-test";
  s.stream = stream;
  s.durable = durable;
  s.create = true;  // the consumer
  s.nak_delay_ms = 20;
  s.ack_wait_ms = 30000;
  return s;
}

/// A source and a settling consumer subscribed to it.
struct running {
  pid source;
  pid sink;
};

running start_pair(runtime& rt, stages::jetstream_settings s, std::shared_ptr<seen_state> state, settle_policy policy,
                   std::shared_ptr<stages::jetstream_counters> counters = {}, std::shared_ptr<stage_counters> stats = {}) {
  running r;
  r.source = start(rt, stages::make_jetstream_source(std::move(s), "js", std::move(stats), std::move(counters)));
  r.sink = start(rt, std::make_unique<settling_consumer>(std::move(state), std::move(policy)));
  auto sub = subscribe(rt, r.sink, r.source);
  REQUIRE_MESSAGE(sub.ref.has_value(), "subscribe failed: ", sub.error.to_string());
  return r;
}

/// Where `start` spawns from inside a process, monitoring the stage from birth (a stage that fails
/// in init may be gone before a plain thread could ask for its exit).
struct monitored_spawn {
  context& ctx;
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o) { return ctx.spawn_monitor(std::move(b), o).first; }
};

/// Starts a source that must fail in init; its exit reason.
exit_reason failed_start(runtime& rt, stages::jetstream_settings s) {
  struct go {};
  std::promise<exit_reason> ended;
  auto reason = ended.get_future();
  const pid watcher = rt.spawn([&ended, s](context& ctx, message& m) {
    if (m.is<go>()) {
      monitored_spawn where{ctx};
      start(where, stages::make_jetstream_source(s, "js"));
    } else if (auto* d = m.get_if<down>()) {
      ended.set_value(d->reason);
    }
  });
  rt.send(watcher, go{});
  REQUIRE(reason.wait_for(30s) == std::future_status::ready);
  auto r = reason.get();
  MESSAGE("exit reason: ", r.to_string());
  rt.exit(watcher, exit_reason::kill());
  return r;
}

}  // namespace

TEST_SUITE("nats_jetstream source (embedding API)") {

TEST_CASE("every published message reaches the consumer once, and all are acknowledged") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  constexpr int n = 5000;
  js.publish("orders.new", numbered_payloads(n));
  runtime rt({.threads = 2});
  auto state = std::make_shared<seen_state>();
  auto s = settings_for(server, "ORDERS", "all");
  s.max_batch = 300;  // several pulls, each asking for what demand allows
  auto counters = std::make_shared<stages::jetstream_counters>();
  auto stats = std::make_shared<stage_counters>();  // what /metrics shows as acknowledged
  auto r = start_pair(rt, s, state, done_always, counters, stats);
  REQUIRE(state->wait_until([&] { return state->deliveries.size() == n; }, test_clock::now() + watchdog));
  CHECK(settles(js, "ORDERS", "all", test_clock::now() + watchdog));
  drain(rt, r.source);
  CHECK(rt.await_exit(r.sink, 30s).has_value());
  std::lock_guard lock(state->mutex);
  CHECK(state->total == n);  // none twice
  CHECK(state->deliveries.begin()->first == 1);
  CHECK(state->deliveries.rbegin()->first == n);
  CHECK(state->payloads.front() == R"({"n":1})");
  CHECK(stats->acknowledged.load() == n);  // the sink settled each (its exit was awaited above)
  CHECK(stats->failed.load() == 0);
  // Pulls ask for batches (never 1 at a time): 5000 / 300 is 17 full ones; a few more are fine
  // (a pull sent when demand was partly granted, the idle pull at the end).
  MESSAGE("pulls: ", counters->pulls.load());
  CHECK(counters->pulls.load() >= 17);
  CHECK(counters->pulls.load() <= 200);
}

TEST_CASE("an event destroyed without done() is negatively acknowledged and redelivered") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  js.publish("orders.new", numbered_payloads(10));
  runtime rt({.threads = 2});
  auto state = std::make_shared<seen_state>();
  auto counters = std::make_shared<stages::jetstream_counters>();
  // Sequence 3 fails the first time it is seen, then is done like the rest.
  auto policy = [](std::uint64_t seq, int before) { return seq != 3 || before > 0; };
  auto stats = std::make_shared<stage_counters>();
  auto r = start_pair(rt, settings_for(server, "ORDERS", "redo"), state, policy, counters, stats);
  REQUIRE(state->wait_until([&] { return state->deliveries.size() == 10 && state->deliveries[3] == 2; },
                            test_clock::now() + watchdog));
  CHECK(settles(js, "ORDERS", "redo", test_clock::now() + watchdog));
  drain(rt, r.source);
  CHECK(rt.await_exit(r.sink, 30s).has_value());
  std::lock_guard lock(state->mutex);
  CHECK(state->total == 11);
  CHECK(counters->redelivered.load() == 1);
  CHECK(stats->failed.load() == 1);        // sequence 3's first delivery, nacked
  CHECK(stats->acknowledged.load() == 10);
  CHECK(stats->redelivered.load() == 1);
}

TEST_CASE("pulls that expire with nothing delivered keep their credit: messages published later still arrive") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  runtime rt({.threads = 2});
  auto state = std::make_shared<seen_state>();
  auto counters = std::make_shared<stages::jetstream_counters>();
  auto s = settings_for(server, "ORDERS", "idle");
  s.pull_expires_ms = 50;
  auto r = start_pair(rt, s, state, done_always, counters);
  // Several pulls expire on the empty stream (a server-side timer: observed, not waited for).
  const auto deadline = test_clock::now() + watchdog;
  while (counters->pulls.load() < 4 && test_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  REQUIRE(counters->pulls.load() >= 4);
  js.publish("orders.late", numbered_payloads(5));
  REQUIRE(state->wait_until([&] { return state->deliveries.size() == 5; }, test_clock::now() + watchdog));
  CHECK(settles(js, "ORDERS", "idle", test_clock::now() + watchdog));
  drain(rt, r.source);
  CHECK(rt.await_exit(r.sink, 30s).has_value());
}

TEST_CASE("a message past max_deliver is counted from the MAX_DELIVERIES advisory") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  js.publish("orders.new", numbered_payloads(3));
  runtime rt({.threads = 2});
  auto state = std::make_shared<seen_state>();
  auto counters = std::make_shared<stages::jetstream_counters>();
  auto s = settings_for(server, "ORDERS", "poison");
  s.max_deliver = 2;
  // Sequence 2 always fails: delivered twice, then JetStream gives up on it.
  [[maybe_unused]] auto r = start_pair(rt, s, state, [](std::uint64_t seq, int) { return seq != 2; }, counters);
  REQUIRE(state->wait_until([&] { return state->deliveries.size() == 3 && state->deliveries[2] == 2; },
                            test_clock::now() + watchdog));
  const auto deadline = test_clock::now() + watchdog;
  while (counters->max_deliveries.load() == 0 && test_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  CHECK(counters->max_deliveries.load() == 1);
  CHECK(settles(js, "ORDERS", "poison", test_clock::now() + watchdog));  // no longer pending: given up
  std::lock_guard lock(state->mutex);
  CHECK(state->deliveries[2] == 2);
}

TEST_CASE("a message that is not JSON: on_error skip terminates it, on_error fail fails the stage naming it") {
  nats_server server;
  jetstream_client js(server);
  js.add_stream("ORDERS", "orders.>");
  js.publish("orders.new", {R"({"n":1})", "not json", R"({"n":3})"});
  runtime rt({.threads = 2});
  SUBCASE("skip") {
    auto state = std::make_shared<seen_state>();
    auto counters = std::make_shared<stages::jetstream_counters>();
    auto s = settings_for(server, "ORDERS", "skip");
    s.skip_errors = true;
    auto r = start_pair(rt, s, state, done_always, counters);
    REQUIRE(state->wait_until([&] { return state->deliveries.size() == 2; }, test_clock::now() + watchdog));
    CHECK(settles(js, "ORDERS", "skip", test_clock::now() + watchdog));  // +TERM counts as acknowledged
    CHECK(counters->terminated.load() == 1);
    drain(rt, r.source);
    CHECK(rt.await_exit(r.sink, 30s).has_value());
  }
  SUBCASE("fail") {
    auto state = std::make_shared<seen_state>();
    auto r = start_pair(rt, settings_for(server, "ORDERS", "fail"), state, done_always);
    auto reason = rt.await_exit(r.source, 30s);
    REQUIRE(reason.has_value());
    CHECK(reason->what() == exit_reason::kind::error);
    CHECK(reason->detail().find("stage \"js\"") != std::string::npos);
    CHECK(reason->detail().find("sequence 2") != std::string::npos);
    INFO(reason->detail());
    CHECK(reason->detail().find("not valid JSON") != std::string::npos);
    REQUIRE(state->wait_until([&] { return state->deliveries.size() == 1; }, test_clock::now() + watchdog));
    CHECK(js.pending("ORDERS", "fail").second >= 1);  // the bad message stays unacknowledged
  }
}

TEST_CASE("bad setups fail the stage's start with a message naming what is wrong") {
  runtime rt({.threads = 2});
  SUBCASE("a server that is down: the URL") {
    nats_server server;  // only for the settings' shape; the URL points elsewhere
    auto s = settings_for(server, "ORDERS", "d");
    s.connection.url = "nats://127.0.0.1:" + std::to_string(closed_loopback_port());
    s.connection.urls = {s.connection.url};
    s.connection.connect_timeout_ms = 500;
    const auto reason = failed_start(rt, s);
    CHECK(reason.detail().find(s.connection.url) != std::string::npos);
    CHECK(reason.detail().find("stage \"js\"") != std::string::npos);
  }
  SUBCASE("a stream that does not exist (without create)") {
    nats_server server;
    auto s = settings_for(server, "MISSING", "d");
    s.create = false;
    const auto reason = failed_start(rt, s);
    CHECK(reason.detail().find("stream \"MISSING\"") != std::string::npos);
    CHECK(reason.detail().find("does not exist") != std::string::npos);
  }
  SUBCASE("a subject the stream does not cover") {
    nats_server server;
    jetstream_client js(server);
    js.add_stream("ORDERS", "orders.>");
    auto s = settings_for(server, "ORDERS", "d");
    s.subject = "payments.new";
    const auto reason = failed_start(rt, s);
    CHECK(reason.detail().find("subject \"payments.new\" is not covered") != std::string::npos);
    CHECK(reason.detail().find("\"orders.>\"") != std::string::npos);
  }
  SUBCASE("a consumer that does not exist (without create)") {
    nats_server server;
    jetstream_client js(server);
    js.add_stream("ORDERS", "orders.>");
    auto s = settings_for(server, "ORDERS", "nobody");
    s.create = false;
    const auto reason = failed_start(rt, s);
    CHECK(reason.detail().find("consumer \"nobody\" does not exist") != std::string::npos);
  }
}

TEST_CASE("create makes the stream and the consumer when missing") {
  nats_server server;
  runtime rt({.threads = 2});
  auto state = std::make_shared<seen_state>();
  auto s = settings_for(server, "FRESH", "made");
  s.subject = "fresh.>";
  auto r = start_pair(rt, s, state, done_always);
  jetstream_client js(server);
  js.publish("fresh.one", numbered_payloads(3));
  REQUIRE(state->wait_until([&] { return state->deliveries.size() == 3; }, test_clock::now() + watchdog));
  CHECK(settles(js, "FRESH", "made", test_clock::now() + watchdog));
  drain(rt, r.source);
  CHECK(rt.await_exit(r.sink, 30s).has_value());
}

TEST_CASE("subject_covers follows NATS wildcards") {
  CHECK(stages::subject_covers("orders.>", "orders.new"));
  CHECK(stages::subject_covers("orders.>", "orders.*.x"));
  CHECK(stages::subject_covers("orders.*", "orders.new"));
  CHECK(stages::subject_covers("orders.*", "orders.*"));
  CHECK_FALSE(stages::subject_covers("orders.*", "orders.>"));
  CHECK_FALSE(stages::subject_covers("orders.>", "orders"));
  CHECK_FALSE(stages::subject_covers("orders.new", "orders.*"));
  CHECK_FALSE(stages::subject_covers("orders.*", "orders.a.b"));
  CHECK(stages::subject_covers(">", "anything.at.all"));
}

}  // TEST_SUITE
