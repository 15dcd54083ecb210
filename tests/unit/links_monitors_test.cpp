// Links, trap_exit and monitors: exit propagation and DOWN exactly once.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using sluice::testing::patience;
using sluice::testing::probe;

namespace {

/// Runs `f(self)` on its first message, then keeps handling: answers request<int> with the body.
template <class F>
std::unique_ptr<behaviour> on_first(F f) {
  struct b final : behaviour {
    explicit b(F f) : f_(std::move(f)) {}
    void handle(context& self, message& m) override {
      if (auto* r = m.get_if<request<int>>()) return r->from.reply(r->body);
      if (!done_) {
        done_ = true;
        f_(self, m);
      }
    }
    F f_;
    bool done_ = false;
  };
  return std::make_unique<b>(std::move(f));
}

std::unique_ptr<behaviour> crash_on_message() {
  return on_first([](context&, message&) -> void { throw std::runtime_error("crash"); });
}

/// A process that forwards every message it handles to `to` (a trapping observer).
std::unique_ptr<behaviour> reporter(pid to, bool trap) {
  struct b final : behaviour {
    b(pid to, bool trap) : to_(to), trap_(trap) {}
    void init(context& self) override { self.trap_exit(trap_); }
    void handle(context& self, message& m) override {
      if (auto* l = m.get_if<pid>()) return self.link(*l);
      if (auto* r = m.get_if<request<int>>()) return r->from.reply(r->body);
      self.send_message(to_, std::move(m));
    }
    pid to_;
    bool trap_;
  };
  return std::make_unique<b>(to, trap);
}

}  // namespace

