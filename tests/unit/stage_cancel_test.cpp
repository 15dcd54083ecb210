// Cancel modes against each exit reason (GenStage.sync_subscribe/3, :cancel), explicit cancels, subscribing to a dead
// producer, event-type checks at subscribe time, and exit_after_last_producer against each end.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct cancel_seen {
  cancel_kind kind;
  exit_reason reason;
};

/// A consumer that reports handle_cancel and answers request<int> (proof of life).
class observer final : public consumer<int> {
 public:
  explicit observer(pid report) : report_(report) {}
  void handle_events(std::span<int>, subscription_ref, stage_context<no_events>&) override {}
  void handle_cancel(cancel_kind kind, const exit_reason& reason, subscription_ref,
                     stage_context<no_events>& ctx) override {
    ctx.process().send(report_, cancel_seen{kind, reason});
  }
  void handle_call(message& m, stage_context<no_events>&) override {
    if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
  }
  void handle_info(message& m, stage_context<no_events>& ctx) override {
    if (auto* c = m.get_if<std::pair<subscription_ref, exit_reason>>()) ctx.cancel(c->first, c->second);
  }

 private:
  pid report_;
};

/// A producer that emits nothing, reports its handle_cancel, and cancels every consumer it has
/// when sent an exit_reason.
class dismissing final : public producer<int> {
 public:
  explicit dismissing(pid report) : report_(report) {}
  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref from,
                               stage_context<int>&) override {
    consumers_.push_back(from);
    return demand_kind::automatic;
  }
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_cancel(cancel_kind kind, const exit_reason& reason, subscription_ref, stage_context<int>& ctx) override {
    ctx.process().send(report_, cancel_seen{kind, reason});
  }
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* r = m.get_if<exit_reason>()) {
      for (auto& c : consumers_) ctx.cancel(c, *r);
    }
  }

 private:
  pid report_;
  std::vector<subscription_ref> consumers_;
};

/// A producer that emits nothing and stops with the reason it is sent.
class stopper final : public producer<int> {
 public:
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* r = m.get_if<exit_reason>()) ctx.stop(*r);
  }
};

/// Subscribes an observer with `mode` to a stopper, makes the stopper exit with `reason` (`killed`:
/// by a kill signal), and returns the observer's exit reason, or nullopt if it is still alive.
std::optional<exit_reason> consumer_exit_after_producer_exit(cancel_mode mode, const exit_reason& reason) {
  runtime rt({.threads = 2});
  probe cancels(rt);
  probe watch(rt);
  const pid p = start(rt, std::make_unique<stopper>());
  const pid c = start(rt, std::make_unique<observer>(cancels.self()));
  subscription_options o;
  o.cancel = mode;
  REQUIRE(subscribe(rt, c, p, o));
  watch.watch(c);
  if (reason == exit_reason::killed()) {
    rt.exit(p, exit_reason::kill());
  } else {
    rt.send(p, reason);
  }
  auto seen = cancels.receive<cancel_seen>();  // handle_cancel runs first, in every case
  REQUIRE(seen);
  CHECK(seen->kind == cancel_kind::down);
  CHECK(seen->reason == reason);
  if (rt.call<int>(c, 1, patience).ok()) return std::nullopt;  // answered after the cancel: alive
  return watch.exit_of(c);
}

}  // namespace

