// sluice-bench/window_scenarios.cpp: window_count: 10,000,000 events over 10,000 keys, counted per
// key in 1 s tumbling windows of event time (1,000 events per ms of event time: 10 windows per key,
// 100,000 results), on sluice's window stage (sluice/flow/window_stage.hpp) with 1 and 2 copies
// (a partition dispatcher on the key), beside `limit`: a single-threaded loop over the same events
// with one hash map from key to (window, count), emitting a key's count when its window changes
// (it relies on the input being in time order; the stage does not). Each run checks that the
// counts add up to the events. Peak memory is the process's VmHWM over the run (reset first
// through /proc/self/clear_refs), so it includes the program itself.
#include "window_scenarios.hpp"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <sluice/flow/aggregations.hpp>
#include <sluice/flow/window_stage.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage.hpp>
#include <sluice/stage/partition_dispatcher.hpp>

#include "resident_memory.hpp"

namespace sluice::bench {

namespace {

using clock = std::chrono::steady_clock;

constexpr std::int64_t window_events = 10'000'000;
constexpr std::uint32_t window_keys = 10'000;
constexpr std::int64_t events_per_ms = 1000;
constexpr std::int64_t window_ms = 1000;
constexpr std::int64_t epoch_ms = 1'700'000'000'000;
constexpr std::chrono::seconds deadline{300};
/// Events in flight per subscription (asked again at half): a window stage's input is a stream of
/// small events, so larger batches than the stage scenarios' 1,000 amortise the hand-offs.
constexpr std::size_t max_demand = 10'000;

struct keyed_event {
  std::uint32_t key;
  std::int64_t time_ms;
};

/// Event i: keys visited in a scrambled but fixed order, time advancing 1 ms per 1,000 events.
keyed_event event_at(std::int64_t i) noexcept {
  return {static_cast<std::uint32_t>((static_cast<std::uint64_t>(i) * 7919) % window_keys), epoch_ms + i / events_per_ms};
}

// ---- peak memory ---------------------------------------------------------------------------------

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";  // Linux 4.0+: VmHWM := the current RSS
}

double peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024;  // "VmHWM:   1234 kB"
  }
  throw std::runtime_error("no VmHWM in /proc/self/status");
}

// ---- sluice --------------------------------------------------------------------------------------

class event_source final : public producer<keyed_event> {
 public:
  void handle_demand(std::size_t demand, stage_context<keyed_event>& ctx) override {
    const std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(demand), window_events - next_);
    std::vector<keyed_event> batch;
    batch.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) batch.push_back(event_at(next_++));
    ctx.emit(std::move(batch));
    if (next_ == window_events) ctx.stop_after_dispatch();
  }

 private:
  std::int64_t next_ = 0;
};

using count_output = flow::window_output<keyed_event, std::uint32_t, std::uint64_t>;

/// Adds up the windows' counts; done once they cover every event.
class count_sink final : public consumer<count_output> {
 public:
  explicit count_sink(std::promise<std::uint64_t>& done) : done_(&done) {}
  void handle_events(std::span<count_output> events, subscription_ref, stage_context<no_events>&) override {
    for (const count_output& o : events) {
      if (const auto* r = std::get_if<flow::window_result<std::uint32_t, std::uint64_t>>(&o)) {
        total_ += r->value;
        ++results_;
      }
    }
    if (total_ == static_cast<std::uint64_t>(window_events)) done_->set_value(results_);
  }

 private:
  std::promise<std::uint64_t>* done_;
  std::uint64_t total_ = 0;
  std::uint64_t results_ = 0;
};

flow::window_spec count_spec() {
  flow::window_spec s;
  s.kind = flow::window_kind::tumbling;
  s.size_ms = window_ms;
  return s;
}

auto make_counter() {
  return flow::make_window_stage<keyed_event>(
      count_spec(), flow::count_of<std::uint32_t>{}, [](const keyed_event& e) { return e.key; },
      [](const keyed_event& e) { return e.time_ms; }, [](const keyed_event&) { return std::uint32_t{0}; });
}

subscription_options window_demand(cancel_mode cancel, std::optional<std::size_t> partition = std::nullopt) {
  subscription_options o;
  o.max_demand = max_demand;
  o.min_demand = max_demand / 2;
  o.partition = partition;
  o.cancel = cancel;
  return o;
}

