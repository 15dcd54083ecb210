// Demand, as GenStage's documentation describes it: the consumer arithmetic of max_demand and
// min_demand, manual demand (handle_subscribe returning :manual, GenStage.ask/3), the producer side
// (handle_demand), producer_consumer gating, several producers, and GenStage.demand/2's
// :accumulate.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <numeric>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

std::vector<int> iota(int from, int to) {
  std::vector<int> v(static_cast<std::size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

struct arithmetic_case {
  std::size_t max;
  std::optional<std::size_t> min;
  std::vector<std::vector<int>> batches;  // the first batches handle_events sees
  std::vector<std::size_t> asks;          // the first amounts handle_demand sees
};

void check_arithmetic(const arithmetic_case& c) {
  runtime rt({.threads = 2});
  probe demands(rt);
  probe batches(rt);
  const pid p = start(rt, std::make_unique<counting_producer>(demands.self()));
  const pid k = start(rt, std::make_unique<recording_consumer>(batches.self()));
  REQUIRE(subscribe(rt, k, p, demand_bounds(c.max, c.min)));
  for (auto& expected : c.batches) {
    auto seen = batches.receive<batch_seen>();
    REQUIRE(seen);
    CHECK(seen->events == expected);
  }
  for (auto expected : c.asks) {
    auto seen = demands.receive<demand_seen>();
    REQUIRE(seen);
    CHECK(seen->demand == expected);
  }
}

}  // namespace

TEST_SUITE("stage_demand") {
  TEST_CASE("max 1000 / default min: batches of 500, asks 1000 then 500 each time") {
    check_arithmetic({1000, std::nullopt, {iota(0, 500), iota(500, 1000), iota(1000, 1500)}, {1000, 500, 500}});
  }
  TEST_CASE("max 100 / min 80: batches of 20, asks 100 then 20") {
    check_arithmetic({100, 80, {iota(0, 20), iota(20, 40), iota(40, 60)}, {100, 20, 20, 20}});
  }
  TEST_CASE("max 100 / min 20: batches of 80 and 20, asks alternate 100 and 80") {
    check_arithmetic({100, 20, {iota(0, 80), iota(80, 100), iota(100, 180), iota(180, 260), iota(260, 280)},
                      {100, 80, 100, 80}});
  }
  TEST_CASE("max 10 / min 5: batches of 5, asks 10 then 5") {
    check_arithmetic({10, 5, {iota(0, 5), iota(5, 10), iota(10, 15)}, {10, 5, 5}});
  }
  TEST_CASE("max 3 / default min 1: batches of 2 and 1, asks 3, 2, 3, 2") {
    check_arithmetic({3, std::nullopt, {{0, 1}, {2}, {3, 4}, {5, 6}, {7}}, {3, 2, 3, 2}});
  }
  TEST_CASE("max 1 / min 0: one event at a time, asks of 1") {
    check_arithmetic({1, 0, {{0}, {1}, {2}}, {1, 1, 1}});
  }

  TEST_CASE("min_demand must be below max_demand, and max_demand at least 1") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto r = subscribe(rt, k, p, demand_bounds(10, 10));
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::other("bad_opts: expected min_demand to be equal to or less than 9, got: 10"));
    r = subscribe(rt, k, p, demand_bounds(0));
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::other("bad_opts: expected max_demand to be equal to or greater than 1, got: 0"));
    CHECK(rt.is_alive(k));  // a refused subscribe leaves the consumer running
  }

  TEST_CASE("async_subscribe refuses bad options at the call and never disturbs the consumer") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    CHECK_THROWS_WITH_AS(async_subscribe(rt, k, p, demand_bounds(10, 10)),
                         "sluice: async_subscribe: bad_opts: expected min_demand to be equal to or less than 9, got: 10",
                         std::invalid_argument);
    // Such a request reaching the consumer anyway is dropped, and the consumer runs on.
    rt.send(k, detail::stage_async_subscribe{{p, demand_bounds(0)}});
    async_subscribe(rt, k, p, demand_bounds(4, 0));  // handled after it, so the consumer is alive
    auto b = out.receive<batch_seen>();
    REQUIRE(b);
    CHECK(b->events == std::vector<int>{0, 1, 2, 3});
    CHECK(rt.is_alive(k));
  }

  TEST_CASE("manual demand: nothing is asked until ask, and one ask arrives as one batch") {
    class asker final : public consumer<int> {
     public:
      explicit asker(pid report) : report_(report) {}
      demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref from,
                                   stage_context<no_events>& ctx) override {
        ctx.process().send(report_, from);
        return demand_kind::manual;
      }
      void handle_events(std::span<int> events, subscription_ref from, stage_context<no_events>& ctx) override {
        ctx.process().send(report_, batch_seen{from, std::vector<int>(events.begin(), events.end())});
      }
      void handle_info(message& m, stage_context<no_events>& ctx) override {
        if (auto* a = m.get_if<std::pair<subscription_ref, std::size_t>>()) ctx.ask(a->first, a->second);
      }
      pid report_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    probe demands(rt);
    const pid p = start(rt, std::make_unique<counting_producer>(demands.self()));
    const pid k = start(rt, std::make_unique<asker>(out.self()));
    REQUIRE(subscribe(rt, k, p, demand_bounds(10)));
    auto from = out.receive<subscription_ref>();
    REQUIRE(from);
    // No demand yet: prove it by a round trip through the producer before asking.
    CHECK(estimate_buffered_count(rt, p) == 0u);
    CHECK(demands.pending() == 0);
    rt.send(k, std::pair<subscription_ref, std::size_t>{*from, 100});
    auto b = out.receive<batch_seen>();
    REQUIRE(b);
    CHECK(b->events == iota(0, 100));  // one batch, though max_demand is 10
    CHECK(demands.receive<demand_seen>()->demand == 100);
  }

  TEST_CASE("a producer that emits more than asked buffers the rest and serves later asks from it") {
    class doubler final : public producer<int> {
     public:
      explicit doubler(pid report) : report_(report) {}
      void handle_demand(std::size_t demand, stage_context<int>& ctx) override {
        ctx.process().send(report_, demand_seen{demand});
        for (std::size_t i = 0; i < 2 * demand; ++i) ctx.emit(next_++);
      }
      pid report_;
      int next_ = 0;
    };
    runtime rt({.threads = 2});
    probe demands(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<doubler>(demands.self()));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, k, p, demand_bounds(10, 5)));
    for (int i = 0; i < 6; ++i) CHECK(out.receive<batch_seen>()->events == iota(5 * i, 5 * i + 5));
    // 10 asked, 20 emitted: the next two asks of 5 come from the buffer without handle_demand.
    CHECK(demands.receive<demand_seen>()->demand == 10);
    CHECK(demands.receive<demand_seen>()->demand == 5);
  }

  TEST_CASE("a producer that emits fewer than asked sends later events against the remaining demand") {
    class on_call final : public producer<int> {
     public:
      explicit on_call(pid report) : report_(report) {}
      void handle_demand(std::size_t demand, stage_context<int>& ctx) override {
        ctx.process().send(report_, demand_seen{demand});
      }
      void handle_info(message& m, stage_context<int>& ctx) override {
        if (auto* n = m.get_if<int>()) {
          for (int i = 0; i < *n; ++i) ctx.emit(next_++);
        }
      }
      pid report_;
      int next_ = 1;
    };
    runtime rt({.threads = 2});
    probe demands(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<on_call>(demands.self()));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, k, p, demand_bounds(10, 5)));
    CHECK(demands.receive<demand_seen>()->demand == 10);
    rt.send(p, 15);  // 15 events pushed at once: 10 go out, 5 wait in the buffer
    CHECK(out.receive<batch_seen>()->events == iota(1, 6));
    CHECK(out.receive<batch_seen>()->events == iota(6, 11));
    CHECK(out.receive<batch_seen>()->events == iota(11, 16));
    CHECK(demands.receive<demand_seen>()->demand == 5);
  }

  TEST_CASE("a consumer with several producers asks each for its own max_demand and keeps order per producer") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid a = start(rt, std::make_unique<counting_producer>(pid{}, 300));
    const pid b = start(rt, std::make_unique<counting_producer>(pid{}, 300));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto opts = demand_bounds(10);
    opts.cancel = cancel_mode::transient;  // the first producer to finish must not end the consumer
    auto ra = subscribe(rt, k, a, opts);
    auto rb = subscribe(rt, k, b, opts);
    REQUIRE(ra);
    REQUIRE(rb);
    std::map<std::uint64_t, int> next;
    int total = 0;
    while (total < 600) {
      auto seen = out.receive<batch_seen>();
      REQUIRE(seen);
      CHECK(seen->events.size() <= 5u);
      for (int v : seen->events) CHECK(v == next[seen->from.id]++);
      total += static_cast<int>(seen->events.size());
    }
    CHECK(next[ra.ref->id] == 300);
    CHECK(next[rb.ref->id] == 300);
  }

  TEST_CASE("accumulate holds demand and events until forward, then replays each demand on its own") {
    runtime rt({.threads = 2});
    probe demands(rt);
    probe out(rt);
    stage_options<int> o;
    o.demand = demand_mode::accumulate;
    const pid p = start(rt, std::make_unique<counting_producer>(demands.self()), std::move(o));
    const pid k1 = start(rt, std::make_unique<recording_consumer>(out.self()));
    const pid k2 = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, k1, p, demand_bounds(4, 0)));
    REQUIRE(subscribe(rt, k2, p, demand_bounds(4, 0)));
    CHECK(demand(rt, p) == demand_mode::accumulate);
    CHECK(demands.pending() == 0);  // the asks reached the producer (subscribe waited), nothing ran
    demand(rt, p, demand_mode::forward);
    CHECK(demands.receive<demand_seen>()->demand == 4);  // not summed into 8
    CHECK(demands.receive<demand_seen>()->demand == 4);
    CHECK(demand(rt, p) == demand_mode::forward);
  }

  TEST_CASE("after accumulate, events emitted while holding go before those made for the held demand") {
    struct emit_from {
      int first;
    };
    /// Emits 0, 1, 2, ... on demand; emits first, first + 1, first + 2 on emit_from.
    class mixed final : public producer<int> {
     public:
      void handle_demand(std::size_t demand, stage_context<int>& ctx) override {
        for (std::size_t i = 0; i < demand; ++i) ctx.emit(next_++);
      }
      void handle_info(message& m, stage_context<int>& ctx) override {
        if (auto* e = m.get_if<emit_from>()) {
          for (int i = 0; i < 3; ++i) ctx.emit(e->first + i);
        }
      }

     private:
      int next_ = 0;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    stage_options<int> o;
    o.demand = demand_mode::accumulate;
    const pid p = start(rt, std::make_unique<mixed>(), std::move(o));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, k, p, demand_bounds(10, 0)));  // its ask of 10 is held
    rt.send(p, emit_from{100});                          // 100, 101, 102: held too
    demand(rt, p, demand_mode::forward);
    std::vector<int> got;
    while (got.size() < 13) {
      auto b = out.receive<batch_seen>();
      REQUIRE(b);
      got.insert(got.end(), b->events.begin(), b->events.end());
    }
    CHECK(std::vector<int>(got.begin(), got.begin() + 13) == std::vector<int>{100, 101, 102, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }

  TEST_CASE("under accumulate, stop_after_dispatch and drain wait for the events held back") {
    struct emit_three {
      bool then_stop;
    };
    /// Emits 0, 1, 2 from handle_info (not on demand), then maybe asks to stop after dispatch.
    class pushing final : public producer<int> {
     public:
      void handle_demand(std::size_t, stage_context<int>&) override {}
      void handle_info(message& m, stage_context<int>& ctx) override {
        if (auto* e = m.get_if<emit_three>()) {
          for (int i = 0; i < 3; ++i) ctx.emit(i);
          if (e->then_stop) ctx.stop_after_dispatch();
        }
      }
    };
    runtime rt({.threads = 2});
    probe out(rt);
    probe watcher(rt);
    stage_options<int> o;
    o.demand = demand_mode::accumulate;
    const pid p = start(rt, std::make_unique<pushing>(), std::move(o));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    const subscription_options temp = temporary(demand_bounds(10));
    REQUIRE(subscribe(rt, k, p, temp));
    watcher.watch(p);
    SUBCASE("stop_after_dispatch") { rt.send(p, emit_three{true}); }
    SUBCASE("drain") {
      rt.send(p, emit_three{false});
      drain(rt, p);
    }
    CHECK(demand(rt, p) == demand_mode::accumulate);  // alive, its events held
    demand(rt, p, demand_mode::forward);
    auto b = out.receive<batch_seen>();
    REQUIRE_MESSAGE(b, "the held events were lost");
    CHECK(b->events == std::vector<int>{0, 1, 2});
    auto reason = watcher.exit_of(p);
    REQUIRE(reason);
    CHECK(*reason == exit_reason::normal());
  }

  TEST_CASE("a producer_consumer stops asking upstream when its consumer stops asking") {
    class pass final : public producer_consumer<int, int> {
     public:
      void handle_events(std::span<int> events, subscription_ref, stage_context<int>& ctx) override {
        for (int v : events) ctx.emit(v);
      }
    };
    runtime rt({.threads = 2});
    probe demands(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>(demands.self()));
    const pid pc = start(rt, std::make_unique<pass>());
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self(), demand_kind::manual));
    REQUIRE(subscribe(rt, pc, p, demand_bounds(10, 5)));
    auto sub = subscribe(rt, k, pc, demand_bounds(10, 5));
    REQUIRE(sub);
    // The consumer never asks: the producer_consumer got 10 events, cannot pass them on, so it
    // handles none and asks for nothing more. The producer saw exactly one demand of 10.
    CHECK(demands.receive<demand_seen>()->demand == 10);
    CHECK(estimate_buffered_count(rt, pc) == 0u);
    CHECK(estimate_buffered_count(rt, p) == 0u);
    CHECK(demands.pending() == 0);
    CHECK(out.pending() == 0);
  }
}

