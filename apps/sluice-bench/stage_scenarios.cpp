// sluice-bench/stage_scenarios.cpp: producer_consumer, pipeline4, partition4, broadcast4 and
// bounded_memory on sluice stages, each beside its baselines (stage_limit_baselines.hpp,
// flow_baselines.hpp); the workloads are in stage_workloads.hpp.
//
// Every sluice run uses a fresh runtime with default options (one scheduler thread per core).
// Producers emit exactly the demand they get, as one vector per handle_demand; pipeline4's middle
// stages rewrite that vector in place and pass it on (emit_in_place), as a sluice user would, so a
// source batch is allocated once and freed by the sink. The limit and tbb_flow versions copy each
// stage's output into a batch of their own (preallocated, inline arrays: no allocation either).
// The clock starts before the first subscribe (made downstream first, so the source is subscribed
// last) and stops when the last consumer has counted all the events it expects; it then tells the
// bench thread through a `completion`, which the bench thread waits on with a deadline, so a stuck
// runtime fails the run with a diagnostic instead of hanging.
//
// bounded_memory measures time, not work: each run takes 10 s. The harness has no per-scenario run
// count, so --runs N costs it 10 N s; name the other scenarios with --scenario to leave it out.
#include "stage_scenarios.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <iostream>
#include <iterator>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/iterator/counting_iterator.hpp>

#include <sluice/process/runtime.hpp>
#include <sluice/stage.hpp>
#include <sluice/stage/broadcast_dispatcher.hpp>
#include <sluice/stage/partition_dispatcher.hpp>

#include "flow_baselines.hpp"
#include "resident_memory.hpp"
#include "stage_limit_baselines.hpp"
#include "stage_workloads.hpp"

namespace sluice::bench {

namespace {

namespace wl = workload;
using clock = std::chrono::steady_clock;

/// How long the bench thread waits for one run to finish before declaring the runtime stuck.
constexpr std::chrono::seconds completion_deadline{120};

// bounded_memory: the consumer's pace and when RSS is sampled.
constexpr std::size_t slow_max_demand = 100;
constexpr std::chrono::microseconds slow_sleep_per_event{10};  // 1 ms per 100 events
constexpr std::chrono::seconds rss_first_sample{2};
constexpr std::chrono::seconds rss_second_sample{10};

double seconds_since(clock::time_point start) { return std::chrono::duration<double>(clock::now() - start).count(); }

// ---- completion ----------------------------------------------------------------------------------

/// What one consumer saw. `sum` is written by the consumer before it reports done; `count` is also
/// published as it goes, for the diagnostic of a stuck run.
struct tally {
  std::int64_t sum = 0;
  std::atomic<std::int64_t> count{0};
};

/// How the consumers of a run tell the bench thread they have all they expect.
class completion {
 public:
  explicit completion(std::size_t consumers) : remaining_(consumers) {}

  /// One consumer has everything; the last one fulfils the promise.
  void consumer_done() {
    // acq_rel: each consumer's tally happens before its decrement; the last decrement sees them all
    // and set_value publishes them to the bench thread.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.set_value();
  }

  /// Blocks until every consumer is done; throws (with the consumers' progress) on the deadline.
  template <std::size_t N>
  void await(const std::string& what, const std::array<tally, N>& tallies, const sluice::runtime& rt) {
    if (done_.get_future().wait_for(completion_deadline) == std::future_status::ready) return;
    std::string progress;
    // relaxed: a diagnostic snapshot; any recent value will do.
    for (const tally& t : tallies) progress += ' ' + std::to_string(t.count.load(std::memory_order_relaxed));
    const std::string message = what + ": not finished after " + std::to_string(completion_deadline.count()) +
                                " s (events per consumer:" + progress + ", processes alive " +
                                std::to_string(rt.size_hint()) + ")";
    // Printed at once: unwinding destroys the runtime, which may hang if the runtime is stuck.
    std::cerr << "\nsluice-bench: " << message << std::endl;
    throw std::runtime_error(message);
  }

 private:
  std::promise<void> done_;
  std::atomic<std::size_t> remaining_;
};

// ---- stages --------------------------------------------------------------------------------------

/// Emits 0, 1, 2, ... exactly as many as asked, as one vector; stops after dispatching the last one
/// if it has an `end`.
class counting_producer final : public producer<std::int64_t> {
 public:
  explicit counting_producer(std::optional<std::int64_t> end) noexcept : end_(end) {}

