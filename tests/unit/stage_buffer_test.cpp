// The producer's buffer (GenStage docs, "Buffering events"), infos behind buffered events
// (GenStage.sync_info/3), and the fix of GenStage #311 (buffered events go before pending demand is counted).
#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct emit_n {
  int n;
};
struct info_seen {
  std::string name;
};

/// Emits nothing on demand; emits `n` more numbered events (from 1) when sent emit_n{n}; reports
/// every info (a std::string) it handles.
class pushed final : public producer<int> {
 public:
  explicit pushed(pid report = {}) : report_(report) {}
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* e = m.get_if<emit_n>()) {
      for (int i = 0; i < e->n; ++i) ctx.emit(next_++);
    } else if (auto* s = m.get_if<std::string>()) {
      if (report_.valid()) ctx.process().send(report_, info_seen{*s});
    }
  }

 private:
  pid report_;
  int next_ = 1;
};

/// GenStage's usual push producer: keeps its own queue and the demand it owes, and emits from the
/// queue while it owes any; emit_n{n} queues n more numbered events (from 0).
class queue_producer final : public producer<int> {
 public:
  void handle_demand(std::size_t n, stage_context<int>& ctx) override {
    owed_ += n;
    pay(ctx);
  }
  void handle_info(message& m, stage_context<int>& ctx) override {
    if (auto* e = m.get_if<emit_n>()) {
      for (int i = 0; i < e->n; ++i) queue_.push_back(next_++);
      pay(ctx);
    }
  }

 private:
  void pay(stage_context<int>& ctx) {
    for (; owed_ > 0 && !queue_.empty(); --owed_) {
      ctx.emit(queue_.front());
      queue_.pop_front();
    }
  }
  std::size_t owed_ = 0;
  std::deque<int> queue_;
  int next_ = 0;
};

/// A manual consumer that asks when told (pair of subscription and amount) and reports batches.
class manual final : public consumer<int> {
 public:
  explicit manual(pid report) : report_(report) {}
  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref,
                               stage_context<no_events>&) override {
    return demand_kind::manual;
  }
  void handle_events(std::span<int> events, subscription_ref from, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, batch_seen{from, std::vector<int>(events.begin(), events.end())});
  }
  void handle_info(message& m, stage_context<no_events>& ctx) override {
    if (auto* a = m.get_if<std::pair<subscription_ref, std::size_t>>()) ctx.ask(a->first, a->second);
  }
  /// Answers request<int>: a caller that got the answer knows every earlier ask was sent on.
  void handle_call(message& m, stage_context<no_events>&) override {
    if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
  }

 private:
  pid report_;
};

/// Makes `consumer` ask `n` on `sub`, and returns once that ask is on its way to the producer.
void ask_now(runtime& rt, pid consumer, subscription_ref sub, std::size_t n) {
  rt.send(consumer, std::pair<subscription_ref, std::size_t>{sub, n});
  REQUIRE(rt.call<int>(consumer, 0, patience).ok());
}

std::vector<int> range(int from, int to) {
  std::vector<int> v(static_cast<std::size_t>(to - from + 1));
  std::iota(v.begin(), v.end(), from);
  return v;
}

using ask_msg = std::pair<subscription_ref, std::size_t>;

}  // namespace

