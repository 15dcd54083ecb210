// GenStage parity (issue 14): the API a GenStage user reaches for. Each case uses it as documented.
#include <doctest/doctest.h>

#include <any>
#include <chrono>
#include <memory>
#include <optional>
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

struct option_seen {
  int value;
};
struct terminated {
  exit_reason reason;
};
struct info_seen {
  std::string text;
};

/// A producer of nothing that reports its custom subscription option "interval" (an int) and its
/// terminate; its init does what `decide` says.
class configurable final : public producer<int> {
 public:
  enum class decide { run, ignore, stop };
  explicit configurable(pid report, decide d = decide::run) : report_(report), decide_(d) {}
  void init(stage_context<int>& ctx) override {
    if (decide_ == decide::ignore) ctx.ignore();
    if (decide_ == decide::stop) ctx.stop(exit_reason::other("not today"));
  }
  void handle_demand(std::size_t, stage_context<int>&) override {}
  demand_kind handle_subscribe(peer_kind, const subscription_options& o, subscription_ref, stage_context<int>& ctx) override {
    if (auto it = o.custom.find("interval"); it != o.custom.end()) {
      ctx.process().send(report_, option_seen{std::any_cast<int>(it->second)});
    }
    return demand_kind::automatic;
  }
  void terminate(const exit_reason& reason, stage_context<int>& ctx) override {
    ctx.process().send(report_, terminated{reason});
  }

 private:
  pid report_;
  decide decide_;
};

/// A consumer that reports the infos it handles (std::string) and anything else as "other".
class info_consumer final : public consumer<int> {
 public:
  explicit info_consumer(pid report) : report_(report) {}
  void handle_events(std::span<int>, subscription_ref, stage_context<no_events>&) override {}
  void handle_info(message& m, stage_context<no_events>& ctx) override {
    auto* s = m.get_if<std::string>();
    ctx.process().send(report_, info_seen{s != nullptr ? *s : std::string("other")});
  }

 private:
  pid report_;
};

/// A child that runs until told to stop.
pid idle_child(context& sup, int) {
  return sup.spawn_link([](context&, message&) {});
}

}  // namespace