  void handle_demand(std::size_t demand, stage_context<std::int64_t>& ctx) override {
    const auto want = static_cast<std::int64_t>(demand);
    const std::int64_t n = end_ ? std::min(want, *end_ - next_) : want;
    if (n <= 0) return;
    // Built from the range, not zeroed and then overwritten (what the baselines' sources do too).
    std::vector<std::int64_t> batch(boost::counting_iterator<std::int64_t>(next_),
                                    boost::counting_iterator<std::int64_t>(next_ + n));
    next_ += n;
    ctx.emit(std::move(batch));
    if (end_ && next_ == *end_) ctx.stop_after_dispatch();
  }

 private:
  std::optional<std::int64_t> end_;
  std::int64_t next_ = 0;
};

/// pipeline4's x -> 2x, in place: the batch goes on as it came.
class doubler final : public producer_consumer<std::int64_t, std::int64_t> {
 public:
  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<std::int64_t>& ctx) override {
    std::transform(events.begin(), events.end(), events.begin(), wl::doubled);
    ctx.emit_in_place(events);
  }
};

/// pipeline4's filter: keeps the multiples of 4, moved to the front of the batch it came in.
class multiples_of_4 final : public producer_consumer<std::int64_t, std::int64_t> {
 public:
  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<std::int64_t>& ctx) override {
    const auto end = std::remove_if(events.begin(), events.end(), [](std::int64_t y) { return !wl::kept(y); });
    const auto kept = static_cast<std::size_t>(end - events.begin());
    if (kept != 0) ctx.emit_in_place(events.first(kept));
  }
};

/// Adds up what it receives into its tally; reports to the completion once it has `expected`.
class summing_consumer final : public consumer<std::int64_t> {
 public:
  summing_consumer(tally& t, std::int64_t expected, completion& c) noexcept
      : tally_(&t), expected_(expected), completion_(&c) {}

  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<no_events>&) override {
    sum_ = std::accumulate(events.begin(), events.end(), sum_);
    count_ += static_cast<std::int64_t>(events.size());
    tally_->count.store(count_, std::memory_order_relaxed);  // relaxed: progress for diagnostics
    if (count_ == expected_) {
      tally_->sum = sum_;
      completion_->consumer_done();
    }
  }

 private:
  tally* tally_;
  std::int64_t expected_;
  completion* completion_;
  std::int64_t sum_ = 0;
  std::int64_t count_ = 0;
};

/// bounded_memory's sink: sleeps 1 ms per 100 events it receives (so it needs a thread of its own).
class sleeping_consumer final : public consumer<std::int64_t> {
 public:
  explicit sleeping_consumer(tally& t) noexcept : tally_(&t) {}

  void handle_events(std::span<std::int64_t> events, subscription_ref, stage_context<no_events>&) override {
    std::this_thread::sleep_for(slow_sleep_per_event * events.size());
    count_ += static_cast<std::int64_t>(events.size());
    tally_->count.store(count_, std::memory_order_relaxed);  // relaxed: read only as a progress figure
  }

 private:
  tally* tally_;
  std::int64_t count_ = 0;
};

// ---- helpers -------------------------------------------------------------------------------------

subscription_options demand_window(std::size_t max = wl::max_demand, std::optional<std::size_t> min = wl::min_demand) {
  subscription_options o;
  o.max_demand = max;
  o.min_demand = min;
  return o;
}

/// Subscribes `consumer` to `producer`; throws if refused.
void subscribe_or_throw(sluice::runtime& rt, pid consumer, pid producer, subscription_options opts,
                        const std::string& what) {
  const subscribe_result r = subscribe(rt, consumer, producer, std::move(opts));
  if (!r) throw std::runtime_error(what + ": subscribe refused: " + r.error.to_string());
}

pid start_summer(sluice::runtime& rt, tally& t, std::int64_t expected, completion& c) {
  return start(rt, std::make_unique<summing_consumer>(t, expected, c));
}

measurements events_per_s(std::int64_t events, double seconds) {
  return {{"events_per_s", static_cast<double>(events) / seconds}};
}

// ---- producer_consumer and pipeline4 -------------------------------------------------------------

measurements sluice_producer_consumer() {
  const std::string what = "producer_consumer";
  const std::int64_t n = wl::producer_consumer_events;
  std::array<tally, 1> tallies{};
  completion c(1);
  sluice::runtime rt;
  const pid source = start(rt, std::make_unique<counting_producer>(n));
  const pid sink = start_summer(rt, tallies[0], n, c);
  const clock::time_point start_time = clock::now();
  subscribe_or_throw(rt, sink, source, demand_window(), what);
  c.await(what, tallies, rt);
  const double seconds = seconds_since(start_time);
  wl::expect_equal(what, "sum", tallies[0].sum, wl::sum_below(n));
  return events_per_s(n, seconds);
}

