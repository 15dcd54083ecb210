// Many processes at once.
#include <doctest/doctest.h>

#include <atomic>

#include <sluice/process.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using sluice::testing::patience;
using sluice::testing::probe;

TEST_SUITE("scale") {
  TEST_CASE("100,000 processes spawned at once all answer") {
    runtime rt({.threads = 2});
    probe out(rt);
    constexpr int count = 100000;
    std::vector<pid> pids;
    pids.reserve(count);
    for (int i = 0; i < count; ++i) {
      pids.push_back(rt.spawn([to = out.self()](context& self, message& m) {
        if (auto* v = m.get_if<int>()) self.send(to, *v);
      }));
    }
    CHECK(rt.size_hint() == count + 1);
    for (int i = 0; i < count; ++i) rt.send(pids[static_cast<std::size_t>(i)], i);
    std::vector<bool> seen(count, false);
    int answered = 0;
    for (; answered < count; ++answered) {
      auto v = out.receive<int>();
      if (!v || *v < 0 || *v >= count || seen[static_cast<std::size_t>(*v)]) break;
      seen[static_cast<std::size_t>(*v)] = true;
    }
    CHECK(answered == count);
  }

  TEST_CASE("100,000 processes that exit free their slots for reuse") {
    runtime rt({.threads = 2});
    probe out(rt);
    constexpr int count = 100000;
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < count; ++i) {
        const pid p = rt.spawn([to = out.self()](context& self, message&) {
          self.send(to, 1);
          self.exit(exit_reason::normal());
        });
        rt.send(p, 0);
      }
      for (int i = 0; i < count; ++i) REQUIRE(out.receive<int>() == 1);
    }
    CHECK(rt.size_hint() <= count + 1);  // exits race the last replies, but the table did not double
  }
}
