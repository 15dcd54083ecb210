// Consumer supervisors: one child per event, GenStage's refill rule, restarts and shutdown.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
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
struct started {
  int event;
  pid who;
};
struct stopped {
  int event;
  pid who;
  exit_reason reason;
};
struct quit {
  exit_reason reason;
};

/// Emits consecutive ints, up to `limit`, and reports every handle_demand amount.
class numbers final : public producer<int> {
 public:
  numbers(pid report, int limit = 1 << 30) : report_(report), limit_(limit) {}
  void handle_demand(std::size_t n, stage_context<int>& ctx) override {
    ctx.process().send(report_, demand_seen{n});
    for (std::size_t i = 0; i < n && next_ < limit_; ++i) ctx.emit(next_++);
    if (next_ == limit_) ctx.stop_after_dispatch();
  }

 private:
  pid report_;
  int limit_;
  int next_ = 0;
};

/// A child: reports its start and its exit, and exits when told (or ignores shutdown, trapping).
class worker final : public behaviour {
 public:
  worker(pid report, int event, bool trap = false) : report_(report), event_(event), trap_(trap) {}
  void init(context& self) override {
    self.trap_exit(trap_);
    self.send(report_, started{event_, self.self()});
  }
  void handle(context& self, message& m) override {
    if (auto* q = m.get_if<quit>()) self.exit(q->reason);
  }
  void terminate(context& self, const exit_reason& r) override { self.send(report_, stopped{event_, self.self(), r}); }

 private:
  pid report_;
  int event_;
  bool trap_;
};

/// A child that fails at once.
class crasher final : public behaviour {
 public:
  void init(context&) override { throw std::runtime_error("crash"); }
  void handle(context&, message&) override {}
};

consumer_supervisor_options<int> workers_of(pid report, restart_type restart = restart_type::temporary) {
  consumer_supervisor_options<int> o;
  o.start = [report](context& sup, int event) { return sup.spawn_link(std::make_unique<worker>(report, event)); };
  o.restart = restart;
  return o;
}

subscribe_to from(pid producer, std::size_t max, std::size_t min, cancel_mode cancel = cancel_mode::permanent) {
  subscription_options o;
  o.max_demand = max;
  o.min_demand = min;
  o.cancel = cancel;
  return {producer, o};
}

std::size_t next_demand(probe& p) {
  auto d = p.receive<demand_seen>();
  return d ? d->n : 0;
}

/// The next `n` children started, by event.
std::map<int, pid> starts(probe& p, std::size_t n) {
  std::map<int, pid> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto s = p.receive<started>();
    if (!s) break;
    out[s->event] = s->who;
  }
  return out;
}

}  // namespace