TEST_SUITE("stage_cancel") {
  TEST_CASE("permanent: the consumer exits with the producer's reason, whatever it is") {
    for (const auto& r : {exit_reason::normal(), exit_reason::shutdown(), exit_reason::shutdown("x"),
                          exit_reason::error("boom"), exit_reason::killed()}) {
      CAPTURE(r);
      CHECK(consumer_exit_after_producer_exit(cancel_mode::permanent, r) == r);
    }
  }

  TEST_CASE("transient: the consumer survives normal and shutdown exits, and exits on others") {
    CHECK(consumer_exit_after_producer_exit(cancel_mode::transient, exit_reason::normal()) == std::nullopt);
    CHECK(consumer_exit_after_producer_exit(cancel_mode::transient, exit_reason::shutdown()) == std::nullopt);
    CHECK(consumer_exit_after_producer_exit(cancel_mode::transient, exit_reason::shutdown("x")) == std::nullopt);
    CHECK(consumer_exit_after_producer_exit(cancel_mode::transient, exit_reason::error("boom")) ==
          exit_reason::error("boom"));
  }

  TEST_CASE("temporary: the consumer survives every exit") {
    for (const auto& r : {exit_reason::normal(), exit_reason::shutdown("x"), exit_reason::error("boom")}) {
      CAPTURE(r);
      CHECK(consumer_exit_after_producer_exit(cancel_mode::temporary, r) == std::nullopt);
    }
  }

  TEST_CASE("a killed producer ends permanent and transient consumers with killed") {
    for (auto mode : {cancel_mode::permanent, cancel_mode::transient}) {
      CHECK(consumer_exit_after_producer_exit(mode, exit_reason::killed()) == exit_reason::killed());
    }
  }

  TEST_CASE("a permanent consumer that cancels its own subscription exits with that reason, even normal") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    probe watch(rt);
    const pid p = start(rt, std::make_unique<stopper>());
    const pid c = start(rt, std::make_unique<observer>(cancels.self()));
    auto sub = subscribe(rt, c, p);
    REQUIRE(sub);
    watch.watch(c);
    rt.send(c, std::pair<subscription_ref, exit_reason>{*sub.ref, exit_reason::normal()});
    auto seen = cancels.receive<cancel_seen>();
    REQUIRE(seen);
    CHECK(seen->kind == cancel_kind::cancel);
    CHECK(watch.exit_of(c) == exit_reason::normal());
    CHECK(rt.is_alive(p));  // the producer lives on
  }

  TEST_CASE("a producer that cancels its consumers ends permanent ones and keeps serving temporary ones") {
    runtime rt({.threads = 2});
    probe producer_side(rt);
    probe consumer_side(rt);
    probe watch(rt);
    const pid p = start(rt, std::make_unique<dismissing>(producer_side.self()));
    const pid permanent = start(rt, std::make_unique<observer>(consumer_side.self()));
    const pid temporary = start(rt, std::make_unique<observer>(consumer_side.self()));
    REQUIRE(subscribe(rt, permanent, p));
    subscription_options temp;
    temp.cancel = cancel_mode::temporary;
    REQUIRE(subscribe(rt, temporary, p, temp));
    watch.watch(permanent);
    rt.send(p, exit_reason::other("go_away"));
    for (int i = 0; i < 2; ++i) {  // both ends see an explicit cancel with the producer's reason
      auto mine = producer_side.receive<cancel_seen>();
      REQUIRE(mine);
      CHECK(mine->kind == cancel_kind::cancel);
      CHECK(mine->reason == exit_reason::other("go_away"));
      auto theirs = consumer_side.receive<cancel_seen>();
      REQUIRE(theirs);
      CHECK(theirs->kind == cancel_kind::cancel);
      CHECK(theirs->reason == exit_reason::other("go_away"));
    }
    CHECK(watch.exit_of(permanent) == exit_reason::other("go_away"));
    CHECK(rt.call<int>(temporary, 1, patience).ok());
    CHECK(rt.is_alive(p));
  }

  TEST_CASE("a temporary consumer that cancels stays alive and the producer can serve others") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    const pid c = start(rt, std::make_unique<observer>(cancels.self()));
    subscription_options o;
    o.cancel = cancel_mode::temporary;
    auto sub = subscribe(rt, c, p, o);
    REQUIRE(sub);
    cancel(rt, *sub.ref, exit_reason::shutdown());  // from outside, through the producer
    auto seen = cancels.receive<cancel_seen>();
    REQUIRE(seen);
    CHECK(seen->kind == cancel_kind::cancel);
    CHECK(seen->reason == exit_reason::shutdown());
    CHECK(rt.call<int>(c, 1, patience).ok());
    const pid other = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, other, p, demand_bounds(4, 0)));
    CHECK(out.receive<batch_seen>()->events.size() == 4u);
  }

  TEST_CASE("subscribing to a dead producer fails with noproc, and a permanent consumer exits noproc") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    probe watch(rt);
    const pid p = start(rt, std::make_unique<stopper>());
    watch.watch(p);
    rt.send(p, exit_reason::normal());
    REQUIRE(watch.exit_of(p));
    const pid c = start(rt, std::make_unique<observer>(cancels.self()));
    watch.watch(c);
    auto r = subscribe(rt, c, p);
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::noproc());
    CHECK(watch.exit_of(c) == exit_reason::noproc());
  }

  TEST_CASE("subscribing to a dead producer with temporary leaves the consumer alive") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    const pid c = start(rt, std::make_unique<observer>(cancels.self()));
    subscription_options o;
    o.cancel = cancel_mode::temporary;
    const pid dead = rt.spawn([](context& self, message&) { self.exit(exit_reason::normal()); });
    rt.send(dead, 0);
    REQUIRE(rt.await_exit(dead, patience));
    auto r = subscribe(rt, c, dead, o);
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::noproc());
    CHECK(rt.call<int>(c, 1, patience).ok());
  }

  TEST_CASE("a consumer cannot subscribe to a producer of another event type") {
    class strings final : public producer<std::string> {
     public:
      void handle_demand(std::size_t, stage_context<std::string>&) override {}
    };
    runtime rt({.threads = 2});
    probe cancels(rt);
    const pid p = start(rt, std::make_unique<strings>());
    const pid c = start(rt, std::make_unique<observer>(cancels.self()));
    subscription_options o;
    o.cancel = cancel_mode::temporary;
    auto r = subscribe(rt, c, p, o);
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::other("event_type_mismatch"));
  }

  TEST_CASE("subscribing to a consumer, or making a producer subscribe, is refused") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    const pid c1 = start(rt, std::make_unique<observer>(cancels.self()));
    const pid c2 = start(rt, std::make_unique<observer>(cancels.self()));
    const pid p = start(rt, std::make_unique<stopper>());
    subscription_options o;
    o.cancel = cancel_mode::temporary;
    auto r = subscribe(rt, c1, c2, o);
    REQUIRE_FALSE(r);
    CHECK(r.error == exit_reason::other("not_a_producer"));
    auto q = subscribe(rt, p, c1, o);
    REQUIRE_FALSE(q);
    CHECK(q.error == exit_reason::other("not_a_consumer"));
  }

  TEST_CASE("a producer_consumer handles a cancel only after the events it already received") {
    class pass final : public producer_consumer<int, int> {
     public:
      explicit pass(pid report) : report_(report) {}
      void handle_events(std::span<int> events, subscription_ref, stage_context<int>& ctx) override {
        for (int v : events) ctx.emit(v);
      }
      void handle_cancel(cancel_kind, const exit_reason& r, subscription_ref, stage_context<int>& ctx) override {
        ctx.process().send(report_, cancel_seen{cancel_kind::down, r});
      }
      pid report_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    probe cancels(rt);
    const pid p = start(rt, std::make_unique<counting_producer>(pid{}, 40));
    const pid pc = start(rt, std::make_unique<pass>(cancels.self()));
    const pid k = start(rt, std::make_unique<recording_consumer>(out.self()));
    subscription_options up = demand_bounds(100, 50);
    REQUIRE(subscribe(rt, pc, p, up));  // the producer sends its 40 events and stops normally
    REQUIRE(subscribe(rt, k, pc, demand_bounds(10, 5)));
    int total = 0;
    while (total < 40) {
      auto b = out.receive<batch_seen>();
      REQUIRE(b);
      total += static_cast<int>(b->events.size());
    }
    CHECK(total == 40);  // nothing lost although the cancel arrived before demand did
    CHECK(cancels.receive<cancel_seen>()->reason == exit_reason::normal());
  }

  /// A `stopper` producer and an `observer` consumer started with exit_after_last_producer,
  /// subscribed with cancel temporary; `watch` watches the consumer.
  struct last_producer_setup {
    runtime rt{{.threads = 2}};
    probe cancels{rt};
    probe watch{rt};
    pid p;
    pid c;
    last_producer_setup() {
      p = start(rt, std::make_unique<stopper>());
      stage_options<no_events> so;
      so.exit_after_last_producer = true;
      c = start(rt, std::make_unique<observer>(cancels.self()), std::move(so));
      REQUIRE(subscribe(rt, c, p, options()));
      watch.watch(c);
    }
    static subscription_options options() {
      subscription_options o;
      o.cancel = cancel_mode::temporary;
      return o;
    }
  };

  TEST_CASE("exit_after_last_producer: a last producer that ended normally ends the consumer at once") {
    last_producer_setup s;
    auto& [rt, cancels, watch, p, c] = s;
    rt.send(p, exit_reason::normal());
    CHECK(watch.exit_of(c) == exit_reason::normal());
  }

  TEST_CASE("exit_after_last_producer: after a crashed last producer the consumer waits for producers_done") {
    last_producer_setup s;
    auto& [rt, cancels, watch, p, c] = s;
    rt.send(p, exit_reason::error("boom"));
    auto seen = cancels.receive<cancel_seen>();
    REQUIRE(seen);
    CHECK(seen->reason == exit_reason::error("boom"));
    CHECK(rt.call<int>(c, 1, patience).ok());  // answered after the cancel: still waiting
    // A replacement producer may come and go; the consumer finishes only once told.
    const pid again = start(rt, std::make_unique<stopper>());
    REQUIRE(subscribe(rt, c, again, s.options()));
    rt.send(again, exit_reason::normal());
    CHECK(cancels.receive<cancel_seen>()->reason == exit_reason::normal());
    CHECK(rt.call<int>(c, 1, patience).ok());
    producers_done(rt, c);
    CHECK(watch.exit_of(c) == exit_reason::normal());
  }

  TEST_CASE("producers_done ends a consumer with no producer left, and one whose last producer ends later") {
    runtime rt({.threads = 2});
    probe cancels(rt);
    probe watch(rt);
    stage_options<no_events> so;
    so.exit_after_last_producer = true;
    const pid idle = start(rt, std::make_unique<observer>(cancels.self()), std::move(so));
    watch.watch(idle);
    producers_done(rt, idle);
    CHECK(watch.exit_of(idle) == exit_reason::normal());

    stage_options<no_events> so2;
    so2.exit_after_last_producer = true;
    const pid c = start(rt, std::make_unique<observer>(cancels.self()), std::move(so2));
    const pid p = start(rt, std::make_unique<stopper>());
    subscription_options o;
    o.cancel = cancel_mode::temporary;
    REQUIRE(subscribe(rt, c, p, o));
    watch.watch(c);
    producers_done(rt, c);
    CHECK(rt.call<int>(c, 1, patience).ok());  // its producer still runs
    rt.send(p, exit_reason::error("late"));
    CHECK(watch.exit_of(c) == exit_reason::normal());
  }
}
