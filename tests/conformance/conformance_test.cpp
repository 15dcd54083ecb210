// Protocol laws every stage kind obeys, checked against a fake peer that speaks the raw stage
// protocol and counts: events emitted <= demand granted; a consumer re-asks exactly when its
// outstanding demand falls to min_demand; events in flight never exceed max_demand; a cancel stops
// emission; completion is signalled exactly once, after every event.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "../support/stages.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace sluice::detail;

namespace {

class identity final : public producer_consumer<int, int> {
 public:
  void handle_events(std::span<int> events, subscription_ref, stage_context<int>& ctx) override {
    for (int v : events) ctx.emit(v);
  }
};

// ---- stage kinds seen from their consumer: what emits events --------------------------------

struct emitting_producer {
  static constexpr const char* name = "producer";
  static pid start_stage(runtime& rt, std::optional<int> limit) {
    return start(rt, std::make_unique<counting_producer>(pid{}, limit));
  }
};

struct emitting_producer_consumer {
  static constexpr const char* name = "producer_consumer";
  static pid start_stage(runtime& rt, std::optional<int> limit) {
    const pid source = start(rt, std::make_unique<counting_producer>(pid{}, limit));
    const pid pc = start(rt, std::make_unique<identity>());
    REQUIRE(subscribe(rt, pc, source, demand_bounds(7, 3)));
    return pc;
  }
};

/// A consumer that speaks the raw protocol, asks what the test tells it to, and checks every
/// events message against the demand it granted.
struct fake_consumer_state {
  pid stage;
  std::uint64_t ref = 0;
  std::size_t granted = 0;
  std::size_t received = 0;
  int completions = 0;          // cancel or down for our subscription
  bool confirmed_cancel = false;
  std::size_t after_cancel = 0;  // events received after the cancel was confirmed
  std::vector<int> events;
};
struct fc_subscribe {
  pid stage;
};
struct fc_ask {
  std::size_t n;
};
struct fc_cancel {};
struct fc_report {};

pid start_fake_consumer(runtime& rt) {
  auto st = std::make_shared<fake_consumer_state>();
  return rt.spawn([st](context& self, message& m) {
    if (auto* s = m.get_if<fc_subscribe>()) {
      st->stage = s->stage;
      st->ref = self.monitor(s->stage).id;
      subscription_options o;
      o.max_demand = 1000000;  // the fake grants demand itself; the stage must only respect it
      self.send(s->stage, stage_subscribe{self.self(), st->ref, o, &typeid(int)});
    } else if (auto* a = m.get_if<fc_ask>()) {
      st->granted += a->n;
      self.send(st->stage, stage_ask{self.self(), st->ref, a->n});
    } else if (m.is<fc_cancel>()) {
      self.send(st->stage, stage_cancel_to_producer{st->ref, exit_reason::normal()});
    } else if (auto* e = m.get_if<stage_events<int>>()) {
      st->received += e->events.size();
      if (st->confirmed_cancel) st->after_cancel += e->events.size();
      st->events.insert(st->events.end(), e->events.begin(), e->events.end());
    } else if (auto* c = m.get_if<stage_cancel_to_consumer>()) {
      // (An ask after the end is answered with unknown_subscription: a protocol reply, not an end.)
      if (c->ref == st->ref && c->reason != exit_reason::other("unknown_subscription")) {
        ++st->completions;
        st->confirmed_cancel = true;
      }
    } else if (auto* d = m.get_if<down>()) {
      if (d->ref.id == st->ref) ++st->completions;
    } else if (auto* r = m.get_if<request<fc_report>>()) {
      r->from.reply(*st);
    }
  });
}

fake_consumer_state report_of(runtime& rt, pid fake) {
  auto r = rt.call<fake_consumer_state>(fake, fc_report{}, patience);
  REQUIRE(r.ok());
  return r.value();
}

/// Polls the fake's report (each poll a round trip, no sleeping) until `done` holds.
template <class Done>
fake_consumer_state report_when(runtime& rt, pid fake, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto s = report_of(rt, fake);
    if (done(s) || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::yield();
  }
}

// ---- stage kinds seen from their producer: what consumes events ------------------------------

struct consuming_consumer {
  static constexpr const char* name = "consumer";
  static pid start_stage(runtime& rt, pid report) { return start(rt, std::make_unique<recording_consumer>(report)); }
};

struct consuming_producer_consumer {
  static constexpr const char* name = "producer_consumer";
  static pid start_stage(runtime& rt, pid report) {
    const pid pc = start(rt, std::make_unique<identity>());
    const pid sink = start(rt, std::make_unique<recording_consumer>(report));
    REQUIRE(subscribe(rt, sink, pc, demand_bounds(100000)));
    return pc;
  }
};

/// A producer that speaks the raw protocol: it records every ask and sends events when told.
struct fake_producer_state {
  pid consumer;
  std::uint64_t ref = 0;
  std::vector<std::size_t> asks;
  std::size_t asked = 0;
  std::size_t sent = 0;
  int next = 0;
};
struct fp_send {
  std::size_t n;
};
struct fp_report {};

pid start_fake_producer(runtime& rt) {
  auto st = std::make_shared<fake_producer_state>();
  return rt.spawn([st](context& self, message& m) {
    if (auto* s = m.get_if<stage_subscribe>()) {
      st->consumer = s->consumer;
      st->ref = s->ref;
      self.send(s->consumer, stage_subscribed{s->ref});
    } else if (auto* a = m.get_if<stage_ask>()) {
      st->asks.push_back(a->n);
      st->asked += a->n;
    } else if (auto* f = m.get_if<fp_send>()) {
      std::vector<int> events;
      for (std::size_t i = 0; i < f->n; ++i) events.push_back(st->next++);
      st->sent += f->n;
      self.send(st->consumer, stage_events<int>{self.self(), st->ref, std::move(events)});
    } else if (auto* r = m.get_if<request<fp_report>>()) {
      r->from.reply(*st);
    }
  });
}

fake_producer_state producer_report(runtime& rt, pid fake) {
  auto r = rt.call<fake_producer_state>(fake, fp_report{}, patience);
  REQUIRE(r.ok());
  return r.value();
}

/// Stages that report to `report` every message their handle_info sees (its type's name).
struct info_reached {
  std::string type;
};
class info_producer final : public producer<int> {
 public:
  explicit info_producer(pid report) : report_(report) {}
  void handle_demand(std::size_t, stage_context<int>&) override {}
  void handle_info(message& m, stage_context<int>& ctx) override { ctx.process().send(report_, info_reached{m.type().name()}); }
  pid report_;
};
class info_consumer final : public consumer<int> {
 public:
  explicit info_consumer(pid report) : report_(report) {}
  void handle_events(std::span<int>, subscription_ref, stage_context<no_events>&) override {}
  void handle_info(message& m, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, info_reached{m.type().name()});
  }
  pid report_;
};