TEST_SUITE("consumer_supervisor") {
  TEST_CASE("a permanent child template, or a transient one for move-only events, is refused at start") {
    runtime rt({.threads = 2});
    const std::size_t before = rt.size_hint();
    auto permanent = workers_of(pid{}, restart_type::permanent);
    CHECK_THROWS_AS(start_consumer_supervisor(rt, std::move(permanent)), std::invalid_argument);

    consumer_supervisor_options<std::unique_ptr<int>> move_only;
    move_only.start = [](context& sup, std::unique_ptr<int>) { return sup.spawn_link([](context&, message&) {}); };
    move_only.restart = restart_type::transient;
    CHECK_THROWS_AS(start_consumer_supervisor(rt, std::move(move_only)), std::invalid_argument);
    CHECK(rt.size_hint() == before);
  }

  TEST_CASE("with max 3 and min 2, one exit asks nothing and the second asks for 2") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self());
    o.subscribe_to.push_back(from(p, 3, 2));
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    CHECK(next_demand(demands) == 3);
    auto first = starts(children, 3);
    REQUIRE(first.size() == 3);
    CHECK(count_children(rt, sup).value().active == 3);

    rt.send(first[0], quit{exit_reason::normal()});
    CHECK(children.receive<stopped>()->event == 0);
    rt.send(first[1], quit{exit_reason::error("boom")});  // temporary: any exit frees the slot
    CHECK(children.receive<stopped>()->event == 1);
    CHECK(next_demand(demands) == 2);  // not 1: no ask was made at the first exit
    auto second = starts(children, 2);
    CHECK(second.count(3) == 1);
    CHECK(second.count(4) == 1);
    CHECK(count_children(rt, sup).value().active == 3);
    auto listed = which_children(rt, sup, patience).value();
    CHECK(listed.size() == 3);
  }

  TEST_CASE("live children never exceed max_demand") {
    constexpr int total = 40;
    constexpr std::size_t max = 4;
    runtime rt({.threads = 4});
    probe demands(rt), children(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self(), total));
    auto o = workers_of(children.self());
    o.subscribe_to.push_back(from(p, max, 2, cancel_mode::temporary));
    start_consumer_supervisor(rt, std::move(o));

    // Children run until told to quit: all of them once max_demand are alive, or whenever none
    // is on its way out (so the run always progresses), or once every event has a child.
    std::set<pid> idle, leaving;
    int started_count = 0, stopped_count = 0;
    std::size_t most = 0;
    while (stopped_count < total) {
      message m = children.next();
      REQUIRE_FALSE(m.empty());
      if (auto* s = m.get_if<started>()) {
        ++started_count;
        idle.insert(s->who);
      } else if (auto* s = m.get_if<stopped>()) {
        ++stopped_count;
        leaving.erase(s->who);
      }
      most = std::max(most, idle.size() + leaving.size());
      CHECK(idle.size() + leaving.size() <= max);
      if (idle.size() + leaving.size() == max || leaving.empty() || started_count == total) {
        for (pid c : idle) rt.send(c, quit{exit_reason::normal()});
        leaving.insert(idle.begin(), idle.end());
        idle.clear();
      }
    }
    CHECK(started_count == total);
    CHECK(most <= max);
    CHECK(most >= 2);
  }

  TEST_CASE("a failed start gives its demand back at once") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self());
    const pid report = children.self();
    o.start = [report](context& sup, int event) -> pid {
      if (event == 1) throw std::runtime_error("cannot start");
      if (event == 2) return pid{};
      return sup.spawn_link(std::make_unique<worker>(report, event));
    };
    o.subscribe_to.push_back(from(p, 3, 2));
    start_consumer_supervisor(rt, std::move(o));
    CHECK(next_demand(demands) == 3);
    CHECK(next_demand(demands) == 2);  // both failures, no child exited
    auto s = starts(children, 3);
    CHECK(s.count(0) == 1);
    CHECK(s.count(3) == 1);
    CHECK(s.count(4) == 1);
  }

  TEST_CASE("a transient child that fails is restarted with the same event and keeps its slot") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self(), restart_type::transient);
    o.subscribe_to.push_back(from(p, 1, 0));
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    CHECK(next_demand(demands) == 1);
    auto first = children.receive<started>();
    REQUIRE(first);
    CHECK(first->event == 0);

    rt.send(first->who, quit{exit_reason::error("boom")});
    CHECK(children.receive<stopped>()->event == 0);
    auto again = children.receive<started>();
    REQUIRE(again);
    CHECK(again->event == 0);
    CHECK(again->who != first->who);
    CHECK(count_children(rt, sup).value().active == 1);

    rt.send(again->who, quit{exit_reason::shutdown()});  // a transient child ends for good
    CHECK(children.receive<stopped>()->event == 0);
    CHECK(next_demand(demands) == 1);  // the first ask since subscribing
    auto next = children.receive<started>();
    REQUIRE(next);
    CHECK(next->event == 1);
  }

  TEST_CASE("a temporary child is never restarted") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self(), restart_type::temporary);
    o.subscribe_to.push_back(from(p, 1, 0));
    start_consumer_supervisor(rt, std::move(o));
    CHECK(next_demand(demands) == 1);
    auto first = children.receive<started>();
    REQUIRE(first);
    rt.send(first->who, quit{exit_reason::error("boom")});
    CHECK(children.receive<stopped>()->event == 0);
    CHECK(next_demand(demands) == 1);
    auto next = children.receive<started>();
    REQUIRE(next);
    CHECK(next->event == 1);
  }

  TEST_CASE("when its producer goes away, running children keep running and ask nobody") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self());
    o.subscribe_to.push_back(from(p, 3, 0, cancel_mode::temporary));
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    CHECK(next_demand(demands) == 3);
    auto kids = starts(children, 3);
    REQUIRE(kids.size() == 3);

    watcher.watch(p);  // after the consumer supervisor's monitor: its down reaches it first
    rt.exit(p, exit_reason::kill());
    CHECK(watcher.exit_of(p) == exit_reason::killed());
    CHECK(count_children(rt, sup).value().active == 3);
    for (auto& [event, who] : kids) CHECK(rt.is_alive(who));

    rt.send(kids[0], quit{exit_reason::normal()});
    CHECK(children.receive<stopped>()->event == 0);
    CHECK(count_children(rt, sup).value().active == 2);
    CHECK(rt.is_alive(sup));
  }

  TEST_CASE("more restarts than max_restarts within max_seconds stop it with shutdown") {
    runtime rt({.threads = 2});
    probe demands(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    consumer_supervisor_options<int> o;
    int starts_made = 0;  // touched only inside the consumer supervisor, read after it exited
    o.start = [&starts_made](context& sup, int) {
      ++starts_made;
      return sup.spawn_link(std::make_unique<crasher>());
    };
    o.restart = restart_type::transient;
    o.max_restarts = 2;
    o.max_seconds = 60s;
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    watcher.watch(sup);
    REQUIRE(subscribe(rt, sup, p, from(p, 1, 0).options));
    CHECK(watcher.exit_of(sup) == exit_reason::shutdown());
    CHECK(starts_made == 3);  // the first start and two restarts; the third restart is refused
  }

  TEST_CASE("max_seconds 0 counts the restarts made within the same second: the 4th failing restart of 3 stops it") {
    runtime rt({.threads = 2});
    probe demands(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    consumer_supervisor_options<int> o;
    int starts_made = 0;  // touched only inside the consumer supervisor, read after it exited
    o.start = [&starts_made](context& sup, int) {
      ++starts_made;
      return sup.spawn_link(std::make_unique<crasher>());
    };
    o.restart = restart_type::transient;
    o.max_restarts = 3;
    o.max_seconds = 0s;
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    watcher.watch(sup);
    REQUIRE(subscribe(rt, sup, p, from(p, 1, 0).options));
    CHECK(watcher.exit_of(sup) == exit_reason::shutdown());
    // Usually exactly the first start and three restarts; more only across a second boundary.
    CHECK(starts_made >= 4);
  }

  TEST_CASE("on exit it stops its children: shutdown, then kill after the timeout") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    consumer_supervisor_options<int> o;
    const pid report = children.self();
    // Event 0's child ignores shutdown (it traps exits); event 1's does not.
    o.start = [report](context& sup, int event) {
      return sup.spawn_link(std::make_unique<worker>(report, event, event == 0));
    };
    o.shutdown = shutdown_mode::timeout;
    o.shutdown_timeout = 50ms;
    o.subscribe_to.push_back(from(p, 2, 0));
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    auto kids = starts(children, 2);
    REQUIRE(kids.size() == 2);
    watcher.watch(sup);
    watcher.watch(kids[0]);
    watcher.watch(kids[1]);

    rt.exit(sup, exit_reason::shutdown());
    std::map<pid, exit_reason> downs;
    for (int i = 0; i < 3; ++i) {
      auto d = watcher.receive<down>();
      REQUIRE(d);
      downs[d->who] = d->reason;
    }
    CHECK(downs[sup] == exit_reason::shutdown());
    CHECK(downs[kids[0]] == exit_reason::killed());
    CHECK(downs[kids[1]] == exit_reason::shutdown());
  }

  TEST_CASE("brutal_kill kills the children, and a permanent subscription's end stops it") {
    runtime rt({.threads = 2});
    probe demands(rt), children(rt), watcher(rt);
    const pid p = start(rt, std::make_unique<numbers>(demands.self()));
    auto o = workers_of(children.self());
    o.shutdown = shutdown_mode::brutal_kill;
    o.subscribe_to.push_back(from(p, 2, 0));  // permanent
    const pid sup = start_consumer_supervisor(rt, std::move(o));
    auto kids = starts(children, 2);
    REQUIRE(kids.size() == 2);
    watcher.watch(sup);
    watcher.watch(kids[0]);
    watcher.watch(kids[1]);

    rt.exit(p, exit_reason::error("gone"));
    std::map<pid, exit_reason> downs;
    for (int i = 0; i < 3; ++i) {
      auto d = watcher.receive<down>();
      REQUIRE(d);
      downs[d->who] = d->reason;
    }
    CHECK(downs[sup] == exit_reason::error("gone"));
    CHECK(downs[kids[0]] == exit_reason::killed());
    CHECK(downs[kids[1]] == exit_reason::killed());
  }
}
