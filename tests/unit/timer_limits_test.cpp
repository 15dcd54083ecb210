// Timers at the limits of the clock: a delay too long to represent never fires (and can still be
// cancelled); a delay far in the past fires at once. Before saturation, now + delay wrapped into
// the past and such a timer fired at once (a `tick` with a huge interval_ms emitted every tick).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::probe;

namespace {

/// Timers set from inside a process, through context::send_after.
struct arms_timers final : behaviour {
  pid to;
  explicit arms_timers(pid t) : to(t) {}
  void handle(context& self, message& m) override {
    if (m.is<std::string>()) {
      self.send_after(to, std::string("never from a process"), std::chrono::hours::max());
      self.send_after(to, std::string("marker from a process"), 20ms);
    }
  }
};

}  // namespace

TEST_SUITE("timer_limits") {
  TEST_CASE("send_after with the longest delays never fires, and the timers stay cancellable") {
    runtime rt({.threads = 2});
    probe out(rt);
    std::vector<timer_ref> never{
        rt.send_after(out.self(), std::string("duration::max"), std::chrono::steady_clock::duration::max()),
        rt.send_after(out.self(), std::string("hours::max"), std::chrono::hours::max()),
        rt.send_after(out.self(), std::string("milliseconds::max"), std::chrono::milliseconds::max()),
        rt.send_after(out.self(), std::string("a double of 1e300 s"), std::chrono::duration<double>(1e300)),
        rt.send_after(out.self(), std::string("max minus one"), std::chrono::steady_clock::duration::max() - 1ns),
    };
    // A timer due soon after them is the first (and only) message: none of them came at once.
    rt.send_after(out.self(), std::string("marker"), 50ms);
    CHECK(out.receive<std::string>() == "marker");
    for (const timer_ref& t : never) CHECK(rt.cancel_timer(t));
    for (const timer_ref& t : never) CHECK_FALSE(rt.cancel_timer(t));
    rt.send_after(out.self(), std::string("second marker"), 10ms);
    CHECK(out.receive<std::string>() == "second marker");
    CHECK(out.pending() == 0);
  }

  TEST_CASE("a process's send_after with hours::max never fires") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = rt.spawn(std::make_unique<arms_timers>(out.self()));
    rt.send(p, std::string("go"));
    CHECK(out.receive<std::string>() == "marker from a process");
    rt.send_after(out.self(), std::string("later"), 30ms);
    CHECK(out.receive<std::string>() == "later");
  }

  TEST_CASE("a delay far in the past fires at once, in order with the others") {
    runtime rt({.threads = 2});
    probe out(rt);
    rt.send_after(out.self(), std::string("never"), std::chrono::hours::max());
    rt.send_after(out.self(), std::string("past"), std::chrono::hours::min());
    CHECK(out.receive<std::string>() == "past");
  }

  TEST_CASE("a runtime with a pending never-timer shuts down and frees it") {
    runtime rt({.threads = 2});
    probe out(rt);
    rt.send_after(out.self(), std::string("never"), std::chrono::steady_clock::duration::max());
    // The destructor stops the timer thread and destroys the message (ASan checks the leak).
  }
}
