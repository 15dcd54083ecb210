// restart_window: the "at most N restarts within S seconds" rule shared by supervisors, consumer
// supervisors and running pipelines, on instants given by the test (no clock is read).
#include <doctest/doctest.h>

#include <chrono>

#include <sluice/process/restart_window.hpp>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

using clock_type = restart_window::clock;

/// An instant `offset` after a whole second of the monotonic clock.
clock_type::time_point at(clock_type::duration offset) {
  return clock_type::time_point(std::chrono::seconds(1000)) + offset;
}

}  // namespace

TEST_SUITE("restart_window") {
  TEST_CASE("max_restarts restarts within the period are allowed, one more is not") {
    restart_window w(3, 5s);
    CHECK(w.try_restart(at(0s)));
    CHECK(w.try_restart(at(1s)));
    CHECK(w.try_restart(at(2s)));
    CHECK_FALSE(w.try_restart(at(3s)));
    CHECK(w.recent() == 4);
  }

  TEST_CASE("a restart counts up to and including period seconds later, and not after") {
    restart_window w(1, 5s);
    CHECK(w.try_restart(at(0s)));
    CHECK_FALSE(w.try_restart(at(5s)));  // now <= then + period: still counted
    restart_window later(1, 5s);
    CHECK(later.try_restart(at(0s)));
    CHECK(later.try_restart(at(6s)));
    CHECK(later.recent() == 1);
  }

  TEST_CASE("a period of 0 counts the restarts within the same second, as GenStage does") {
    restart_window w(3, 0s);
    CHECK(w.try_restart(at(1ms)));
    CHECK(w.try_restart(at(2ms)));
    CHECK(w.try_restart(at(3ms)));
    CHECK_FALSE(w.try_restart(at(4ms)));
    restart_window spread(1, 0s);
    CHECK(spread.try_restart(at(999ms)));
    CHECK(spread.try_restart(at(1001ms)));  // the next second: the first no longer counts
  }

  TEST_CASE("whole seconds are counted as whole seconds; a fraction of a second is compared exactly") {
    restart_window whole(1, 1s);
    CHECK(whole.try_restart(at(100ms)));
    CHECK_FALSE(whole.try_restart(at(1900ms)));  // seconds 0 and 1: within 1 s
    restart_window fraction(1, 500ms);
    CHECK(fraction.try_restart(at(100ms)));
    CHECK_FALSE(fraction.try_restart(at(600ms)));
    CHECK(fraction.try_restart(at(1201ms)));  // 601 ms after the second one
  }

  TEST_CASE("no allowance refuses the first restart") {
    restart_window w(0, 5s);
    CHECK_FALSE(w.try_restart(at(0s)));
  }
}
