// Stages: the basic producer -> consumer flow.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <sluice/sluice.hpp>

#include "../support/probe.hpp"

using namespace sluice;
using sluice::testing::patience;
using sluice::testing::probe;

namespace {

class counter final : public producer<std::int64_t> {
 public:
  explicit counter(std::int64_t limit) : limit_(limit) {}
  void handle_demand(std::size_t demand, stage_context<std::int64_t>& ctx) override {
    for (std::size_t i = 0; i < demand && next_ < limit_; ++i) ctx.emit(next_++);
    if (next_ == limit_) ctx.stop_after_dispatch();
  }

 private:
  std::int64_t next_ = 0;
  std::int64_t limit_;
};

class summer final : public consumer<std::int64_t> {
 public:
  explicit summer(pid report) : report_(report) {}
  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<no_events>&) override {
    for (auto v : events) sum_ += v;
    count_ += events.size();
  }
  void terminate(const exit_reason& why, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, std::vector<std::int64_t>{sum_, static_cast<std::int64_t>(count_)});
    (void)why;
  }

 private:
  pid report_;
  std::int64_t sum_ = 0;
  std::size_t count_ = 0;
};

}  // namespace

TEST_SUITE("stage_basic") {
  TEST_CASE("a finite producer's events all reach a consumer, which then exits normally") {
    runtime rt({.threads = 2});
    probe out(rt);
    const pid p = start(rt, std::make_unique<counter>(100000));
    const pid c = start(rt, std::make_unique<summer>(out.self()));
    out.watch(c);
    REQUIRE(subscribe(rt, c, p));
    auto totals = out.receive<std::vector<std::int64_t>>();
    REQUIRE(totals);
    CHECK((*totals)[0] == 100000LL * 99999 / 2);
    CHECK((*totals)[1] == 100000);
    CHECK(out.exit_of(c) == exit_reason::normal());
  }
}