namespace {

/// How passing_on passes its events on.
struct passing_setup {
  bool manual = false;      ///< asks its producer itself for what it got
  bool info_after = false;  ///< queues an async_info after emitting (which dispatches them first)
  bool later = false;       ///< keeps the events and emits them from handle_info, on a message to itself
};

/// Passes its events on, one by one, as `passing_setup` says.
class passing_on final : public producer_consumer<int, int> {
 public:
  explicit passing_on(passing_setup setup) : manual_(setup.manual), info_after_(setup.info_after), later_(setup.later) {}
  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<int>& ctx) override {
    if (peer != peer_kind::producer || !manual_) return demand_kind::automatic;
    ctx.ask(from, opts.max_demand);
    return demand_kind::manual;
  }
  void handle_events(std::span<int> events, subscription_ref from, stage_context<int>& ctx) override {
    if (manual_) ctx.ask(from, events.size());
    if (later_) {
      held_.insert(held_.end(), events.begin(), events.end());
      ctx.process().send(ctx.self(), std::string("emit"));
      return;
    }
    for (int v : events) ctx.emit(v);
    if (info_after_) ctx.async_info(0);
  }
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (!m.is<std::string>()) return;
    for (int v : held_) ctx.emit(v);
    held_.clear();
  }

 private:
  bool manual_;
  bool info_after_;
  bool later_;
  std::vector<int> held_;
};