TEST_SUITE("links_monitors") {
  TEST_CASE("an abnormal exit propagates through a link and kills a process that does not trap exits") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid victim = rt.spawn(reporter(pid{}, /*trap=*/false));
    const pid crasher = rt.spawn(crash_on_message());
    rt.send(victim, crasher);                       // victim links to crasher
    CHECK(rt.call<int>(victim, 0, patience).ok());  // the link is in place
    out.watch(victim);
    rt.send(crasher, 1);
    const auto reason = out.exit_of(victim);
    REQUIRE(reason);
    CHECK(*reason == exit_reason::error("crash"));
  }

  TEST_CASE("a process that traps exits receives the exit signal as a message and lives on") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid observer = rt.spawn(reporter(out.self(), /*trap=*/true));
    const pid crasher = rt.spawn(crash_on_message());
    rt.send(observer, crasher);
    CHECK(rt.call<int>(observer, 0, patience).ok());
    rt.send(crasher, 1);
    auto sig = out.receive<exit_signal>();
    REQUIRE(sig);
    CHECK(sig->from == crasher);
    CHECK(sig->reason == exit_reason::error("crash"));
    CHECK(rt.is_alive(observer));
  }

  TEST_CASE("a normal exit does not kill linked processes") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid linked = rt.spawn(reporter(out.self(), /*trap=*/false));
    const pid leaver = rt.spawn(on_first([](context& self, message&) { self.exit(exit_reason::normal()); }));
    rt.send(linked, leaver);
    CHECK(rt.call<int>(linked, 0, patience).ok());
    probe watcher(rt);
    watcher.watch(leaver);
    rt.send(leaver, 1);
    CHECK(watcher.exit_of(leaver) == exit_reason::normal());
    // Still alive and answering after the exit signal was handled (it precedes this call).
    CHECK(rt.call<int>(linked, 1, patience).ok());
  }

  TEST_CASE("links are bidirectional: the linker's crash takes the linked process down too") {
    runtime rt({.threads = 2});
    const pid target = rt.spawn(reporter(pid{}, false));
    const pid linker = rt.spawn(on_first([target](context& self, message&) {
      self.link(target);
      throw std::runtime_error("linker failed");
    }));
    probe out(rt);
    out.watch(target);
    rt.send(linker, 1);
    CHECK(out.exit_of(target) == exit_reason::error("linker failed"));
  }

  TEST_CASE("linking to a dead process delivers an exit signal with reason noproc") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid dead = rt.spawn(on_first([](context& self, message&) { self.exit(exit_reason::normal()); }));
    out.watch(dead);
    rt.send(dead, 1);
    REQUIRE(out.exit_of(dead));
    const pid observer = rt.spawn(reporter(out.self(), /*trap=*/true));
    rt.send(observer, dead);
    auto sig = out.receive<exit_signal>();
    REQUIRE(sig);
    CHECK(sig->from == dead);
    CHECK(sig->reason == exit_reason::noproc());
  }

  TEST_CASE("after unlink, an exit no longer propagates") {
    runtime rt({.threads = 2});
    const pid crasher = rt.spawn(crash_on_message());
    const pid p = rt.spawn(on_first([crasher](context& self, message&) {
      self.link(crasher);
      self.unlink(crasher);
    }));
    rt.send(p, 1);
    CHECK(rt.call<int>(p, 0, patience).ok());
    probe out(rt);
    out.watch(crasher);
    rt.send(crasher, 1);
    REQUIRE(out.exit_of(crasher));
    CHECK(rt.call<int>(p, 0, patience).ok());  // the exit signal (if any) came before this reply
    CHECK(rt.is_alive(p));
  }

  TEST_CASE("kill ends even a process that traps exits, with reason killed, and links see killed") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid trapper = rt.spawn(reporter(out.self(), /*trap=*/true));
    const pid observer = rt.spawn(reporter(out.self(), /*trap=*/true));
    rt.send(observer, trapper);
    CHECK(rt.call<int>(observer, 0, patience).ok());
    probe watcher(rt);
    watcher.watch(trapper);
    rt.exit(trapper, exit_reason::kill());
    CHECK(watcher.exit_of(trapper) == exit_reason::killed());
    auto sig = out.receive<exit_signal>();
    REQUIRE(sig);
    CHECK(sig->from == trapper);
    CHECK(sig->reason == exit_reason::killed());
  }

  TEST_CASE("exit(pid, shutdown) ends a process that does not trap exits; exit(pid, normal) does not") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn(reporter(pid{}, false));
    out.watch(p);
    rt.exit(p, exit_reason::normal());
    CHECK(rt.call<int>(p, 0, patience).ok());
    rt.exit(p, exit_reason::shutdown());
    CHECK(out.exit_of(p) == exit_reason::shutdown());
  }

  TEST_CASE("spawn_link links atomically: a child that crashes at once still takes the parent down") {
    runtime rt({.threads = 2});
    const pid parent = rt.spawn(on_first([](context& self, message&) {
      struct crash_at_init final : behaviour {
        void init(context&) override { throw std::runtime_error("child init failed"); }
        void handle(context&, message&) override {}
      };
      self.spawn_link(std::make_unique<crash_at_init>());
    }));
    probe out(rt);
    out.watch(parent);
    rt.send(parent, 1);
    CHECK(out.exit_of(parent) == exit_reason::error("child init failed"));
  }

  TEST_CASE("a monitor delivers DOWN exactly once with the exit reason") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid target = rt.spawn(crash_on_message());
    const pid watcher = rt.spawn([target, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        self.monitor(target);
        self.monitor(target);  // two monitors: two DOWNs, one each
        self.send(to, std::string("monitoring"));
      } else {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(watcher, 1);
    REQUIRE(out.receive<std::string>() == "monitoring");
    rt.send(target, 1);
    auto d1 = out.receive<down>();
    auto d2 = out.receive<down>();
    REQUIRE(d1);
    REQUIRE(d2);
    CHECK(d1->who == target);
    CHECK(d1->reason == exit_reason::error("crash"));
    CHECK(d1->ref != d2->ref);
    // Nothing else follows: the next message is the marker we send now.
    rt.send(watcher, std::string("marker"));
    CHECK(out.receive<std::string>() == "marker");
  }

  TEST_CASE("monitoring a dead process delivers DOWN with reason noproc") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid dead = rt.spawn(on_first([](context& self, message&) { self.exit(exit_reason::normal()); }));
    out.watch(dead);
    rt.send(dead, 1);
    REQUIRE(out.exit_of(dead));
    const pid watcher = rt.spawn([dead, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        self.monitor(dead);
      } else {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(watcher, 1);
    auto d = out.receive<down>();
    REQUIRE(d);
    CHECK(d->who == dead);
    CHECK(d->reason == exit_reason::noproc());
  }

  TEST_CASE("after demonitor no DOWN is delivered for that monitor") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid target = rt.spawn(crash_on_message());
    const pid watcher = rt.spawn([target, to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        const monitor_ref kept = self.monitor(target);
        const monitor_ref dropped = self.monitor(target);
        CHECK(self.demonitor(dropped));
        CHECK_FALSE(self.demonitor(dropped));
        self.send(to, kept);
      } else {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(watcher, 1);
    auto kept = out.receive<monitor_ref>();
    REQUIRE(kept);
    rt.send(target, 1);
    auto d = out.receive<down>();
    REQUIRE(d);
    CHECK(d->ref == *kept);
    rt.send(watcher, std::string("marker"));
    CHECK(out.receive<std::string>() == "marker");  // not a second DOWN
  }

  TEST_CASE("spawn_monitor reports the child's exit even if it dies during init") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid parent = rt.spawn([to = out.self()](context& self, message& m) {
      if (m.is<int>()) {
        struct crash_at_init final : behaviour {
          void init(context&) override { throw std::runtime_error("early"); }
          void handle(context&, message&) override {}
        };
        auto [child, ref] = self.spawn_monitor(std::make_unique<crash_at_init>());
        self.send(to, ref);
      } else {
        self.send_message(to, std::move(m));
      }
    });
    rt.send(parent, 1);
    auto ref = out.receive<monitor_ref>();
    auto d = out.receive<down>();
    REQUIRE(ref);
    REQUIRE(d);
    CHECK(d->ref == *ref);
    CHECK(d->reason == exit_reason::error("early"));
  }
}
