// The stage engine's parts on their own: refusals, the buffer and the infos behind it, held
// demands, the consumer's demand arithmetic, the cancel-mode policy, and the producer's parking of
// a subscription whose partition an exited consumer still holds.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/stage/detail/cancel_policy.hpp>
#include <sluice/stage/detail/consumer_table.hpp>
#include <sluice/stage/detail/held_demands.hpp>
#include <sluice/stage/detail/info_queue.hpp>
#include <sluice/stage/detail/producer_demand.hpp>
#include <sluice/stage/detail/stage_buffer.hpp>
#include <sluice/stage/partition_dispatcher.hpp>
#include <sluice/stage/refusal.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using namespace sluice::detail;
using sluice::testing::probe;

namespace {

using ints = std::vector<int>;

/// The infos a buffer has released, as the ints they carry.
ints released(stage_buffer<int>& b) {
  ints out;
  while (std::optional<message> m = b.released_info()) out.push_back(*m->get_if<int>());
  return out;
}

}  // namespace

TEST_SUITE("stage parts") {
  TEST_CASE("every refusal reads as the exit reason consumers have always seen") {
    CHECK(refusal_reason(refusal::partition_taken, "1") == exit_reason::other("partition_taken 1"));
    CHECK(refusal_reason(refusal::unknown_partition, "7") == exit_reason::other("unknown_partition 7"));
    CHECK(refusal_reason(refusal::partition_required) == exit_reason::other("partition_required"));
    CHECK(refusal_reason(refusal::bad_opts, "expected x") == exit_reason::other("bad_opts: expected x"));
    CHECK(refusal_reason(refusal::bad_selector, "y") == exit_reason::other("bad_selector: y"));
    CHECK(refusal_reason(refusal::already_subscribed) == exit_reason::other("already_subscribed"));
    CHECK(refusal_reason(refusal::event_type_mismatch) == exit_reason::other("event_type_mismatch"));
    CHECK(refusal_reason(refusal::duplicated_subscription) == exit_reason::other("duplicated_subscription"));
    CHECK(refusal_reason(refusal::unknown_subscription) == exit_reason::other("unknown_subscription"));
    CHECK(refusal_reason(refusal::not_a_producer) == exit_reason::other("not_a_producer"));
    CHECK(refusal_reason(refusal::not_a_consumer) == exit_reason::other("not_a_consumer"));
    CHECK(to_string(refusal::partition_taken) == "partition_taken");
  }

  TEST_CASE("a consumer tells a refusal by its kind from the reason it was given") {
    CHECK(refusal_of(refusal_reason(refusal::partition_taken, "1")) == refusal::partition_taken);
    CHECK(refusal_of(refusal_reason(refusal::partition_required)) == refusal::partition_required);
    CHECK(refusal_of(refusal_reason(refusal::bad_opts, "expected x")) == refusal::bad_opts);
    CHECK(refusal_of(refusal_reason(refusal::bad_selector, "y")) == refusal::bad_selector);
    CHECK_FALSE(refusal_of(exit_reason::other("partition_takenaway")));
    CHECK_FALSE(refusal_of(exit_reason::error("partition_taken 1")));
    CHECK_FALSE(refusal_of(exit_reason::noproc()));
  }

  TEST_CASE("a partition dispatcher's refusal of a taken partition is typed and names its holder") {
    partition_dispatcher<int> d({.partitions = 2});
    subscription_options o;
    o.partition = partition_id{std::size_t{0}};
    const consumer_ref first{pid{1, 1}, 1};
    REQUIRE_FALSE(d.subscribe(o, first).refused);
    const dispatcher_subscribed r = d.subscribe(o, consumer_ref{pid{2, 1}, 2});
    REQUIRE(r.refused);
    CHECK(*r.refused == exit_reason::other("partition_taken 0"));
    CHECK(r.why == refusal::partition_taken);
    CHECK(r.holder == first);
  }

  TEST_CASE("infos leave in order, each once the events queued before it have left") {
    info_queue q;
    q.push(3, message::make(1));
    q.push(3, message::make(2));
    q.push(5, message::make(3));
    CHECK_FALSE(q.pop_ready(2));
    CHECK(*q.pop_ready(3)->get_if<int>() == 1);
    CHECK(*q.pop_ready(3)->get_if<int>() == 2);
    CHECK_FALSE(q.pop_ready(4));
    CHECK(*q.pop_ready(9)->get_if<int>() == 3);
    CHECK(q.empty());
  }

  TEST_CASE("a buffer keeping the last drops the oldest, and the infos behind them go") {
    stage_buffer<int> b(3, buffer_keep::last);
    CHECK(b.store({1, 2}) == 0);
    b.queue_info(message::make(100));  // behind 1, 2
    CHECK(b.store({3, 4, 5}) == 2);    // 1 and 2 dropped
    CHECK(released(b) == ints{100});
    CHECK(b.take_front(3) == ints{3, 4, 5});
    CHECK(b.idle());
  }

  TEST_CASE("a buffer keeping the first drops the newcomers") {
    stage_buffer<int> b(3, buffer_keep::first);
    CHECK(b.store({1, 2}) == 0);
    CHECK(b.store({3, 4, 5}) == 2);
    CHECK(b.take_front(3) == ints{1, 2, 3});
  }

  TEST_CASE("events put back at the buffer's front keep their order and hold their infos") {
    stage_buffer<int> b(unbounded, buffer_keep::last);
    CHECK(b.store({1, 2, 3}) == 0);
    b.queue_info(message::make(7));
    ints batch = b.take_front(3);
    batch.erase(batch.begin());  // a dispatch placed 1 only
    b.put_back(batch);
    CHECK(released(b).empty());  // 2 and 3 are still ahead of it
    CHECK(b.take_front(2) == ints{2, 3});
    CHECK(released(b) == ints{7});
  }

  TEST_CASE("held demands are replayed one by one, in arrival order, only when switched to forward") {
    held_demands h(demand_mode::accumulate);
    h.hold(5);
    h.hold(3);
    CHECK(h.switch_to(demand_mode::accumulate).empty());
    CHECK(h.size() == 2);
    CHECK(h.switch_to(demand_mode::forward) == std::vector<std::size_t>{5, 3});
    CHECK(h.size() == 0);
    CHECK_FALSE(h.accumulating());
  }

  TEST_CASE("a drained producer forgets its held demands") {
    held_demands h(demand_mode::accumulate);
    h.hold(4);
    h.drop();
    CHECK(h.switch_to(demand_mode::forward).empty());
  }

  TEST_CASE("a consumer's demand is cut into chunks of max - min and asked again at min") {
    producer_demand p{pid{}, cancel_mode::permanent, true, 0, 5, 10};
    CHECK(p.start_automatic() == 10);
    CHECK(p.allowed(30) == 10);  // never more than asked
    const producer_demand::chunk first = p.next_chunk(10);
    CHECK(first.size == 5);
    CHECK(first.ask_again == 5);  // demand fell to min: ask for max - demand
    CHECK(p.demand == 10);
    const producer_demand::chunk second = p.next_chunk(3);
    CHECK(second.size == 3);
    CHECK(second.ask_again == 0);
    CHECK(p.demand == 7);
  }

  TEST_CASE("the cancel modes decide whether a consumer exits") {
    const exit_reason boom = exit_reason::error("boom");
    CHECK(decide_after_cancel(cancel_mode::permanent, exit_reason::normal()) == after_cancel::exit);
    CHECK(decide_after_cancel(cancel_mode::permanent, boom) == after_cancel::exit);
    CHECK(decide_after_cancel(cancel_mode::transient, exit_reason::normal()) == after_cancel::run_on);
    CHECK(decide_after_cancel(cancel_mode::transient, exit_reason::shutdown()) == after_cancel::run_on);
    CHECK(decide_after_cancel(cancel_mode::transient, boom) == after_cancel::exit);
    CHECK(decide_after_cancel(cancel_mode::temporary, exit_reason::normal()) == after_cancel::run_on);
    CHECK(decide_after_cancel(cancel_mode::temporary, boom) == after_cancel::run_on_failed);
    // A refused duplicate leaves the first subscription running, whatever the mode.
    CHECK(decide_after_cancel(cancel_mode::permanent, refusal_reason(refusal::already_subscribed)) == after_cancel::run_on);
  }

  TEST_CASE("exit after the last producer waits for producers_done once a subscription failed") {
    last_producer_rule off(false);
    CHECK_FALSE(off.finish_now(0));
    last_producer_rule rule(true);
    CHECK_FALSE(rule.finish_now(1));
    rule.producer_failed();
    CHECK_FALSE(rule.finish_now(0));
    rule.producers_done();
    CHECK(rule.finish_now(0));
    CHECK_FALSE(rule.finish_now(0));  // once only
  }

  TEST_CASE("a parked subscription keeps the asks it got and leaves with its holder") {
    consumer_table t;
    stage_subscribe s{pid{2, 1}, 2, {}, &typeid(int)};
    t.add(2, consumer_entry{s.consumer, monitor_ref{9}});
    t.park(s, 1);
    CHECK(t.ask_parked(2, 4));
    CHECK(t.ask_parked(2, 6));
    CHECK_FALSE(t.ask_parked(3, 1));
    CHECK(t.unpark(5).empty());
    const std::vector<parked_subscription> back = t.unpark(1);
    REQUIRE(back.size() == 1);
    CHECK(back[0].asked == 10);
    CHECK(back[0].subscribe.ref == 2);
    CHECK_FALSE(t.any_parked());
    CHECK(t.contains(2));
  }
}

