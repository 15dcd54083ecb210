// Stages: the basic producer -> consumer flow.
#include <doctest/doctest.h>

#include <atomic>
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

namespace {

/// A payload that counts its copies (there must be none on one-to-one edges).
struct counted {
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit counted(int v) : value(v) {}
  counted(const counted& o) : value(o.value) { copies.fetch_add(1); }
  counted& operator=(const counted& o) {
    value = o.value;
    copies.fetch_add(1);
    return *this;
  }
  counted(counted&&) noexcept = default;
  counted& operator=(counted&&) noexcept = default;
};

template <class T, class Make>
class making final : public producer<T> {
 public:
  explicit making(int limit) : limit_(limit) {}
  void handle_demand(std::size_t demand, stage_context<T>& ctx) override {
    for (std::size_t i = 0; i < demand && next_ < limit_; ++i) ctx.emit(Make{}(next_++));
    if (next_ == limit_) ctx.stop_after_dispatch();
  }

 private:
  int limit_;
  int next_ = 0;
};

template <class T>
class passing final : public producer_consumer<T, T> {
 public:
  void handle_events(std::span<T> events, subscription_ref, stage_context<T>& ctx) override {
    for (auto& e : events) ctx.emit(std::move(e));
  }
};

template <class T, class Value>
class collecting final : public consumer<T> {
 public:
  explicit collecting(pid report) : report_(report) {}
  void handle_events(std::span<T> events, subscription_ref, stage_context<no_events>&) override {
    for (auto& e : events) seen_.push_back(Value{}(e));
  }
  void terminate(const exit_reason&, stage_context<no_events>& ctx) override { ctx.process().send(report_, seen_); }

 private:
  pid report_;
  std::vector<int> seen_;
};

struct make_unique_int {
  std::unique_ptr<int> operator()(int v) const { return std::make_unique<int>(v); }
};
struct read_unique_int {
  int operator()(const std::unique_ptr<int>& p) const { return *p; }
};
struct make_counted {
  counted operator()(int v) const { return counted(v); }
};
struct read_counted {
  int operator()(const counted& c) const { return c.value; }
};

template <class T, class Make, class Read>
std::vector<int> run_chain(int n) {
  runtime rt({.threads = 2});
  probe out(rt);
  const pid p = start(rt, std::make_unique<making<T, Make>>(n));
  const pid pc = start(rt, std::make_unique<passing<T>>());
  const pid c = start(rt, std::make_unique<collecting<T, Read>>(out.self()));
  subscription_options small;
  small.max_demand = 7;  // odd sizes: batches get cut and partly buffered
  small.min_demand = 3;
  REQUIRE(subscribe(rt, pc, p, small));
  REQUIRE(subscribe(rt, c, pc, small));
  auto seen = out.receive<std::vector<int>>();
  REQUIRE(seen);
  return *seen;
}

std::vector<int> first_n(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_SUITE("stage_basic") {
  TEST_CASE("move-only events flow through producer, producer_consumer and consumer") {
    CHECK(run_chain<std::unique_ptr<int>, make_unique_int, read_unique_int>(1000) == first_n(1000));
  }

  TEST_CASE("events are moved, never copied, on one-to-one subscriptions") {
    counted::copies = 0;
    CHECK(run_chain<counted, make_counted, read_counted>(1000) == first_n(1000));
    CHECK(counted::copies.load() == 0);
  }
}
