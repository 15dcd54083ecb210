// Bridges: from_range (a producer over a range or generator) and stage_stream (a pull iterator).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::patience;
using sluice::testing::probe;

namespace {

struct demand_seen {
  std::size_t n;
};
struct cancelled {};

/// Collects what it receives and reports it when it exits.
class collector final : public consumer<int> {
 public:
  explicit collector(pid report) : report_(report) {}
  void handle_events(std::span<int> events, subscription_ref, stage_context<no_events>&) override {
    got_.insert(got_.end(), events.begin(), events.end());
  }
  void terminate(const exit_reason&, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, std::move(got_));
  }

 private:
  pid report_;
  std::vector<int> got_;
};

/// Emits consecutive ints forever (or `limit` of them, then stops with `end`); reports every
/// demand, and the cancel of a subscription.
class numbers final : public producer<int> {
 public:
  explicit numbers(pid report, int limit = -1, exit_reason end = exit_reason::normal())
      : report_(report), limit_(limit), end_(std::move(end)) {}
  void handle_demand(std::size_t n, stage_context<int>& ctx) override {
    ctx.process().send(report_, demand_seen{n});
    for (std::size_t i = 0; i < n && next_ != limit_; ++i) ctx.emit(next_++);
    if (next_ == limit_) ctx.stop_after_dispatch(end_);
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref, stage_context<int>& ctx) override {
    ctx.process().send(report_, cancelled{});
  }

 private:
  pid report_;
  int limit_;
  exit_reason end_;
  int next_ = 0;
};

subscription_options demand_of(std::size_t max, std::size_t min, cancel_mode cancel = cancel_mode::permanent) {
  subscription_options o;
  o.max_demand = max;
  o.min_demand = min;
  o.cancel = cancel;
  return o;
}

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