/// A manual consumer that asks for `n` once, when it subscribes, and reports its batches.
class asking_once final : public consumer<int> {
 public:
  asking_once(pid report, std::size_t n) : report_(report), n_(n) {}
  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref from,
                               stage_context<no_events>& ctx) override {
    ctx.ask(from, n_);
    return demand_kind::manual;
  }
  void handle_events(std::span<int> events, subscription_ref from, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, batch_seen{from, std::vector<int>(events.begin(), events.end())});
  }

 private:
  pid report_;
  std::size_t n_;
};

}  // namespace

TEST_SUITE("stage_demand") {
  TEST_CASE("a producer_consumer's output counts against its consumer's demand however it emits") {
    passing_setup setup;
    SUBCASE("with manual demand upstream") { setup.manual = true; }
    SUBCASE("with an async_info after emitting") { setup.info_after = true; }
    SUBCASE("emitting from handle_info") { setup.later = true; }
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid pc = start(rt, std::make_unique<passing_on>(setup));
    const pid k = start(rt, std::make_unique<asking_once>(out.self(), 10));
    REQUIRE(subscribe(rt, k, pc, demand_bounds(10, 5)));
    REQUIRE(subscribe(rt, pc, p, demand_bounds(10, 5)));
    std::vector<int> got;
    while (got.size() < 10) {
      auto b = out.receive<batch_seen>();
      REQUIRE(b);
      got.insert(got.end(), b->events.begin(), b->events.end());
    }
    CHECK(got == iota(0, 10));
    // Whatever the producer_consumer asked for meanwhile has reached it by now: it must hold
    // those events unhandled, not handle them into its (unbounded) buffer.
    REQUIRE(estimate_buffered_count(rt, pc));
    REQUIRE(estimate_buffered_count(rt, p));
    CHECK(estimate_buffered_count(rt, pc) == 0u);
    CHECK(out.pending() == 0);
  }

  TEST_CASE("a manual consumer may ask from handle_subscribe") {
    class eager final : public consumer<int> {
     public:
      explicit eager(pid report) : report_(report) {}
      demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref from,
                                   stage_context<no_events>& ctx) override {
        ctx.ask(from, 3);
        return demand_kind::manual;
      }
      void handle_events(std::span<int> events, subscription_ref from, stage_context<no_events>& ctx) override {
        ctx.process().send(report_, batch_seen{from, std::vector<int>(events.begin(), events.end())});
      }
      pid report_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid k = start(rt, std::make_unique<eager>(out.self()));
    REQUIRE(subscribe(rt, k, p, demand_bounds(10)));
    CHECK(out.receive<batch_seen>()->events == std::vector<int>{0, 1, 2});
  }

  TEST_CASE("bad options in a stage's start subscriptions stop it with bad_opts") {
    /// Spawns through spawn_monitor, so the starter sees the stage's exit however early it comes.
    struct monitoring_spawner {
      context& self;
      pid spawn(std::unique_ptr<behaviour> b, spawn_options o) { return self.spawn_monitor(std::move(b), o).first; }
    };
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid starter = rt.spawn([p, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        stage_options<no_events> o;
        o.subscribe_to.push_back({p, demand_bounds(0)});
        monitoring_spawner where{self};
        start(where, std::make_unique<recording_consumer>(to), std::move(o));
      } else if (m.is<down>()) {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(starter, 1);
    auto d = out.receive<down>();
    REQUIRE(d);
    CHECK(d->reason == exit_reason::other("bad_opts: expected max_demand to be equal to or greater than 1, got: 0"));
  }
}
