// Windows (issue 17, item 1): keyed_windows and window_stage against a reference computed here,
// independently (brute-force window membership, offline sessions), for every window kind, with
// out-of-order and late events.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <sluice/flow/aggregations.hpp>
#include <sluice/flow/keyed_windows.hpp>
#include <sluice/flow/window_stage.hpp>
#include <sluice/sluice.hpp>

#include "../support/probe.hpp"
#include "window_reference.hpp"

using namespace sluice;
using namespace sluice::flow;
using sluice::testing::patience;
using sluice::testing::probe;

using namespace sluice::testing::windows;

namespace {

/// Mostly increasing times with disorder up to `disorder` ms, and a share of far-too-late events.
std::vector<ev> make_events(std::uint32_t seed, std::size_t n, int keys, std::int64_t disorder, double late_share) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> jitter(0, disorder);
  std::uniform_int_distribution<int> key(0, keys - 1);
  std::uniform_int_distribution<std::int64_t> value(-50, 100);
  std::bernoulli_distribution late(late_share);
  std::vector<ev> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t t = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 7 - jitter(rng);
    if (late(rng)) t -= 20'000;
    out.push_back({key(rng), t, value(rng)});
  }
  return out;
}

// ---- what the code under test gives ---------------------------------------------------------------

struct outcome {
  std::vector<row> rows;
  std::vector<ev> late;
};

outcome run_windows(const window_spec& s, const std::vector<ev>& events, window_metrics* seen = nullptr) {
  auto metrics = std::make_shared<window_metrics>();
  outcome o;
  {
    keyed_windows<int, sum_of<std::int64_t>> w(s, {}, metrics);
    auto out = [&](window_result<int, std::int64_t>&& r) {
      CHECK(r.trigger != trigger_kind::every_events);
      o.rows.push_back({r.key, r.start_ms, r.end_ms, r.value, r.count});
    };
    for (const ev& e : events) {
      if (!w.add(e.key, e.time, e.value, out)) o.late.push_back(e);
    }
    CHECK(static_cast<std::int64_t>(w.open()) == metrics->open_windows.load());
    w.close_all(out);
    CHECK(w.open() == 0);
  }
  CHECK(metrics->open_windows.load() == 0);
  CHECK(metrics->late_events.load() == o.late.size());
  if (seen != nullptr) seen->results.store(metrics->results.load());
  std::sort(o.rows.begin(), o.rows.end());
  return o;
}

/// run_windows through add_all (what window_stage calls), in batches of 1 to 99 events.
outcome run_windows_batched(const window_spec& s, const std::vector<ev>& events) {
  auto metrics = std::make_shared<window_metrics>();
  outcome o;
  {
    keyed_windows<int, sum_of<std::int64_t>> w(s, {}, metrics);
    auto out = [&](window_result<int, std::int64_t>&& r) { o.rows.push_back({r.key, r.start_ms, r.end_ms, r.value, r.count}); };
    std::mt19937 rng(5);
    std::uniform_int_distribution<std::size_t> batch(1, 99);
    for (std::size_t at = 0; at < events.size();) {
      const std::size_t n = std::min(batch(rng), events.size() - at);
      const ev* b = events.data() + at;
      w.add_all(
          n, [&](std::size_t i) { return b[i].key; }, [&](std::size_t i) { return b[i].time; },
          [&](std::size_t i) { return b[i].value; }, [&](std::size_t i) { o.late.push_back(b[i]); }, out);
      at += n;
      CHECK(static_cast<std::int64_t>(w.open()) == metrics->open_windows.load());
    }
    w.close_all(out);
    CHECK(w.open() == 0);
  }
  CHECK(metrics->open_windows.load() == 0);
  CHECK(metrics->late_events.load() == o.late.size());
  std::sort(o.rows.begin(), o.rows.end());
  return o;
}

bool same_events(const std::vector<ev>& a, const std::vector<ev>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const ev& x, const ev& y) {
           return x.key == y.key && x.time == y.time && x.value == y.value;
         });
}

window_spec tumbling(std::int64_t size, std::int64_t lateness) {
  window_spec s;
  s.kind = window_kind::tumbling;
  s.size_ms = size;
  s.allowed_lateness_ms = lateness;
  return s;
}