measurements sluice_pipeline4() {
  const std::string what = "pipeline4";
  const std::int64_t n = wl::pipeline4_events;
  std::array<tally, 1> tallies{};
  completion c(1);
  sluice::runtime rt;
  const pid source = start(rt, std::make_unique<counting_producer>(n));
  const pid twice = start(rt, std::make_unique<doubler>());
  const pid filter = start(rt, std::make_unique<multiples_of_4>());
  const pid sink = start_summer(rt, tallies[0], wl::pipeline4_count(n), c);
  const clock::time_point start_time = clock::now();
  subscribe_or_throw(rt, sink, filter, demand_window(), what);
  subscribe_or_throw(rt, filter, twice, demand_window(), what);
  subscribe_or_throw(rt, twice, source, demand_window(), what);
  c.await(what, tallies, rt);
  const double seconds = seconds_since(start_time);
  wl::expect_equal(what, "sum", tallies[0].sum, wl::pipeline4_sum(n));
  return events_per_s(n, seconds);
}

// ---- partition4 and broadcast4 -------------------------------------------------------------------

using fan_out_tallies = std::array<tally, wl::fan_out_consumers>;

/// Starts the fan-out's consumers, subscribes them to `source` (with `options_for(i)`), switches
/// the source to forward demand (a no-op unless it was started in accumulate mode), waits for the
/// consumers and returns the seconds from the first subscribe.
template <class OptionsFor>
double run_fan_out(sluice::runtime& rt, pid source, fan_out_tallies& tallies, completion& c,
                   const std::array<std::int64_t, wl::fan_out_consumers>& expected, OptionsFor options_for,
                   const std::string& what) {
  std::array<pid, wl::fan_out_consumers> sinks;
  for (std::size_t i = 0; i < sinks.size(); ++i) sinks[i] = start_summer(rt, tallies[i], expected[i], c);
  const clock::time_point start_time = clock::now();
  for (std::size_t i = 0; i < sinks.size(); ++i) subscribe_or_throw(rt, sinks[i], source, options_for(i), what);
  demand(rt, source, demand_mode::forward);
  c.await(what, tallies, rt);
  return seconds_since(start_time);
}

measurements sluice_partition4() {
  const std::string what = "partition4";
  const std::int64_t n = wl::fan_out_events;
  fan_out_tallies tallies{};
  completion c(wl::fan_out_consumers);
  sluice::runtime rt;
  stage_options<std::int64_t> opts;
  using dispatcher_type = partition_dispatcher<std::int64_t>;
  dispatcher_type::options by_mod_4;
  by_mod_4.partitions = wl::fan_out_consumers;
  by_mod_4.batch_index = dispatcher_type::each([](const std::int64_t& x) { return wl::partition_of(x); });
  opts.dispatcher = std::make_unique<dispatcher_type>(std::move(by_mod_4));
  const pid source = start(rt, std::make_unique<counting_producer>(n), std::move(opts));
  std::array<std::int64_t, wl::fan_out_consumers> expected{};
  for (std::size_t p = 0; p < expected.size(); ++p) expected[p] = wl::partition_count(n, p);
  const double seconds = run_fan_out(
      rt, source, tallies, c, expected,
      [](std::size_t p) {
        subscription_options o = demand_window();
        o.partition = p;
        return o;
      },
      what);
  for (std::size_t p = 0; p < tallies.size(); ++p) {
    wl::expect_equal(what + ", partition " + std::to_string(p), "sum", tallies[p].sum, wl::partition_sum(n, p));
  }
  return events_per_s(n, seconds);
}

measurements sluice_broadcast4() {
  const std::string what = "broadcast4";
  const std::int64_t n = wl::fan_out_events;
  fan_out_tallies tallies{};
  completion c(wl::fan_out_consumers);
  sluice::runtime rt;
  stage_options<std::int64_t> opts;
  opts.dispatcher = std::make_unique<broadcast_dispatcher<std::int64_t>>();
  // Accumulate until all four are subscribed (run_fan_out then switches to forward), or the first
  // one would take the first batches alone.
  opts.demand = demand_mode::accumulate;
  const pid source = start(rt, std::make_unique<counting_producer>(n), std::move(opts));
  std::array<std::int64_t, wl::fan_out_consumers> expected{};
  expected.fill(n);
  const double seconds = run_fan_out(
      rt, source, tallies, c, expected,
      [](std::size_t) { return demand_window(); },
      what);
  for (std::size_t i = 0; i < tallies.size(); ++i) {
    wl::expect_equal(what + ", consumer " + std::to_string(i), "sum", tallies[i].sum, wl::sum_below(n));
  }
  return events_per_s(n, seconds);
}

