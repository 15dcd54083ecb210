// GenStage parity (issue 14): behaviours where sluice differed from GenStage 1.3 without meaning to.
// Each case is GenStage's observable behaviour in the same situation.
#include <doctest/doctest.h>

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct push {
  std::vector<int> events;
};
struct mark {
  int n;
};
struct info_seen {
  std::string text;
};
struct subscribe_seen {
  subscription_ref from;
};
struct cancel_seen {
  cancel_kind kind;
  exit_reason reason;
};
struct events_seen {
  std::vector<int> events;
};

/// Emits what it is pushed (push{...}); reports each handle_demand amount, each info (a
/// std::string), each handle_subscribe and handle_cancel, and echoes mark{n} to `report`.
class pushed_producer final : public producer<int> {
 public:
  explicit pushed_producer(pid report) : report_(report) {}
  void handle_demand(std::size_t n, stage_context<int>& ctx) override { ctx.process().send(report_, demand_seen{n}); }
  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref from,
                               stage_context<int>& ctx) override {
    ctx.process().send(report_, subscribe_seen{from});
    return demand_kind::automatic;
  }
  void handle_cancel(cancel_kind kind, const exit_reason& reason, subscription_ref, stage_context<int>& ctx) override {
    ctx.process().send(report_, cancel_seen{kind, reason});
  }
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* p = m.get_if<push>()) {
      ctx.emit(std::move(p->events));
    } else if (auto* s = m.get_if<std::string>()) {
      ctx.process().send(report_, info_seen{*s});
    } else if (auto* k = m.get_if<mark>()) {
      ctx.process().send(report_, *k);
    }
  }
  void handle_call(message& m, stage_context<int>& ctx) override {
    if (auto* r = m.get_if<request<push>>()) {
      ctx.emit(std::move(r->body.events));
      ctx.reply(r->from, true);
    }
  }

 private:
  pid report_;
};

/// Pushes events into a pushed_producer and returns once they were emitted (and dispatched or buffered).
void push_now(runtime& rt, pid p, std::vector<int> events) {
  REQUIRE(rt.call<bool>(p, push{std::move(events)}, patience).ok());
}

/// Returns once every message `p` had in its mailbox before this call (and what they made it send
/// itself) was handled: two rounds of mark through `report`.
void settle(runtime& rt, pid p, probe& report) {
  for (int n = 1; n <= 2; ++n) {
    rt.send(p, mark{n});
    auto m = report.receive<mark>();
    REQUIRE_MESSAGE(m, "expected mark " << n << " first");
    CHECK(m->n == n);
  }
}

/// Passes events on; reports each handle_events batch and each handle_cancel to `report`.
class recording_pc final : public producer_consumer<int, int> {
 public:
  explicit recording_pc(pid report) : report_(report) {}
  void handle_events(std::span<int> events, subscription_ref, stage_context<int>& ctx) override {
    ctx.process().send(report_, events_seen{std::vector<int>(events.begin(), events.end())});
    for (int v : events) ctx.emit(v);
  }
  void handle_cancel(cancel_kind kind, const exit_reason& reason, subscription_ref, stage_context<int>& ctx) override {
    ctx.process().send(report_, cancel_seen{kind, reason});
  }

 private:
  pid report_;
};

stage_options<int> broadcast() {
  stage_options<int> o;
  o.dispatcher = std::make_unique<broadcast_dispatcher<int>>();
  return o;
}

}  // namespace