/// Waits (yielding, up to `patience`) for a racy observer to settle: a process sends its downs a
/// moment before the runtime stops counting it in size_hint.
template <class P>
bool eventually(P&& pred) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_SUITE("bridges") {
  TEST_CASE("from_range over a vector delivers everything in order, then both stages exit normally") {
    runtime rt({.threads = 2});
    probe out(rt), watcher(rt);
    const pid p = start_from_range(rt, iota(1000));
    const pid c = start(rt, std::make_unique<collector>(out.self()));
    watcher.watch(p);
    watcher.watch(c);
    REQUIRE(subscribe(rt, c, p, demand_of(10, 5)));  // permanent: exits with the producer's reason
    CHECK(watcher.exit_of(p) == exit_reason::normal());
    CHECK(watcher.exit_of(c) == exit_reason::normal());
    auto got = out.receive<std::vector<int>>();
    REQUIRE(got);
    CHECK(*got == iota(1000));
  }

  TEST_CASE("from_range over a generator function pulls only the demand and delivers in order") {
    runtime rt({.threads = 2});
    probe out(rt), watcher(rt);
    auto pulls = std::make_shared<std::atomic<int>>(0);
    const pid p = start_from_range(rt, [pulls, i = 0]() mutable -> std::optional<int> {
      pulls->fetch_add(1, std::memory_order_relaxed);
      if (i == 500) return std::nullopt;
      return i++;
    });
    const pid c = start(rt, std::make_unique<collector>(out.self()));
    watcher.watch(p);
    watcher.watch(c);
    REQUIRE(subscribe(rt, c, p, demand_of(10, 5)));
    CHECK(watcher.exit_of(p) == exit_reason::normal());
    CHECK(watcher.exit_of(c) == exit_reason::normal());
    auto got = out.receive<std::vector<int>>();
    REQUIRE(got);
    CHECK(*got == iota(500));
    CHECK(pulls->load() == 501);  // every item, and the one pull that found the end
  }

  TEST_CASE("a transient consumer outlives a from_range that ran out") {
    runtime rt({.threads = 2});
    probe out(rt), watcher(rt);
    const pid p = start_from_range(rt, iota(20));
    const pid c = start(rt, std::make_unique<collector>(out.self()));
    watcher.watch(p);
    REQUIRE(subscribe(rt, c, p, demand_of(10, 5, cancel_mode::transient)));
    CHECK(watcher.exit_of(p) == exit_reason::normal());
    CHECK(rt.is_alive(c));
    rt.exit(c, exit_reason::shutdown());
    auto got = out.receive<std::vector<int>>();
    REQUIRE(got);
    CHECK(*got == iota(20));
  }

  TEST_CASE("move-only events travel from a range through a stream without copies") {
    runtime rt({.threads = 2});
    std::vector<std::unique_ptr<int>> items;
    for (int i = 0; i < 100; ++i) items.push_back(std::make_unique<int>(i));
    const pid p = start_from_range(rt, std::move(items));
    stage_stream<std::unique_ptr<int>> stream(rt, {{p, demand_of(8, 4)}});
    int expected = 0;
    for (auto& v : stream) CHECK(*v == expected++);
    CHECK(expected == 100);
  }

  TEST_CASE("a stream reads every event of a finite producer in order, then ends") {
    runtime rt({.threads = 2});
    probe watcher(rt);
    const pid p = start_from_range(rt, iota(10000));
    watcher.watch(p);
    stage_stream<int> stream(rt, {{p, demand_of(100, 50)}});
    std::vector<int> got;
    for (int v : stream) got.push_back(v);
    CHECK(got == iota(10000));
    CHECK(stream.done());
    CHECK(watcher.exit_of(p) == exit_reason::normal());
  }

  TEST_CASE("taking 10 events of an endless producer and dropping the stream leaves nothing behind") {
    runtime rt({.threads = 2});
    probe demands(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    const std::size_t before = rt.size_hint();
    constexpr std::size_t max = 4;
    pid consumer;
    {
      stage_stream<int> stream(rt, {{p, demand_of(max, 2)}});
      consumer = stream.consumer();
      watcher.watch(consumer);
      for (int i = 0; i < 10; ++i) CHECK(stream.next(patience) == i);
    }
    CHECK(watcher.exit_of(consumer) == exit_reason::normal());
    CHECK(eventually([&] { return rt.size_hint() == before; }));
    CHECK(rt.is_alive(p));

    // Everything the producer was asked for, up to the cancel: at most what was taken plus one
    // max_demand in flight.
    std::size_t asked = 0;
    for (;;) {
      message m = demands.next();
      REQUIRE_FALSE(m.empty());
      if (m.is<cancelled>()) break;
      if (auto* d = m.get_if<demand_seen>()) asked += d->n;
    }
    CHECK(asked >= 10);
    CHECK(asked <= 10 + max);
  }

  TEST_CASE("the stream holds back: an unread stream keeps at most max_demand in flight") {
    runtime rt({.threads = 2});
    probe demands(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    stage_stream<int> stream(rt, {{p, demand_of(10, 5)}});
    CHECK(demands.receive<demand_seen>()->n == 10);
    for (int i = 0; i < 4; ++i) CHECK(stream.next(patience) == i);
    CHECK(demands.pending() == 0);  // 6 in flight, above min: no ask yet
    CHECK(stream.next(patience) == 4);
    CHECK(demands.receive<demand_seen>()->n == 5);  // 5 left, at min: ask max - 5
  }

  TEST_CASE("an abnormal producer exit surfaces from the iterator as stream_error") {
    runtime rt({.threads = 2});
    probe demands(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self(), 5, exit_reason::other("boom")));
    stage_stream<int> stream(rt, {{p, demand_of(10, 5)}});
    std::vector<int> got;
    try {
      for (int v : stream) got.push_back(v);
      FAIL("the stream ended without an error");
    } catch (const stream_error& e) {
      CHECK(e.reason() == exit_reason::other("boom"));
    }
    CHECK(got == iota(5));  // the events sent before the exit come first
  }

  TEST_CASE("with transient subscriptions the stream ends when every producer has ended") {
    runtime rt({.threads = 2});
    const pid a = start_from_range(rt, iota(300));
    const pid b = start_from_range(rt, iota(200));
    stage_stream<int> stream(rt, {{a, demand_of(16, 8, cancel_mode::transient)},
                                  {b, demand_of(16, 8, cancel_mode::transient)}});
    std::size_t n = 0;
    for (int v : stream) {
      (void)v;
      ++n;
    }
    CHECK(n == 500);
  }

  TEST_CASE("a temporary subscription to a dead producer makes an empty stream; a permanent one throws noproc") {
    runtime rt({.threads = 2});
    probe watcher(rt);
    const pid p = start_from_range(rt, iota(1));
    watcher.watch(p);
    rt.exit(p, exit_reason::kill());
    REQUIRE(watcher.exit_of(p));
    {
      stage_stream<int> stream(rt, {{p, demand_of(10, 5, cancel_mode::temporary)}});
      CHECK(stream.begin() == stream.end());
    }
    stage_stream<int> stream(rt, {{p, demand_of(10, 5)}});
    try {
      (void)stream.next();
      FAIL("no error");
    } catch (const stream_error& e) {
      CHECK(e.reason() == exit_reason::noproc());
    }
  }

  TEST_CASE("bad subscription options are refused when the stream is built") {
    runtime rt({.threads = 2});
    probe demands(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    const std::size_t before = rt.size_hint();
    CHECK_THROWS_AS(stage_stream<int>(rt, {{p, demand_of(0, 0)}}), std::invalid_argument);
    CHECK_THROWS_AS(stage_stream<int>(rt, {{p, demand_of(5, 5)}}), std::invalid_argument);
    CHECK(rt.size_hint() == before);  // nothing was spawned
  }

  TEST_CASE("next(timeout) returns nothing in time from a silent producer; a non-producer ends a temporary stream") {
    runtime rt({.threads = 2});
    probe demands(rt);
    const pid silent = start(rt, std::make_unique<numbers>(demands.self(), 0));  // stops at its first demand
    demand(rt, silent, demand_mode::accumulate);  // ...which it never sees while accumulating
    stream_options accumulate;
    accumulate.demand = demand_mode::accumulate;
    stage_stream<int> quiet(rt, {{silent, demand_of(10, 5)}}, accumulate);
    CHECK_FALSE(quiet.next(20ms).has_value());
    CHECK_FALSE(quiet.done());

    const pid not_a_producer = start(rt, std::make_unique<collector>(demands.self()));
    stage_stream<int> stream(rt, {{not_a_producer, demand_of(10, 5, cancel_mode::temporary)}});
    CHECK_FALSE(stream.next(patience).has_value());
    CHECK(stream.done());
  }
}