// ---- bounded_memory ------------------------------------------------------------------------------

measurements sluice_bounded_memory() {
  const std::string what = "bounded_memory";
  tally progress;
  sluice::runtime rt;
  const pid source = start(rt, std::make_unique<counting_producer>(std::nullopt));
  stage_options<no_events> sink_opts;
  sink_opts.spawn.dedicated_thread = true;  // it sleeps: keep it off the scheduler threads
  const pid sink = start(rt, std::make_unique<sleeping_consumer>(progress), std::move(sink_opts));
  const clock::time_point start_time = clock::now();
  subscribe_or_throw(rt, sink, source, demand_window(slow_max_demand, std::nullopt), what);
  // Sampling at fixed times is the measurement here, not a synchronisation.
  std::this_thread::sleep_until(start_time + rss_first_sample);
  release_free_memory();
  const std::int64_t rss_first = resident_bytes();
  // relaxed: progress figures, read to tell a stalled pipeline from a bounded one.
  const std::int64_t consumed_first = progress.count.load(std::memory_order_relaxed);
  std::this_thread::sleep_until(start_time + rss_second_sample);
  release_free_memory();
  const std::int64_t rss_second = resident_bytes();
  const std::int64_t consumed = progress.count.load(std::memory_order_relaxed) - consumed_first;
  // At 1 ms per 100 events the consumer takes 100,000 events a second; a quarter of that is a stall.
  const auto nominal = static_cast<std::int64_t>((rss_second_sample - rss_first_sample) / slow_sleep_per_event);
  if (consumed < nominal / 4) {
    throw std::runtime_error(what + ": the consumer took only " + std::to_string(consumed) + " events in " +
                             std::to_string((rss_second_sample - rss_first_sample).count()) + " s (nominal " +
                             std::to_string(nominal) + ")");
  }
  return {{"rss_growth_bytes", static_cast<double>(rss_second - rss_first)}};
}

// ---- the other systems ---------------------------------------------------------------------------

template <double (*Seconds)(std::int64_t), std::int64_t Events>
measurements baseline() {
  return events_per_s(Events, Seconds(Events));
}

}  // namespace

std::vector<scenario> stage_scenarios() {
  const std::vector<metric> throughput{{"events_per_s", better::higher}};
  return {
      {"producer_consumer",
       "20,000,000 int64_t from a counting producer to a summing consumer (max_demand 1000, "
       "min_demand 500: batches of 500)",
       throughput,
       {{"sluice", sluice_producer_consumer},
        {"limit", baseline<limit_stage_producer_consumer_seconds, wl::producer_consumer_events>},
        {"tbb_flow", baseline<flow_producer_consumer_seconds, wl::producer_consumer_events>}}},
      {"pipeline4",
       "10,000,000 int64_t through producer -> x*2 -> keep multiples of 4 -> sum; source events/s",
       throughput,
       {{"sluice", sluice_pipeline4},
        {"limit", baseline<limit_stage_pipeline4_seconds, wl::pipeline4_events>},
        {"tbb_flow", baseline<flow_pipeline4_seconds, wl::pipeline4_events>}}},
      {"partition4",
       "10,000,000 int64_t from one producer to 4 consumers through a partition dispatcher "
       "(x mod 4); source events/s",
       throughput,
       {{"sluice", sluice_partition4},
        {"limit", baseline<limit_stage_partition4_seconds, wl::fan_out_events>},
        {"tbb_flow", baseline<flow_partition4_seconds, wl::fan_out_events>}}},
      {"broadcast4",
       "10,000,000 int64_t from one producer to each of 4 consumers through a broadcast "
       "dispatcher; source events/s",
       throughput,
       {{"sluice", sluice_broadcast4},
        {"limit", baseline<limit_stage_broadcast4_seconds, wl::fan_out_events>},
        {"tbb_flow", baseline<flow_broadcast4_seconds, wl::fan_out_events>}}},
      {"bounded_memory",
       "an endless producer and a consumer sleeping 1 ms per 100 events (max_demand 100, on a "
       "dedicated thread): RSS growth from second 2 to second 10. Takes 10 s per run",
       {{"rss_growth_bytes", better::lower}},
       {{"sluice", sluice_bounded_memory}}},
  };
}

}  // namespace sluice::bench