// ---- parking, end to end ---------------------------------------------------------------------

namespace {

struct hold_on {
  std::shared_future<void> release;
};
struct holding {};
struct got {
  ints events;
};
struct cancelled {
  exit_reason reason;
};
struct ping {};
struct pong {};

/// Emits the ints it is sent; `hold_on` blocks it (bounded) until released, after telling `to`
/// (it runs on a thread of its own, so it holds up no scheduler thread).
class pusher final : public producer<int> {
 public:
  explicit pusher(pid to) : to_(to) {}
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* events = m.get_if<ints>()) ctx.emit(std::move(*events));
    if (auto* h = m.get_if<hold_on>()) {
      (void)ctx.process().send(to_, holding{});
      (void)h->release.wait_for(testing::patience);
    }
  }

 private:
  pid to_;
};

/// Sends what it gets and its cancels to `to`; answers ping.
class reporter final : public consumer<int> {
 public:
  explicit reporter(pid to) : to_(to) {}
  void handle_events(std::span<int> events, subscription_ref, stage_context<no_events>& ctx) override {
    (void)ctx.process().send(to_, got{ints(events.begin(), events.end())});
  }
  void handle_cancel(cancel_kind, const exit_reason& why, subscription_ref, stage_context<no_events>& ctx) override {
    (void)ctx.process().send(to_, cancelled{why});
  }
  void handle_info(message& m, stage_context<no_events>& ctx) override {
    if (m.is<ping>()) (void)ctx.process().send(to_, pong{});
  }