void subscribe_or_throw(sluice::runtime& rt, pid consumer, pid producer, subscription_options o) {
  const subscribe_result r = subscribe(rt, consumer, producer, std::move(o));
  if (!r) throw std::runtime_error("window_count: subscribe refused: " + r.error.to_string());
}

measurements sluice_window_count(std::size_t copies) {
  release_free_memory();
  reset_peak_rss();
  std::promise<std::uint64_t> done;
  sluice::runtime rt;
  stage_options<keyed_event> source_opts;
  if (copies > 1) {
    using dispatcher_type = partition_dispatcher<keyed_event>;
    dispatcher_type::options by_key;
    by_key.partitions = copies;
    by_key.batch_index = dispatcher_type::each([copies](const keyed_event& e) { return e.key % copies; });
    source_opts.dispatcher = std::make_unique<dispatcher_type>(std::move(by_key));
    source_opts.demand = demand_mode::accumulate;  // until every copy has subscribed
  }
  const pid source = start(rt, std::make_unique<event_source>(), std::move(source_opts));
  const pid sink = start(rt, std::make_unique<count_sink>(done));
  const clock::time_point start_time = clock::now();
  for (std::size_t c = 0; c < copies; ++c) {
    const pid counter = start(rt, make_counter());
    // The sink has one subscription per copy: the first copy to finish must not end it
    // (transient). A copy's input ends with the source (permanent): then its open windows go out.
    subscribe_or_throw(rt, sink, counter, window_demand(cancel_mode::transient));
    subscribe_or_throw(rt, counter, source,
                       window_demand(cancel_mode::permanent, copies > 1 ? std::optional<std::size_t>(c) : std::nullopt));
  }
  if (copies > 1) demand(rt, source, demand_mode::forward);
  auto f = done.get_future();
  if (f.wait_for(deadline) != std::future_status::ready) throw std::runtime_error("window_count: not finished after 300 s");
  const double seconds = std::chrono::duration<double>(clock::now() - start_time).count();
  const std::uint64_t results = f.get();
  const std::uint64_t want = window_keys * static_cast<std::uint64_t>(window_events / events_per_ms / window_ms);
  if (results != want) throw std::runtime_error("window_count: " + std::to_string(results) + " results, expected " + std::to_string(want));
  return {{"events_per_s", static_cast<double>(window_events) / seconds}, {"peak_rss_bytes", peak_rss_bytes()}};
}

// ---- limit ---------------------------------------------------------------------------------------

measurements limit_window_count() {
  release_free_memory();
  reset_peak_rss();
  const clock::time_point start_time = clock::now();
  struct open_window {
    std::int64_t window = -1;
    std::uint64_t count = 0;
  };
  std::unordered_map<std::uint32_t, open_window> open;
  std::uint64_t total = 0;
  std::uint64_t results = 0;
  for (std::int64_t i = 0; i < window_events; ++i) {
    const keyed_event e = event_at(i);
    const std::int64_t w = e.time_ms / window_ms;
    open_window& o = open[e.key];
    if (o.window != w) {
      if (o.count != 0) {
        total += o.count;
        ++results;
      }
      o = {w, 0};
    }
    ++o.count;
  }
  for (auto& [k, o] : open) {
    total += o.count;
    ++results;
  }
  const double seconds = std::chrono::duration<double>(clock::now() - start_time).count();
  if (total != static_cast<std::uint64_t>(window_events)) throw std::runtime_error("window_count limit: counts add up to " + std::to_string(total));
  (void)results;
  return {{"events_per_s", static_cast<double>(window_events) / seconds}, {"peak_rss_bytes", peak_rss_bytes()}};
}

}  // namespace

std::vector<scenario> window_scenarios() {
  return {
      {"window_count",
       "10,000,000 events over 10,000 keys counted per key in 1 s tumbling windows of event time "
       "(100,000 results), on the window stage with 1 copy (sluice) and 2 copies (sluice_x2, a "
       "partition dispatcher on the key), beside a single-threaded hash-map loop (limit)",
       {{"events_per_s", better::higher}, {"peak_rss_bytes", better::lower}},
       {{"sluice", [] { return sluice_window_count(1); }},
        {"sluice_x2", [] { return sluice_window_count(2); }},
        {"limit", limit_window_count}}},
  };
}

}  // namespace sluice::bench
