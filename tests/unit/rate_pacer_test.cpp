// rate_pacer: the rate_limit stage's credit arithmetic, on a virtual clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>

#include "stages/rate_pacer.hpp"

using sluice::stages::rate_pacer;
using namespace std::chrono_literals;

namespace {

using time_point = rate_pacer::clock::time_point;

/// A producer that always has events and answers each ask `latency` later, and the stage's loop:
/// asks after each batch received and at each wake, as rate_limit does. Checks that no
/// subscription ever has more than its max_demand in flight.
struct simulation {
  rate_pacer pacer;
  std::size_t max_demand;
  std::chrono::nanoseconds latency;
  time_point now{};
  std::size_t received = 0;
  std::size_t wakes = 0;
  std::size_t most_in_flight = 0;

  struct batch {
    time_point at;
    std::size_t n;
  };
  std::deque<batch> coming;
  std::optional<time_point> wake;

  simulation(double per_second, std::size_t max, std::chrono::nanoseconds lat)
      : pacer(per_second, time_point{}), max_demand(max), latency(lat) {
    pacer.add(1, max);
    pump();
  }

  void pump() {
    for (const auto& a : pacer.asks(now)) coming.push_back({now + latency, a.n});
    most_in_flight = std::max(most_in_flight, pacer.in_flight());
    if (!wake) {
      if (auto w = pacer.wake_in()) wake = now + *w;
    }
  }

  /// Runs the loop until `end`; returns the events received meanwhile.
  std::size_t run_until(time_point end) {
    const std::size_t before = received;
    for (;;) {
      const bool batch_first = !coming.empty() && (!wake || coming.front().at <= *wake);
      const std::optional<time_point> next = batch_first ? coming.front().at : wake;
      if (!next || *next > end) break;
      now = *next;
      if (batch_first) {
        received += coming.front().n;
        pacer.received(1, coming.front().n);
        coming.pop_front();
      } else {
        wake.reset();
        ++wakes;
      }
      pump();
    }
    now = end;
    return received - before;
  }
};

}  // namespace

TEST_SUITE("rate_pacer") {
  TEST_CASE("a rate far above ten times max_demand is reached by re-asking as batches come back") {
    // The old refill asked at most max_demand per subscription every 100 ms: 100 events a second here.
    simulation s(100000, 10, 20us);
    const std::size_t first = s.run_until(time_point{} + 1s);
    CHECK(first >= 99000);
    CHECK(first <= 100000 + 10 + 1);
    const std::size_t second = s.run_until(time_point{} + 2s);
    CHECK(second >= 99000);
    CHECK(second <= 100000 + 10);
    CHECK(s.most_in_flight <= 10);
  }

  TEST_CASE("the configured rate is reached across the range, never more than a burst above it") {
    for (const double rate : {0.5, 3.0, 250.0, 20000.0, 2e6}) {
      CAPTURE(rate);
      simulation s(rate, 1000, 50us);
      const double seconds = rate < 1 ? 20 : 4;
      const auto end = time_point{} + std::chrono::duration_cast<rate_pacer::clock::duration>(std::chrono::duration<double>(seconds));
      const double got = static_cast<double>(s.run_until(end));
      const double want = rate * seconds;
      const double burst = std::max(1.0, rate * 0.1);
      CHECK(got <= want + burst + 1);
      CHECK(got >= want * 0.98 - 1);
      CHECK(s.most_in_flight <= 1000);
      CHECK(static_cast<double>(s.wakes) <= 100 * seconds + 1);  // at most a hundred wakes a second
    }
  }

  TEST_CASE("a slow rate lets single events through, one per period") {
    simulation s(2, 1000, 1us);
    CHECK(s.run_until(time_point{} + 1us) == 1);  // one event may go at once
    CHECK(s.run_until(time_point{} + 10s + 1ms) == 20);
  }

  TEST_CASE("credit saved while idle is capped to a tenth of a second's worth") {
    rate_pacer p(1000, time_point{});
    p.add(1, 100000);
    std::size_t asked = 0;
    for (const auto& a : p.asks(time_point{} + 3600s)) asked += a.n;
    CHECK(asked == 100);
    CHECK(p.asks(time_point{} + 3600s).empty());
  }

  TEST_CASE("with every subscription's max_demand in flight no wake is needed; without any either") {
    rate_pacer p(1e6, time_point{});
    CHECK_FALSE(p.wake_in().has_value());
    p.add(7, 10);
    (void)p.asks(time_point{} + 1s);
    CHECK(p.in_flight() == 10);
    CHECK_FALSE(p.wake_in().has_value());
    p.received(7, 4);
    REQUIRE(p.wake_in().has_value());
    p.remove(7);
    CHECK_FALSE(p.wake_in().has_value());
  }

  TEST_CASE("subscriptions take turns when the credit is short") {
    rate_pacer p(1, time_point{});
    p.add(1, 10);
    p.add(2, 10);
    std::size_t to[3] = {0, 0, 0};
    for (int second = 0; second < 10; ++second) {
      for (const auto& a : p.asks(time_point{} + std::chrono::seconds(second))) to[a.id] += a.n;
    }
    CHECK(to[1] == 5);
    CHECK(to[2] == 5);
  }

  TEST_CASE("a clock that goes back adds no credit; wake times stay finite at the smallest rate") {
    rate_pacer p(rate_pacer::min_rate, time_point{} + 10s);
    p.add(1, 10);
    CHECK(p.asks(time_point{} + 10s).size() == 1);
    CHECK(p.asks(time_point{}).empty());
    auto w = p.wake_in();
    REQUIRE(w.has_value());
    CHECK(*w > 0s);
    CHECK(*w <= 3600s);
  }
}