TEST_SUITE("stage_buffer") {
  TEST_CASE("keep last: a full buffer drops the oldest events and reports the count once per store") {
    runtime rt({.threads = 2});
    probe out(rt);
    std::vector<std::size_t> drops;
    std::mutex drops_mutex;
    stage_options<int> o;
    o.buffer_size = 5;
    o.on_discard = [&](std::size_t n) {
      std::lock_guard lock(drops_mutex);
      drops.push_back(n);
    };
    const pid p = start(rt, std::make_unique<pushed>(), std::move(o));
    rt.send(p, emit_n{8});
    CHECK(estimate_buffered_count(rt, p) == 5u);
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, c, p, demand_bounds(10)));
    CHECK(out.receive<batch_seen>()->events == range(4, 8));
    std::lock_guard lock(drops_mutex);
    CHECK(drops == std::vector<std::size_t>{3});
  }

  TEST_CASE("keep first: a full buffer drops the newcomers") {
    runtime rt({.threads = 2});
    probe out(rt);
    stage_options<int> o;
    o.buffer_size = 5;
    o.buffer_keep = buffer_keep::first;
    const pid p = start(rt, std::make_unique<pushed>(), std::move(o));
    rt.send(p, emit_n{3});
    rt.send(p, emit_n{5});
    CHECK(estimate_buffered_count(rt, p) == 5u);
    const pid c = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, c, p, demand_bounds(10)));
    CHECK(out.receive<batch_seen>()->events == range(1, 5));
  }

  TEST_CASE("a producer buffers 10,000 events by default; a producer_consumer's buffer is unbounded") {
    class emitter final : public producer_consumer<int, int> {
     public:
      void handle_events(std::span<int>, subscription_ref, stage_context<int>&) override {}
      void handle_info(message& m, stage_context<int>& ctx) override {
        if (auto* e = m.get_if<emit_n>()) {
          for (int i = 0; i < e->n; ++i) ctx.emit(i);
        }
      }
    };
    runtime rt({.threads = 2});
    const pid p = start(rt, std::make_unique<pushed>());
    rt.send(p, emit_n{10005});
    CHECK(estimate_buffered_count(rt, p) == 10000u);
    const pid pc = start(rt, std::make_unique<emitter>());
    rt.send(pc, emit_n{25000});
    CHECK(estimate_buffered_count(rt, pc) == 25000u);
  }

  TEST_CASE("an info queued behind buffered events is handled only after they were dispatched, in FIFO order") {
    runtime rt({.threads = 2});
    probe infos(rt);
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed>(infos.self()));
    const pid c = start(rt, std::make_unique<manual>(out.self()));
    auto sub = subscribe(rt, c, p, demand_bounds(10));
    REQUIRE(sub);
    rt.send(p, emit_n{3});  // 1, 2, 3 buffered: no demand yet
    async_info(rt, p, std::string("d"));
    async_info(rt, p, std::string("e"));
    CHECK(sync_info(rt, p, std::string("f")));
    rt.send(p, emit_n{2});  // 4, 5
    CHECK(sync_info(rt, p, std::string("i")));
    CHECK(estimate_buffered_count(rt, p) == 5u);
    CHECK(infos.pending() == 0);  // nothing released yet
    rt.send(c, ask_msg{*sub.ref, 3});
    CHECK(out.receive<batch_seen>()->events == range(1, 3));
    CHECK(infos.receive<info_seen>()->name == "d");
    CHECK(infos.receive<info_seen>()->name == "e");
    CHECK(infos.receive<info_seen>()->name == "f");
    CHECK(infos.pending() == 0);
    rt.send(c, ask_msg{*sub.ref, 2});
    CHECK(out.receive<batch_seen>()->events == range(4, 5));
    CHECK(infos.receive<info_seen>()->name == "i");
  }

  TEST_CASE("an info is released when the events before it are dropped by overflow") {
    runtime rt({.threads = 2});
    probe infos(rt);
    stage_options<int> o;
    o.buffer_size = 2;
    const pid p = start(rt, std::make_unique<pushed>(infos.self()), std::move(o));
    rt.send(p, emit_n{2});
    async_info(rt, p, std::string("after two"));
    rt.send(p, emit_n{2});  // pushes the first two out of the buffer: the info goes with them
    CHECK(infos.receive<info_seen>()->name == "after two");
  }

  TEST_CASE("an info to a producer with an empty buffer is handled at once") {
    runtime rt({.threads = 2});
    probe infos(rt);
    const pid p = start(rt, std::make_unique<pushed>(infos.self()));
    async_info(rt, p, std::string("now"));
    CHECK(infos.receive<info_seen>()->name == "now");
  }

  TEST_CASE("buffered events are drained before pending demand counts, so order is kept (GenStage #311)") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<pushed>());
    const subscription_options temp = temporary(demand_bounds(10));
    // c1 asks 10 and cancels: the producer still owes those 10 (pending demand).
    const pid c1 = start(rt, std::make_unique<manual>(out.self()));
    auto s1 = subscribe(rt, c1, p, temp);
    REQUIRE(s1);
    ask_now(rt, c1, *s1.ref, 10);
    cancel(rt, *s1.ref, exit_reason::normal());
    // c2 asks 5, absorbed by the pending 10 (5 left pending).
    const pid c2 = start(rt, std::make_unique<manual>(out.self()));
    auto s2 = subscribe(rt, c2, p, temp);
    REQUIRE(s2);
    ask_now(rt, c2, *s2.ref, 5);
    rt.send(p, emit_n{7});  // 1..7: c2 takes 5; 6 and 7 are buffered (pending drops to 3)
    CHECK(out.receive<batch_seen>()->events == range(1, 5));
    // c2 asks 3: all of it counts against pending, yet the buffered 6 and 7 must go now.
    ask_now(rt, c2, *s2.ref, 3);
    CHECK(out.receive<batch_seen>()->events == range(6, 7));
    rt.send(p, emit_n{3});  // 8 fills c2's last unit of demand; 9, 10 wait
    CHECK(out.receive<batch_seen>()->events == range(8, 8));
    rt.send(c2, ask_msg{*s2.ref, 10});
    CHECK(out.receive<batch_seen>()->events == range(9, 10));
  }

  TEST_CASE("events emitted behind a non-empty buffer pay off a departed consumer's demand too") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<queue_producer>());
    const subscription_options temp = temporary(demand_bounds(5));
    // c1 asks 5 (handle_demand(5): the producer owes 5) and leaves: 5 pending.
    const pid c1 = start(rt, std::make_unique<recording_consumer>(out.self()));
    auto s1 = subscribe(rt, c1, p, temp);
    REQUIRE(s1);
    cancel(rt, *s1.ref, exit_reason::normal());  // reaches the producer behind c1's ask
    rt.send(p, emit_n{2});                       // 0, 1: nobody wants them; buffered, 3 pending
    rt.send(p, emit_n{3});                       // 2, 3, 4: behind the buffer; the debt is paid
    REQUIRE(estimate_buffered_count(rt, p) == std::optional<std::size_t>(5));
    // c2 asks 10: the 5 buffered, then handle_demand(5) for the rest, which the next push pays.
    const subscription_options c2_opts = temporary(demand_bounds(10, 2));
    const pid c2 = start(rt, std::make_unique<recording_consumer>(out.self()));
    REQUIRE(subscribe(rt, c2, p, c2_opts));
    rt.send(p, emit_n{100});
    std::vector<int> got;
    while (got.size() < 105) {
      auto b = out.receive<batch_seen>();
      REQUIRE_MESSAGE(b, "c2 stalled after " << got.size() << " of 105 events");
      got.insert(got.end(), b->events.begin(), b->events.end());
    }
    CHECK(got == range(0, 104));
  }
}