/// A round trip through `stage`: returns once it handled everything sent to it before. Any call
/// serves: a stage that does not answer drops the request, which answers no_reply.
void settle(runtime& rt, pid stage) { (void)rt.call<int>(stage, 0, patience); }

}  // namespace

TEST_SUITE("conformance") {
  TEST_CASE_TEMPLATE("an emitting stage never sends more than the demand granted", K, emitting_producer,
                     emitting_producer_consumer) {
    runtime rt({.threads = 2});
    const pid stage = K::start_stage(rt, std::nullopt);
    const pid fake = start_fake_consumer(rt);
    rt.send(fake, fc_subscribe{stage});
    std::size_t granted = 0;
    for (std::size_t n : {1u, 5u, 3u, 40u, 2u, 17u, 100u}) {
      rt.send(fake, fc_ask{n});
      granted += n;
      auto s = report_when(rt, fake, [&](const fake_consumer_state& st) { return st.received >= granted; });
      CHECK(s.received == granted);  // all of it, and not one more
    }
    auto s = report_of(rt, fake);
    CHECK(s.received == s.granted);
    for (std::size_t i = 0; i < s.events.size(); ++i) CHECK(s.events[i] == static_cast<int>(i));
  }

  TEST_CASE_TEMPLATE("a cancelled subscription receives no further events", K, emitting_producer,
                     emitting_producer_consumer) {
    runtime rt({.threads = 2});
    const pid stage = K::start_stage(rt, std::nullopt);
    const pid fake = start_fake_consumer(rt);
    rt.send(fake, fc_subscribe{stage});
    rt.send(fake, fc_ask{50});
    report_when(rt, fake, [](const fake_consumer_state& st) { return st.received >= 50; });
    rt.send(fake, fc_cancel{});
    auto s = report_when(rt, fake, [](const fake_consumer_state& st) { return st.confirmed_cancel; });
    REQUIRE(s.confirmed_cancel);
    rt.send(fake, fc_ask{50});  // an ask on a cancelled subscription must not be served
    report_of(rt, fake);        // the fake has sent it
    settle(rt, stage);          // the stage has handled it
    s = report_of(rt, fake);    // and anything it sent back has arrived
    CHECK(s.after_cancel == 0u);
    CHECK(s.completions == 1);
  }

  TEST_CASE_TEMPLATE("a finite stream completes exactly once, after all its events", K, emitting_producer,
                     emitting_producer_consumer) {
    runtime rt({.threads = 2});
    const pid stage = K::start_stage(rt, 1000);
    const pid fake = start_fake_consumer(rt);
    rt.send(fake, fc_subscribe{stage});
    rt.send(fake, fc_ask{600});
    rt.send(fake, fc_ask{600});
    auto s = report_when(rt, fake, [](const fake_consumer_state& st) { return st.completions > 0; });
    CHECK(s.completions == 1);
    CHECK(s.received == 1000u);
    for (std::size_t i = 0; i < s.events.size(); ++i) CHECK(s.events[i] == static_cast<int>(i));
  }

  TEST_CASE_TEMPLATE("a consuming stage asks max_demand first, re-asks at min_demand, and never has more than max_demand in flight",
                     K, consuming_consumer, consuming_producer_consumer) {
    runtime rt({.threads = 2});
    probe sink(rt);
    const pid stage = K::start_stage(rt, sink.self());
    const pid fake = start_fake_producer(rt);
    constexpr std::size_t max = 10;
    constexpr std::size_t min = 4;
    REQUIRE(subscribe(rt, stage, fake, demand_bounds(max, min)));
    settle(rt, fake);
    auto s = producer_report(rt, fake);
    REQUIRE(s.asks == std::vector<std::size_t>{max});
    // Send one event at a time; after each, the consumer's demand must follow GenStage's rule.
    std::size_t outstanding = max;  // what the consumer has asked and not yet received
    std::size_t asks_seen = 1;
    for (int i = 0; i < 40; ++i) {
      rt.send(fake, fp_send{1});
      settle(rt, fake);   // the events message is out
      settle(rt, stage);  // the stage handled it (and sent any ask)
      settle(rt, fake);   // the ask, if any, reached the fake
      s = producer_report(rt, fake);
      --outstanding;
      if (outstanding <= min) {
        REQUIRE(s.asks.size() == asks_seen + 1);
        CHECK(s.asks.back() == max - outstanding);
        outstanding = max;
        ++asks_seen;
      } else {
        CHECK(s.asks.size() == asks_seen);
      }
      CHECK(s.asked - s.sent <= max);  // in flight never exceeds max_demand
    }
  }

  TEST_CASE("a protocol message meant for another kind of stage is dropped, never handed to handle_info") {
    runtime rt({.threads = 2});
    probe report(rt);
    const pid other = start_fake_consumer(rt);
    const pid prod = start(rt, std::make_unique<info_producer>(report.self()));
    rt.send(prod, protocol::subscribed{7});
    rt.send(prod, protocol::cancel_to_consumer{other, 7, exit_reason::normal()});
    rt.send(prod, 1);  // an ordinary info: the first thing handle_info sees
    CHECK(report.receive<info_reached>()->type == typeid(int).name());
    const pid cons = start(rt, std::make_unique<info_consumer>(report.self()));
    rt.send(cons, protocol::ask{other, 7, 5});
    rt.send(cons, protocol::cancel_to_producer{7, exit_reason::normal()});
    rt.send(cons, 2);
    CHECK(report.receive<info_reached>()->type == typeid(int).name());
  }
}
