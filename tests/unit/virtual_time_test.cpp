// The runtime's virtual time (runtime_options::virtual_time, what `sluice test` runs on): timers
// fire only when the clock is advanced, in deadline order, each instant after the processes
// settled from the one before; now() and system_now() read the virtual clock.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <sluice/process.hpp>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// Records (virtual now since `zero`, value) for every int it gets; on a value below 3 it sets
/// itself a timer for value + 1 after 10 ms of virtual time (a periodic timer, re-armed on firing).
struct recorder final : behaviour {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<long long, int>>> seen = std::make_shared<std::vector<std::pair<long long, int>>>();
  std::chrono::steady_clock::time_point zero;
  void handle(context& self, message& m) override {
    const int* v = m.get_if<int>();
    if (v == nullptr) return;
    {
      std::lock_guard lock(*mutex);
      seen->emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(self.rt().now() - zero).count(), *v);
    }
    if (*v < 3 && *v >= 1) self.send_after(self.self(), *v + 1, 10ms);
  }
};

}  // namespace

TEST_SUITE("virtual time") {
  TEST_CASE("timers fire only on advance, in deadline order, re-armed timers included, and now() follows") {
    const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1714557600));
    runtime rt({.threads = 1, .virtual_time = true, .virtual_start = start});
    CHECK(rt.virtual_time());
    CHECK(rt.system_now() == start);
    auto r = std::make_unique<recorder>();
    const auto zero = rt.now();
    r->zero = zero;
    auto seen = r->seen;
    auto mutex = r->mutex;
    const pid p = rt.spawn(std::move(r));
    rt.send_after(p, 100, 1h);
    rt.send_after(p, 1, 5ms);
    rt.send_after(p, 50, 15ms);
    rt.settle();
    REQUIRE(rt.next_timer().has_value());
    CHECK(*rt.next_timer() == std::chrono::steady_clock::duration(5ms));
    {
      std::lock_guard lock(*mutex);
      CHECK(seen->empty());  // nothing fires by itself
    }
    rt.advance(30ms);
    {
      std::lock_guard lock(*mutex);
      // 1 at 5, then 2 at 15 (set at 5) after 50 at 15 (set first), then 3 at 25.
      const std::vector<std::pair<long long, int>> want{{5, 1}, {15, 50}, {15, 2}, {25, 3}};
      CHECK(*seen == want);
    }
    CHECK(rt.now() - zero == 30ms);
    CHECK(rt.system_now() == start + 30ms);
    CHECK(*rt.next_timer() == std::chrono::steady_clock::duration(1h - 30ms));
    rt.advance(1h);
    std::lock_guard lock(*mutex);
    CHECK(seen->back() == std::pair<long long, int>{3600000, 100});
  }

  TEST_CASE("settle waits until every process is idle: a chain of sends is finished when it returns") {
    runtime rt({.threads = 2, .virtual_time = true});
    auto count = std::make_shared<std::atomic<int>>(0);
    pid next{};
    for (int i = 0; i < 50; ++i) {
      next = rt.spawn([count, to = next](context& self, message& m) {
        if (m.get_if<int>() == nullptr) return;
        count->fetch_add(1);
        if (to.valid()) self.send(to, 0);
      });
    }
    for (int round = 0; round < 20; ++round) {
      rt.send(next, 0);
      rt.settle();
      CHECK(count->load() == 50 * (round + 1));
    }
  }

  TEST_CASE("without virtual time, settle, advance and next_timer refuse") {
    runtime rt({.threads = 1});
    CHECK(!rt.virtual_time());
    CHECK_THROWS_AS(rt.settle(), std::logic_error);
    CHECK_THROWS_AS(rt.advance(1ms), std::logic_error);
    CHECK_THROWS_AS((void)rt.next_timer(), std::logic_error);
  }
}