/// Runs `s` over `events` with `run` (run_windows, or run_windows_batched) and compares the
/// results with the reference's.
template <class Run>
void check_against_reference(const window_spec& s, const std::vector<ev>& events, Run run) {
  const reference want = compute_reference(s, events);
  const outcome got = run(s, events);
  CHECK(got.rows.size() == want.rows.size());
  CHECK(got.rows == want.rows);
  CHECK(same_events(got.late, want.late));
}

/// A sliding spec (1000 ms every 250, lateness 300), a session spec (gap 60, lateness 200) and a
/// count spec of `count` events.
std::vector<window_spec> sliding_session_counted(std::uint64_t count) {
  window_spec sliding = tumbling(1000, 300);
  sliding.kind = window_kind::sliding;
  sliding.slide_ms = 250;
  window_spec session;
  session.kind = window_kind::session;
  session.gap_ms = 60;
  session.allowed_lateness_ms = 200;
  window_spec counted;
  counted.kind = window_kind::count;
  counted.count = count;
  return {sliding, session, counted};
}

}  // namespace

TEST_SUITE("window") {
  TEST_CASE("every window kind gives the reference's results, with out-of-order and late events") {
    const std::vector<ev> events = make_events(17, 20'000, 13, 400, 0.02);
    std::vector<window_spec> specs{tumbling(1000, 0), tumbling(1000, 300), tumbling(333, 1000)};
    for (const window_spec& s : sliding_session_counted(37)) specs.push_back(s);
    for (const window_spec& s : specs) {
      CAPTURE(to_string(s.kind));
      CAPTURE(s.allowed_lateness_ms);
      check_against_reference(s, events, [](const window_spec& w, const std::vector<ev>& e) { return run_windows(w, e); });
    }
  }

  TEST_CASE("add_all (batches, many keys coming and going) gives the reference's results for every kind") {
    // 3,000 keys: the key table grows, and keys leave it as their windows close (backward-shift
    // deletion, the last entry moved into the hole) and come back.
    const std::vector<ev> events = make_events(23, 30'000, 3'000, 400, 0.02);
    std::vector<window_spec> specs{tumbling(1000, 0), tumbling(1000, 300), tumbling(50, 0), tumbling(333, 1000)};
    for (const window_spec& s : sliding_session_counted(3)) specs.push_back(s);
    for (const window_spec& s : specs) {
      CAPTURE(to_string(s.kind));
      CAPTURE(s.size_ms);
      CAPTURE(s.allowed_lateness_ms);
      check_against_reference(s, events, run_windows_batched);
    }
  }

  TEST_CASE("late events are counted and handed back, never silently dropped") {
    const std::vector<ev> events = make_events(5, 5'000, 3, 50, 0.05);
    const outcome got = run_windows(tumbling(500, 100), events);
    CHECK(got.late.size() > 100);  // the reference agrees on which (previous test); here: not zero
    std::uint64_t windowed = 0;
    for (const row& r : got.rows) windowed += r.count;
    CHECK(windowed + got.late.size() == events.size());
  }

  TEST_CASE("a closed window frees its state: the open-window count follows the watermark and ends at 0") {
    auto metrics = std::make_shared<window_metrics>();
    keyed_windows<int, count_of<int>> w(tumbling(100, 0), {}, metrics);
    std::vector<window_result<int, std::uint64_t>> out;
    auto sink = [&](auto&& r) { out.push_back(r); };
    for (int k = 0; k < 1000; ++k) CHECK(w.add(k, 1000 + k % 50, 1, sink));
    CHECK(metrics->open_windows.load() == 1000);
    CHECK(w.add(0, 1100, 1, sink));  // the watermark reaches 1100: every window of [1000, 1100) closes
    CHECK(out.size() == 1000);
    CHECK(metrics->open_windows.load() == 1);
    w.close_all(sink);
    CHECK(metrics->open_windows.load() == 0);
    CHECK(out.back().trigger == trigger_kind::end);
  }

  TEST_CASE("the aggregations: count, sum, min, max, mean, first and last by event time, collect in arrival order, reduce") {
    window_spec s = tumbling(100, 1000);
    const std::vector<ev> events{{1, 50, 5}, {1, 10, 7}, {1, 90, -2}, {1, 10, 9}, {1, 99, 4}};
    auto results = [&](auto agg) {
      keyed_windows<int, decltype(agg)> w(s, agg);
      std::vector<typename decltype(agg)::result_type> out;
      auto sink = [&](auto&& r) { out.push_back(r.value); };
      for (const ev& e : events) CHECK(w.add(e.key, e.time, e.value, sink));
      w.close_all(sink);
      REQUIRE(out.size() == 1);
      return out.front();
    };
    CHECK(results(count_of<std::int64_t>{}) == 5);
    CHECK(results(sum_of<std::int64_t>{}) == 23);
    CHECK(results(min_of<std::int64_t>{}) == -2);
    CHECK(results(max_of<std::int64_t>{}) == 9);
    CHECK(results(mean_of<std::int64_t>{}) == doctest::Approx(4.6));
    CHECK(results(first_of<std::int64_t>{}) == 7);  // time 10, the first of the two at 10
    CHECK(results(last_of<std::int64_t>{}) == 4);   // time 99
    CHECK(results(collect_of<std::int64_t>{}) == std::vector<std::int64_t>{5, 7, -2, 9, 4});
    auto product = [](std::vector<std::int64_t> v) {
      std::int64_t p = 1;
      for (auto x : v) p *= x;
      return p;
    };
    CHECK(results(reduce_of<std::int64_t, decltype(product)>{product}) == 5 * 7 * -2 * 9 * 4);
  }

  TEST_CASE("merged sessions keep collect in arrival order and first by event time") {
    window_spec s;
    s.kind = window_kind::session;
    s.gap_ms = 10;
    s.allowed_lateness_ms = 1000;
    keyed_windows<int, collect_of<int>> w(s, {});
    std::vector<window_result<int, std::vector<int>>> out;
    auto sink = [&](auto&& r) { out.push_back(r); };
    CHECK(w.add(1, 100, 1, sink));  // [100, 110)
    CHECK(w.add(1, 115, 2, sink));  // [115, 125): a second session
    CHECK(w.open() == 2);
    CHECK(w.add(1, 108, 3, sink));  // [108, 118) bridges both
    CHECK(w.open() == 1);
    w.close_all(sink);
    REQUIRE(out.size() == 1);
    CHECK(out[0].start_ms == 100);
    CHECK(out[0].end_ms == 125);
    CHECK(out[0].value == std::vector<int>{1, 2, 3});  // arrival order, not time order
  }

  TEST_CASE("every_events emits partial results and the final one still comes") {
    window_spec s = tumbling(1000, 0);
    s.every_events = 2;
    keyed_windows<int, count_of<int>> w(s, {});
    std::vector<window_result<int, std::uint64_t>> out;
    auto sink = [&](auto&& r) { out.push_back(r); };
    for (int i = 0; i < 5; ++i) CHECK(w.add(7, 10 + i, 0, sink));
    w.close_all(sink);
    REQUIRE(out.size() == 3);
    CHECK(out[0].trigger == trigger_kind::every_events);
    CHECK(out[0].value == 2);
    CHECK(out[1].value == 4);
    CHECK(out[2].trigger == trigger_kind::end);
    CHECK(out[2].value == 5);
  }

  TEST_CASE("invalid specs are refused naming the field and the range") {
    window_spec s = tumbling(0, 0);
    CHECK(validate(s).find("size_ms is 0, expected 1 to") == 0);
    s = tumbling(100, 0);
    s.kind = window_kind::sliding;
    s.slide_ms = 200;
    CHECK(validate(s).find("slide_ms is 200") == 0);
    s.slide_ms = 0;
    CHECK(!validate(s).empty());
    s.slide_ms = 100;
    CHECK(validate(s).empty());
    s.allowed_lateness_ms = -1;
    CHECK(validate(s).find("allowed_lateness_ms") == 0);
    CHECK_THROWS_AS(make_window_stage<ev>(tumbling(0, 0), count_of<int>{}, [](const ev& e) { return e.key; },
                                          [](const ev& e) { return e.time; }, [](const ev&) { return 1; }),
                    std::invalid_argument);
  }

  TEST_CASE("times far outside any clock saturate instead of overflowing") {
    keyed_windows<int, count_of<int>> w(tumbling(max_window_ms, max_window_ms), {});
    std::vector<window_result<int, std::uint64_t>> out;
    auto sink = [&](auto&& r) { out.push_back(r); };
    CHECK(w.add(1, std::numeric_limits<std::int64_t>::max(), 0, sink));
    CHECK_FALSE(w.add(1, std::numeric_limits<std::int64_t>::min(), 0, sink));  // late, and no overflow on the way
    w.close_all(sink);
    CHECK(!out.empty());
  }
}

// ---- the stage, in a runtime ------------------------------------------------------------------------

namespace {

class ev_source final : public producer<ev> {
 public:
  ev_source(std::vector<ev> events, bool end) : events_(std::move(events)), end_(end) {}
  void handle_demand(std::size_t demand, stage_context<ev>& ctx) override {
    for (; demand > 0 && next_ < events_.size(); --demand) ctx.emit(events_[next_++]);
    if (end_ && next_ == events_.size()) ctx.stop_after_dispatch();
  }

 private:
  std::vector<ev> events_;
  bool end_;
  std::size_t next_ = 0;
};

using sum_output = window_output<ev, int, std::int64_t>;

/// Sends each output to `report` as it comes.
class forwarding_sink final : public consumer<sum_output> {
 public:
  explicit forwarding_sink(pid report) : report_(report) {}
  void handle_events(std::span<sum_output> events, subscription_ref, stage_context<no_events>& ctx) override {
    for (sum_output& o : events) ctx.process().send(report_, std::move(o));
  }

 private:
  pid report_;
};

auto make_sum_stage(const window_spec& s, std::shared_ptr<window_metrics> m) {
  return make_window_stage<ev>(s, sum_of<std::int64_t>{}, [](const ev& e) { return e.key; }, [](const ev& e) { return e.time; },
                               [](const ev& e) { return e.value; }, std::move(m));
}

}  // namespace

TEST_SUITE("window") {
  TEST_CASE("window_stage: results and late events match the reference, and the open count returns to 0") {
    const std::vector<ev> events = make_events(99, 3'000, 5, 100, 0.03);
    const window_spec s = tumbling(200, 50);
    const reference want = compute_reference(s, events);
    runtime rt;
    probe p(rt);
    auto metrics = std::make_shared<window_metrics>();
    const pid src = start(rt, std::make_unique<ev_source>(events, true));
    const pid win = start(rt, make_sum_stage(s, metrics));
    const pid sink = start(rt, std::make_unique<forwarding_sink>(p.self()));
    p.watch(sink);
    REQUIRE(subscribe(rt, sink, win, {}));
    REQUIRE(subscribe(rt, win, src, {}));
    outcome got;
    while (got.rows.size() < want.rows.size() || got.late.size() < want.late.size()) {
      auto o = p.receive<sum_output>();
      REQUIRE(o.has_value());
      if (auto* r = std::get_if<window_result<int, std::int64_t>>(&*o)) {
        got.rows.push_back({r->key, r->start_ms, r->end_ms, r->value, r->count});
      } else {
        got.late.push_back(std::get<late_event<ev>>(*o).event);
      }
    }
    CHECK(p.exit_of(sink).has_value());  // ends once the input ended and every window went out
    std::sort(got.rows.begin(), got.rows.end());
    CHECK(got.rows == want.rows);
    CHECK(same_events(got.late, want.late));
    CHECK(metrics->open_windows.load() == 0);
    CHECK(metrics->late_events.load() == want.late.size());
  }

  TEST_CASE("window_stage in processing time closes a window by its timer, with the input still open") {
    window_spec s;
    s.kind = window_kind::tumbling;
    s.size_ms = 20;
    s.time = time_base::processing;
    runtime rt;
    probe p(rt);
    auto metrics = std::make_shared<window_metrics>();
    const pid src = start(rt, std::make_unique<ev_source>(std::vector<ev>(10, ev{1, 0, 1}), false));
    const pid win = start(rt, make_sum_stage(s, metrics));
    const pid sink = start(rt, std::make_unique<forwarding_sink>(p.self()));
    REQUIRE(subscribe(rt, sink, win, {}));
    REQUIRE(subscribe(rt, win, src, {}));
    std::uint64_t total = 0;
    while (total < 10) {
      auto o = p.receive<sum_output>();
      REQUIRE(o.has_value());
      auto& r = std::get<window_result<int, std::int64_t>>(*o);
      CHECK(r.trigger == trigger_kind::watermark);
      total += r.count;
    }
    CHECK(total == 10);
    // Its window closed: nothing is open, and no timer keeps running for nothing.
    CHECK(metrics->open_windows.load() == 0);
  }
}