TEST_SUITE("parity") {
  TEST_CASE("1. broadcast: buffered events serve a new consumer's first ask once (handle_demand(7), not 7 then 3)") {
    runtime rt({.threads = 2});
    probe report(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed_producer>(report.self()), broadcast());
    push_now(rt, p, {1, 2, 3});  // no consumer yet: buffered
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, c, p, demand_bounds(10)));
    REQUIRE(report.receive<subscribe_seen>());
    auto d = report.receive<demand_seen>();
    REQUIRE(d);
    CHECK(d->demand == 7u);
    settle(rt, p, report);  // a second handle_demand (of 3) would come before the marks
    CHECK(out.receive<batch_seen>()->events == std::vector<int>{1, 2, 3});
  }

  TEST_CASE("2. a buffer drain stops at an info: [1,2,3], the info, then [7,8]") {
    runtime rt({.threads = 2});
    probe report(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed_producer>(report.self()));
    push_now(rt, p, {1, 2, 3});
    REQUIRE(sync_info(rt, p, std::string("between")));
    push_now(rt, p, {7, 8});
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self(), demand_kind::manual));
    auto sub = subscribe(rt, c, p, demand_bounds(10));
    REQUIRE(sub);
    REQUIRE(report.receive<subscribe_seen>());
    rt.send(p, detail::stage_ask{c, sub.ref->id, 5});  // the consumer's ask, as its own process would send it
    CHECK(out.receive<batch_seen>()->events == std::vector<int>{1, 2, 3});
    CHECK(out.receive<batch_seen>()->events == std::vector<int>{7, 8});
    CHECK(report.receive<info_seen>()->text == "between");
  }

  TEST_CASE("3. a producer_consumer runs handle_cancel only after the input queued ahead of the cancel") {
    runtime rt({.threads = 2});
    probe report(rt);
    probe pc_report(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed_producer>(report.self()));
    const pid pc = start(rt, std::make_unique<recording_pc>(pc_report.self()));
    auto up = subscribe(rt, pc, p, temporary(demand_bounds(10)));
    REQUIRE(up);
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self(), demand_kind::manual));
    auto down = subscribe(rt, c, pc, demand_bounds(10));
    REQUIRE(down);
    REQUIRE(report.receive<subscribe_seen>());
    REQUIRE(report.receive<demand_seen>());  // the producer_consumer asked 10
    push_now(rt, p, {1, 2, 3, 4});  // no downstream demand: queued in the producer_consumer
    push_now(rt, p, {5, 6, 7, 8});
    cancel(rt, *up.ref, exit_reason::other("bye"));  // the producer ends it: the cancel comes behind the events
    REQUIRE(report.receive<cancel_seen>());          // the producer has sent it
    rt.send(pc, detail::stage_ask{c, down.ref->id, 3});
    auto first = pc_report.receive<events_seen>();
    REQUIRE(first);
    CHECK(first->events == std::vector<int>{1, 2, 3, 4});
    rt.send(pc, detail::stage_ask{c, down.ref->id, 10});
    auto second = pc_report.receive<events_seen>();
    REQUIRE_MESSAGE(second, "handle_cancel ran before the second queued batch");
    CHECK(second->events == std::vector<int>{5, 6, 7, 8});
    auto cancelled = pc_report.receive<cancel_seen>();
    REQUIRE(cancelled);
    CHECK(cancelled->reason == exit_reason::other("bye"));
  }

  TEST_CASE("4. a refused subscription runs handle_cancel on the producer (broadcast: the same consumer twice)") {
    runtime rt({.threads = 2});
    probe report(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed_producer>(report.self()), broadcast());
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, c, p));
    auto again = subscribe(rt, c, p);
    REQUIRE_FALSE(again);
    CHECK(again.error == exit_reason::other("already_subscribed"));
    REQUIRE(report.receive<subscribe_seen>());
    REQUIRE(report.receive<demand_seen>());
    REQUIRE(report.receive<subscribe_seen>());  // the refused one was seen by handle_subscribe...
    auto cancelled = report.receive<cancel_seen>();  // ... and is ended by handle_cancel
    REQUIRE(cancelled);
    CHECK(cancelled->kind == cancel_kind::cancel);
    CHECK(cancelled->reason == exit_reason::other("already_subscribed"));
    CHECK(rt.is_alive(c));  // the consumer keeps its first subscription
  }

  TEST_CASE("6. demand: accumulate on a producer_consumer is refused at start (bad_opts), as on any non-producer") {
    runtime rt({.threads = 2});
    probe report(rt);
    stage_options<int> o;
    o.demand = demand_mode::accumulate;
    CHECK_THROWS_AS((void)start(rt, std::make_unique<recording_pc>(report.self()), std::move(o)), std::invalid_argument);
    stage_options<int> zero;
    zero.buffer_size = 0;  // a buffer of 0 holds nothing: GenStage's init crashes on it
    CHECK_THROWS_AS((void)start(rt, std::make_unique<pushed_producer>(report.self()), std::move(zero)), std::invalid_argument);
  }
}
