// The process table: stale pids never reach a new occupant; references keep a process alive.
#include <doctest/doctest.h>

#include <memory>

#include <sluice/process.hpp>

#include "process/process.hpp"
#include "process/process_table.hpp"
#include "process/runtime_impl.hpp"

using namespace sluice;

namespace {
struct idle final : behaviour {
  void handle(context&, message&) override {}
};
}  // namespace

TEST_SUITE("process_table") {
  TEST_CASE("a pid of a retired process no longer resolves, and its slot is reused with a new generation") {
    runtime rt({.threads = 1});
    internal::process_table table(1u << 16);
    pid first;
    REQUIRE(table.reserve(first));
    table.publish(first, new detail::process(rt.impl(), std::make_unique<idle>(), false));
    {
      auto ref = table.acquire(first);
      REQUIRE(ref);
      CHECK(ref->self().index == 0);  // set_self was not called: the table does not care
    }
    // The process must know its pid for the table to recycle its slot.
    table.acquire(first)->set_self(first);
    table.retire(first);
    CHECK_FALSE(table.acquire(first));

    pid second;
    REQUIRE(table.reserve(second));
    CHECK(second.index == first.index);
    CHECK(second.generation == first.generation + 1);
    auto* p = new detail::process(rt.impl(), std::make_unique<idle>(), false);
    p->set_self(second);
    table.publish(second, p);
    CHECK_FALSE(table.acquire(first));
    CHECK(table.acquire(second));
    table.retire(second);
  }

  TEST_CASE("a reference held across retirement keeps the process alive until it is dropped") {
    runtime rt({.threads = 1});
    internal::process_table table(1u << 16);
    pid id;
    REQUIRE(table.reserve(id));
    auto* p = new detail::process(rt.impl(), std::make_unique<idle>(), false);
    p->set_self(id);
    table.publish(id, p);
    {
      auto ref = table.acquire(id);
      table.retire(id);
      CHECK_FALSE(table.acquire(id));
      CHECK(ref->self() == id);  // still valid memory (ASan would catch a use after free)
      pid other;
      REQUIRE(table.reserve(other));
      CHECK(other.index != id.index);  // the slot is not free while referenced
    }
    pid reused;
    REQUIRE(table.reserve(reused));  // 'other' was reserved and never published: both are distinct
  }

  TEST_CASE("the table refuses to grow past its capacity") {
    internal::process_table table(4096);
    pid p;
    int reserved = 0;
    while (table.reserve(p)) ++reserved;
    CHECK(reserved == 4095);  // index 0 is never used
  }

  TEST_CASE("the default pid names no process") {
    runtime rt({.threads = 1});
    CHECK_FALSE(pid{}.valid());
    CHECK(rt.send(pid{}, 1) == send_result::closed);
    CHECK_FALSE(rt.is_alive(pid{}));
  }
}