TEST_SUITE("parity_api") {
  TEST_CASE("demand_dispatcher max_demand: a subscription asking for more is refused with bad_opts") {
    runtime rt({.threads = 2});
    probe out(rt);
    stage_options<int> o;
    o.dispatcher = std::make_unique<demand_dispatcher<int>>(demand_dispatcher<int>::options{.max_demand = 5});
    const pid p = start(rt, std::make_unique<counting_producer>(), std::move(o));
    const pid greedy = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto refused = subscribe(rt, greedy, p, temporary(demand_bounds(10)));
    REQUIRE_FALSE(refused);
    CHECK(refused.error.to_string().find("bad_opts: expected max_demand to be equal to or less than 5") != std::string::npos);
    const pid modest = start(rt, std::make_unique<recording_consumer>(out.self()));
    CHECK(subscribe(rt, modest, p, demand_bounds(5)));
    CHECK(out.receive<batch_seen>()->events.size() <= 5u);
  }

  TEST_CASE("sync_start reports what init decided: started, ignored, stopped with a reason, bad_opts") {
    runtime rt({.threads = 2});
    probe report(rt);
    auto ok = sync_start(rt, std::make_unique<configurable>(report.self()));
    CHECK(ok.outcome == start_outcome::started);
    CHECK(rt.is_alive(ok.stage));
    auto ignored = sync_start(rt, std::make_unique<configurable>(report.self(), configurable::decide::ignore));
    CHECK(ignored.outcome == start_outcome::ignored);
    auto stopped = sync_start(rt, std::make_unique<configurable>(report.self(), configurable::decide::stop));
    CHECK(stopped.outcome == start_outcome::stopped);
    CHECK(stopped.reason == exit_reason::other("not today"));
    stage_options<int> bad;
    bad.demand = demand_mode::accumulate;
    class pass final : public producer_consumer<int, int> {
      void handle_events(std::span<int>, subscription_ref, stage_context<int>&) override {}
    };
    auto refused = sync_start(rt, std::make_unique<pass>(), std::move(bad));
    CHECK(refused.outcome == start_outcome::stopped);
    CHECK_FALSE(refused.stage.valid());
    CHECK(refused.reason.to_string().find("bad_opts") != std::string::npos);
  }

  TEST_CASE("stop(stage, reason, timeout): terminate runs, then the stage exits with the reason") {
    runtime rt({.threads = 2});
    probe report(rt);
    const pid p = start(rt, std::make_unique<configurable>(report.self()));
    CHECK(stop(rt, p, exit_reason::shutdown(), patience));
    CHECK(report.receive<terminated>()->reason == exit_reason::shutdown());
    CHECK_FALSE(stop(rt, p, exit_reason::normal(), patience));  // not alive any more
  }

  TEST_CASE("names: a stage started under a name; consumers subscribe to the name; a second start under it is refused") {
    runtime rt({.threads = 2});
    probe out(rt);
    stage_options<int> o;
    o.registered_name = "numbers";
    // sync_start: the name is registered when it returns (start returns at once, before the
    // stage's process has registered it, so a subscribe by name right after could find nobody).
    const start_result started = sync_start(rt, std::make_unique<counting_producer>(), std::move(o));
    REQUIRE(started);
    const pid p = started.stage;
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto sub = subscribe(rt, c, std::string("numbers"), demand_bounds(4));
    REQUIRE(sub);
    CHECK(sub.ref->peer == p);
    CHECK(out.receive<batch_seen>()->events == std::vector<int>{0, 1});
    stage_options<int> again;
    again.registered_name = "numbers";
    auto second = sync_start(rt, std::make_unique<counting_producer>(), std::move(again));
    CHECK(second.outcome == start_outcome::stopped);
    CHECK(second.reason == exit_reason::other("already_started " + p.to_string()));
  }

  TEST_CASE("names: an unregistered name is noproc; permanent stops the consumer with noproc, temporary does not") {
    runtime rt({.threads = 2});
    probe out(rt);
    probe watch(rt);
    const pid keeps = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto t = subscribe(rt, keeps, std::string("nobody"), temporary(demand_bounds(4)));
    REQUIRE_FALSE(t);
    CHECK(t.error == exit_reason::noproc());
    CHECK(rt.is_alive(keeps));
    const pid leaves = start(rt, std::make_unique<recording_consumer>(out.self()));
    watch.watch(leaves);
    auto p = subscribe(rt, leaves, std::string("nobody"), demand_bounds(4));
    REQUIRE_FALSE(p);
    CHECK(p.error == exit_reason::noproc());
    CHECK(watch.exit_of(leaves) == exit_reason::noproc());
    // At start: a permanent subscription to a missing name stops the stage before it runs.
    stage_options<no_events> so;
    so.subscribe_to.push_back(subscribe_to{pid{}, demand_bounds(4), "nobody"});
    auto r = sync_start(rt, std::make_unique<recording_consumer>(out.self()), std::move(so));
    CHECK(r.outcome == start_outcome::stopped);
    CHECK(r.reason == exit_reason::noproc());
  }

  TEST_CASE("resubscribe: the old subscription is cancelled (its cancel mode applies), a new one is made") {
    runtime rt({.threads = 2});
    probe out(rt);
    probe watch(rt);
    const pid p1 = start(rt, std::make_unique<counting_producer>(pid{}, 2));
    const pid p2 = start(rt, std::make_unique<counting_producer>());
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto old = subscribe(rt, c, p1, temporary(demand_bounds(4)));
    REQUIRE(old);
    CHECK(out.receive<batch_seen>()->from == *old.ref);
    auto fresh = resubscribe(rt, c, *old.ref, exit_reason::other("moving"), subscribe_to{p2, temporary(demand_bounds(4))});
    REQUIRE(fresh);
    CHECK(fresh.ref->peer == p2);
    CHECK(out.receive<batch_seen>()->from == *fresh.ref);
    // Leaving a permanent subscription stops the consumer with the reason given.
    const pid d = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto perm = subscribe(rt, d, p2, demand_bounds(4));
    REQUIRE(perm);
    watch.watch(d);
    (void)resubscribe(rt, d, *perm.ref, exit_reason::other("moving"), subscribe_to{p2, temporary(demand_bounds(4))});
    CHECK(watch.exit_of(d) == exit_reason::other("moving"));
  }

  TEST_CASE("custom subscription options reach handle_subscribe") {
    runtime rt({.threads = 2});
    probe report(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<configurable>(report.self()));
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    subscription_options o;
    o.custom.emplace("interval", 42);
    REQUIRE(subscribe(rt, c, p, o));
    CHECK(report.receive<option_seen>()->value == 42);
  }

  TEST_CASE("consumer supervisor: start_child, terminate_child, which/count_children, strategy, init that refuses") {
    runtime rt({.threads = 2});
    consumer_supervisor_options<int> o;
    o.start = idle_child;
    const pid sup = start_consumer_supervisor(rt, o);
    auto child = start_consumer_child(rt, sup, 7);
    REQUIRE(child.ok());
    REQUIRE(child.value().child.valid());
    CHECK(count_children(rt, sup).value().active == 1u);
    CHECK(which_children(rt, sup, patience).value().size() == 1u);
    CHECK(terminate_consumer_child(rt, sup, child.value().child).value());
    CHECK_FALSE(terminate_consumer_child(rt, sup, child.value().child).value());  // GenStage's not_found
    CHECK(count_children(rt, sup).value().workers == 0u);

    consumer_supervisor_options<int> all = o;
    all.strategy = strategy::one_for_all;
    CHECK_THROWS_AS((void)start_consumer_supervisor(rt, all), std::invalid_argument);

    consumer_supervisor_options<int> refusing = o;
    refusing.init = [](context&) { return std::optional<exit_reason>(exit_reason::other("no work")); };
    auto r = sync_start_consumer_supervisor(rt, refusing);
    CHECK(r.outcome == start_outcome::stopped);
    CHECK(r.reason == exit_reason::other("no work"));
  }

  TEST_CASE("from_range on_cancel: stop ends the producer when its last consumer leaves; run_on keeps it") {
    runtime rt({.threads = 2});
    probe out(rt);
    probe watch(rt);
    auto forever = [n = 0]() mutable { return std::optional<int>(n++); };
    const pid stops = start_from_range(rt, forever, {}, range_on_cancel::stop);
    const pid drains = start_from_range(rt, forever, {}, range_on_cancel::stop_after_dispatch);
    const pid stays = start_from_range(rt, forever, {}, range_on_cancel::run_on);
    for (pid p : {stops, drains, stays}) {
      const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
      auto sub = subscribe(rt, c, p, temporary(demand_bounds(4)));
      REQUIRE(sub);
      watch.watch(p);
      cancel(rt, *sub.ref, exit_reason::normal());
      if (p != stays) CHECK(watch.exit_of(p) == exit_reason::normal());
    }
    CHECK(rt.is_alive(stays));
  }

  TEST_CASE("the protocol is public: a plain process consumes a stage; a wrong-kind message is not handle_info's") {
    runtime rt({.threads = 2});
    probe got(rt);
    const pid p = start(rt, std::make_unique<counting_producer>());
    struct go {};
    const pid plain = rt.spawn([&, ref = std::uint64_t{0}](context& self, message& m) mutable {
      if (m.is<go>()) {
        ref = self.monitor(p).id;
        self.send(p, protocol::subscribe{self.self(), ref, demand_bounds(3), &typeid(int)});
      } else if (auto* s = m.get_if<protocol::subscribed>()) {
        self.send(p, protocol::ask{self.self(), s->ref, 3});
      } else if (auto* e = m.get_if<protocol::events<int>>()) {
        self.send(got.self(), batch_seen{subscription_ref{e->producer, e->ref}, e->events});
      }
    });
    rt.send(plain, go{});
    CHECK(got.receive<batch_seen>()->events == std::vector<int>{0, 1, 2});

    const pid c = start(rt, std::make_unique<info_consumer>(got.self()));
    rt.send(c, protocol::ask{plain, 1, 5});  // meant for a producer: logged and dropped
    rt.send(c, std::string("after"));
    CHECK(got.receive<info_seen>()->text == "after");
  }
}
