// Processes: spawning, message order, exits, handlers that throw, dedicated threads, fairness.
#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using sluice::testing::patience;
using sluice::testing::probe;

namespace {

struct numbered {
  int sender;
  int n;
};

/// Counts copies: a payload that must travel by move only.
struct copy_counter {
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit copy_counter(int v) : value(v) {}
  copy_counter(const copy_counter& o) : value(o.value) { copies.fetch_add(1); }
  copy_counter(copy_counter&&) noexcept = default;
  copy_counter& operator=(const copy_counter&) = delete;
  copy_counter& operator=(copy_counter&&) = delete;
};

struct forward_to {
  pid target;
};

// Message types of an internal protocol, numbered as the stage protocol's are (message_family).
struct hot_ask {
  int n;
};
template <class T>
struct hot_batch {
  T value;
};
struct plain_ask {
  int n;
};

}  // namespace

template <>
struct sluice::detail::message_family<hot_ask> : std::integral_constant<std::uint8_t, 201> {};
template <class T>
struct sluice::detail::message_family<hot_batch<T>> : std::integral_constant<std::uint8_t, 202> {};

TEST_SUITE("process") {
  TEST_CASE("messages between two processes arrive in the order they were sent") {
    runtime rt({.threads = 2});
    probe out(rt);
    constexpr int count = 10000;
    // The relay forwards what it gets; the sender process sends 0..count-1 to it.
    const pid relay = rt.spawn([to = out.self()](context& self, message& m) {
      if (auto* v = m.get_if<numbered>()) self.send(to, *v);
    });
    const pid sender = rt.spawn([relay](context& self, message&) {
      for (int i = 0; i < count; ++i) self.send(relay, numbered{1, i});
    });
    rt.send(sender, 0);
    for (int i = 0; i < count; ++i) {
      auto v = out.receive<numbered>();
      REQUIRE(v);
      CHECK(v->n == i);
    }
  }

  TEST_CASE("each sender's order is kept when several senders interleave") {
    runtime rt({.threads = 2});
    probe out(rt);
    constexpr int senders = 4;
    constexpr int count = 2000;
    for (int s = 0; s < senders; ++s) {
      const pid sender = rt.spawn([s, to = out.self()](context& self, message&) {
        for (int i = 0; i < count; ++i) self.send(to, numbered{s, i});
      });
      rt.send(sender, 0);
    }
    int next[senders] = {};
    for (int i = 0; i < senders * count; ++i) {
      auto v = out.receive<numbered>();
      REQUIRE(v);
      CHECK(v->n == next[v->sender]);
      next[v->sender] = v->n + 1;
    }
  }

  TEST_CASE("a message payload is moved from sender to handler, never copied") {
    runtime rt({.threads = 2});
    probe out(rt);
    copy_counter::copies = 0;
    const pid relay = rt.spawn([to = out.self()](context& self, message& m) {
      if (m.is<copy_counter>()) self.send(to, m.take<copy_counter>());
    });
    rt.send(relay, copy_counter(42));
    auto v = out.receive<copy_counter>();
    REQUIRE(v);
    CHECK(v->value == 42);
    CHECK(copy_counter::copies.load() == 0);
  }

  TEST_CASE("a move-only payload can be sent") {
    runtime rt({.threads = 1});
    probe out(rt);
    rt.send(out.self(), std::make_unique<int>(7));
    auto v = out.receive<std::unique_ptr<int>>();
    REQUIRE(v);
    CHECK(**v == 7);
  }

  TEST_CASE("a message is exactly the type it was made of, whether its type has a family number or not") {
    message ask = message::make(hot_ask{3});
    message batch = message::make(hot_batch<int>{4});
    message plain = message::make(plain_ask{5});
    REQUIRE(ask.get_if<hot_ask>() != nullptr);
    CHECK(ask.get_if<hot_ask>()->n == 3);
    CHECK_FALSE(ask.is<hot_batch<int>>());
    CHECK_FALSE(ask.is<plain_ask>());
    REQUIRE(batch.get_if<hot_batch<int>>() != nullptr);
    CHECK(batch.get_if<hot_batch<int>>()->value == 4);
    CHECK_FALSE(batch.is<hot_batch<long>>());  // same family, another type
    CHECK_FALSE(batch.is<hot_ask>());
    REQUIRE(plain.get_if<plain_ask>() != nullptr);
    CHECK(plain.get_if<plain_ask>()->n == 5);
    CHECK_FALSE(plain.is<hot_ask>());
    CHECK_FALSE(plain.is<int>());
  }

  TEST_CASE("init runs before the first message") {
    struct greeter final : behaviour {
      explicit greeter(pid to) : to_(to) {}
      void init(context& self) override { self.send(to_, std::string("init")); }
      void handle(context& self, message& m) override {
        if (m.is<int>()) self.send(to_, std::string("message"));
      }
      pid to_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn(std::make_unique<greeter>(out.self()));
    rt.send(p, 1);
    CHECK(out.receive<std::string>() == "init");
    CHECK(out.receive<std::string>() == "message");
  }

  TEST_CASE("a handler that throws ends only its own process, with an error reason holding the message") {
    runtime rt({.threads = 2});
    const pid crasher = rt.spawn([](context&, message&) { throw std::runtime_error("boom"); });
    const pid bystander = rt.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body + 1);
    });
    probe out(rt);
    out.watch(crasher);
    rt.send(crasher, 1);
    const auto reason = out.exit_of(crasher);
    REQUIRE(reason);
    CHECK(reason->what() == exit_reason::kind::error);
    CHECK(reason->detail() == "boom");
    CHECK(rt.call<int>(bystander, 41, patience).value() == 42);
  }

  TEST_CASE("exit(reason) ends the process after the handler returns, and terminate sees the reason") {
    struct leaver final : behaviour {
      explicit leaver(pid to) : to_(to) {}
      void handle(context& self, message&) override { self.exit(exit_reason::shutdown("done")); }
      void terminate(context& self, const exit_reason& why) override { self.send(to_, why); }
      pid to_;
    };
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn(std::make_unique<leaver>(out.self()));
    out.watch(p);
    rt.send(p, 1);
    rt.send(p, 2);  // never handled
    CHECK(out.receive<exit_reason>() == exit_reason::shutdown("done"));
    CHECK(out.exit_of(p) == exit_reason::shutdown("done"));
  }

  TEST_CASE("sending to a process that has exited is a no-op that reports closed") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn([](context& self, message&) { self.exit(exit_reason::normal()); });
    out.watch(p);
    CHECK(rt.send(p, 1) == send_result::accepted);
    CHECK(out.exit_of(p) == exit_reason::normal());
    CHECK(rt.send(p, 2) == send_result::closed);
    CHECK_FALSE(rt.is_alive(p));
  }

  TEST_CASE("a dedicated-thread process may block without holding up the scheduler") {
    runtime rt({.threads = 1});
    probe out(rt);
    std::promise<void> release;
    auto released = release.get_future().share();
    const pid blocker = rt.spawn(
        [released, to = out.self()](context& self, message&) {
          released.wait();  // blocks its own thread only
          self.send(to, std::string("unblocked"));
        },
        {.dedicated_thread = true});
    rt.send(blocker, 1);
    // The single scheduler thread still runs ordinary processes meanwhile.
    const pid echo = rt.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
    });
    CHECK(rt.call<int>(echo, 5, patience).value() == 5);
    release.set_value();
    CHECK(out.receive<std::string>() == "unblocked");
  }

  TEST_CASE("a process flooded with messages yields, so others on the same thread still run") {
    runtime rt({.threads = 1, .budget = 16});
    probe out(rt);
    // A self-feeding process: every message makes it send itself another one, forever.
    const pid spinner = rt.spawn([](context& self, message&) { self.send(self.self(), 0); });
    rt.send(spinner, 0);
    const pid echo = rt.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
    });
    CHECK(rt.call<int>(echo, 9, patience).value() == 9);
    out.watch(spinner);
    rt.exit(spinner, exit_reason::kill());
    CHECK(out.exit_of(spinner) == exit_reason::killed());
  }

  TEST_CASE("two processes feeding each other on the only thread still let a plain thread's call in") {
    runtime rt({.threads = 1});
    // Each message makes one send the other one: a local chain on the worker that never empties.
    struct peer {
      pid other;
    };
    const auto bounce = [](pid* other) {
      return [other](context& self, message& m) {
        if (auto* p = m.get_if<peer>()) *other = p->other;
        self.send(*other, 0);
      };
    };
    auto a_other = std::make_shared<pid>();
    auto b_other = std::make_shared<pid>();
    const pid a = rt.spawn([f = bounce(a_other.get()), a_other](context& self, message& m) { f(self, m); });
    const pid b = rt.spawn([f = bounce(b_other.get()), b_other](context& self, message& m) { f(self, m); });
    rt.send(b, peer{a});  // b starts: sends to a, a to b, and so on
    rt.send(a, peer{b});
    const pid echo = rt.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
    });
    // Before, the chain made way into this worker's own oneTBB deque, which runs before the
    // arena's queue where the call's wake waited: the call timed out.
    CHECK(rt.call<int>(echo, 7, patience).value() == 7);
    CHECK(rt.is_alive(a));  // still feeding each other: the call got in beside them
    CHECK(rt.is_alive(b));
  }

  TEST_CASE("several runtimes coexist and share nothing") {
    runtime a({.threads = 1});
    runtime b({.threads = 1});
    const pid pa = a.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body * 2);
    });
    const pid pb = b.spawn([](context&, message& m) {
      if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body * 3);
    });
    CHECK(a.register_name("svc", pa));
    CHECK(b.register_name("svc", pb));
    CHECK(a.call<int>(*a.whereis("svc"), 5, patience).value() == 10);
    CHECK(b.call<int>(*b.whereis("svc"), 5, patience).value() == 15);
  }

  TEST_CASE("destroying a runtime ends the processes still alive") {
    auto rt = std::make_unique<runtime>(runtime_options{.threads = 2});
    for (int i = 0; i < 1000; ++i) rt->spawn([](context&, message&) {});
    CHECK(rt->size_hint() == 1000);
    rt.reset();  // must not hang or leak (ASan checks the leak part)
  }
}

TEST_SUITE("idle") {
  TEST_CASE("an idle runtime with idle processes and a pending timer uses almost no CPU") {
    runtime rt({.threads = 2});
    probe out(rt);
    std::vector<pid> idle;
    for (int i = 0; i < 1000; ++i) idle.push_back(rt.spawn([](context&, message&) {}));
    for (pid p : idle) rt.send(p, 1);                     // run each once, then they go idle
    rt.send_after(out.self(), 1, std::chrono::hours(1));  // the timer thread waits, not polls
    CHECK(rt.call<int>(rt.spawn([](context&, message& m) {
                         if (auto* r = m.get_if<request<int>>()) r->from.reply(r->body);
                       }),
                       1, patience)
              .ok());
    const auto cpu = [] {
      rusage u{};
      getrusage(RUSAGE_SELF, &u);
      return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    };
    // What is measured here is CPU time while nothing happens, over a wall-clock second.
    const auto before = cpu();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto used = cpu() - before;
    MESSAGE("CPU used while idle for 1 s: " << std::chrono::duration_cast<std::chrono::milliseconds>(used).count() << " ms");
    CHECK(used < std::chrono::milliseconds(100));
  }
}