 private:
  pid to_;
};

subscription_options partition_zero() {
  subscription_options o;
  o.partition = partition_id{std::size_t{0}};
  o.max_demand = 10;
  o.cancel = cancel_mode::temporary;
  return o;
}

}  // namespace

TEST_SUITE("stage parts") {
  TEST_CASE("a subscription to a partition whose holder was killed waits for its DOWN instead of being refused") {
    runtime rt({.threads = 2});
    probe events(rt);
    stage_options<int> o;
    o.dispatcher = std::make_unique<partition_dispatcher<int>>(partition_dispatcher<int>::options{.partitions = 2});
    o.spawn.dedicated_thread = true;
    const pid p = start(rt, std::make_unique<pusher>(events.self()), std::move(o));
    probe old_events(rt);
    const pid old = start(rt, std::make_unique<reporter>(old_events.self()));
    REQUIRE(subscribe(rt, old, p, partition_zero()));

    // The producer handles nothing until released: the new subscribe reaches its mailbox before
    // the old holder's DOWN does, the race a replaced pipeline stage runs.
    std::promise<void> release;
    (void)rt.send(p, hold_on{release.get_future().share()});
    REQUIRE(events.receive<holding>());
    const pid fresh = start(rt, std::make_unique<reporter>(events.self()));
    async_subscribe(rt, fresh, p, partition_zero());
    (void)rt.send(fresh, ping{});
    REQUIRE(events.receive<pong>());  // its subscribe is queued at the producer
    rt.exit(old, exit_reason::kill());
    REQUIRE(rt.await_exit(old, testing::patience));
    release.set_value();

    (void)rt.send(p, ints{0, 2, 4});
    const auto g = events.receive<got>();
    REQUIRE(g);
    CHECK(g->events == ints{0, 2, 4});
    CHECK(events.pending() == 0);  // no cancel came: it was never refused
  }

  TEST_CASE("a subscription to a partition whose holder is alive is still refused with partition_taken") {
    runtime rt({.threads = 2});
    probe events(rt);
    stage_options<int> o;
    o.dispatcher = std::make_unique<partition_dispatcher<int>>(partition_dispatcher<int>::options{.partitions = 2});
    const pid p = start(rt, std::make_unique<pusher>(events.self()), std::move(o));
    const pid holder = start(rt, std::make_unique<reporter>(events.self()));
    REQUIRE(subscribe(rt, holder, p, partition_zero()));
    const pid second = start(rt, std::make_unique<reporter>(events.self()));
    const subscribe_result r = subscribe(rt, second, p, partition_zero());
    CHECK_FALSE(r);
    CHECK(r.error == exit_reason::other("partition_taken 0"));
  }
}
