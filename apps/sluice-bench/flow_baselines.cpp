// sluice-bench/flow_baselines.cpp: the stage workloads as oneTBB flow graphs.
#include "flow_baselines.hpp"

#include <oneapi/tbb/flow_graph.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <numeric>
#include <string>
#include <tuple>

#include "stage_workloads.hpp"

namespace sluice::bench {

namespace {

namespace wl = workload;
namespace flow = tbb::flow;

/// One message: a batch of events, `size` of `events` valid.
struct flow_batch {
  std::size_t size = 0;
  std::array<std::int64_t, wl::batch_events> events;

  [[nodiscard]] auto begin() const noexcept { return events.begin(); }
  [[nodiscard]] auto end() const noexcept { return events.begin() + static_cast<std::ptrdiff_t>(size); }
};

using source_node = flow::input_node<flow_batch>;
using limiter = flow::limiter_node<flow_batch>;
using transform_node = flow::function_node<flow_batch, flow_batch>;
using sink_node = flow::function_node<flow_batch, flow::continue_msg>;

/// What one consumer saw.
struct tally {
  std::int64_t count = 0;
  std::int64_t sum = 0;
};

/// The input_node's body (copied into the node, so its state lives outside): 0, 1, ... in batches.
class source_body {
 public:
  source_body(std::int64_t& next, std::int64_t end) noexcept : next_(&next), end_(end) {}
  flow_batch operator()(tbb::flow_control& control) const {
    flow_batch b;
    if (*next_ >= end_) {
      control.stop();
      return b;
    }
    b.size = static_cast<std::size_t>(std::min<std::int64_t>(wl::batch_events, end_ - *next_));
    std::iota(b.events.begin(), b.events.begin() + static_cast<std::ptrdiff_t>(b.size), *next_);
    *next_ += static_cast<std::int64_t>(b.size);
    return b;
  }

 private:
  std::int64_t* next_;
  std::int64_t end_;
};

/// A serial sink adding up what it receives into `t`.
sink_node summing_sink(flow::graph& g, tally& t) {
  return sink_node(g, flow::serial, [&t](const flow_batch& b) {
    t.sum = std::accumulate(b.begin(), b.end(), t.sum);
    t.count += static_cast<std::int64_t>(b.size);
    return flow::continue_msg{};
  });
}

/// Activates `source` and waits for the graph to finish; the seconds this took.
double run_graph(flow::graph& g, source_node& source) {
  const auto start = std::chrono::steady_clock::now();
  source.activate();
  g.wait_for_all();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double flow_producer_consumer_seconds(std::int64_t events) {
  flow::graph g;
  std::int64_t next = 0;
  tally t;
  source_node source(g, source_body(next, events));
  limiter window(g, wl::window_batches);
  sink_node sink = summing_sink(g, t);
  flow::make_edge(source, window);
  flow::make_edge(window, sink);
  flow::make_edge(sink, window.decrementer());
  const double seconds = run_graph(g, source);
  wl::expect_equal("tbb_flow producer_consumer", "count", t.count, events);
  wl::expect_equal("tbb_flow producer_consumer", "sum", t.sum, wl::sum_below(events));
  return seconds;
}

double flow_pipeline4_seconds(std::int64_t events) {
  flow::graph g;
  std::int64_t next = 0;
  tally t;
  source_node source(g, source_body(next, events));
  limiter window(g, wl::window_batches);
  transform_node doubler(g, flow::serial, [](const flow_batch& in) {
    flow_batch out;
    out.size = in.size;
    std::transform(in.begin(), in.end(), out.events.begin(), wl::doubled);
    return out;
  });
  transform_node filter(g, flow::serial, [](const flow_batch& in) {
    flow_batch out;
    out.size = static_cast<std::size_t>(std::copy_if(in.begin(), in.end(), out.events.begin(), wl::kept) -
                                        out.events.begin());
    return out;
  });
  sink_node sink = summing_sink(g, t);
  flow::make_edge(source, window);
  flow::make_edge(window, doubler);
  flow::make_edge(doubler, filter);
  flow::make_edge(filter, sink);
  flow::make_edge(sink, window.decrementer());
  const double seconds = run_graph(g, source);
  wl::expect_equal("tbb_flow pipeline4", "count", t.count, wl::pipeline4_count(events));
  wl::expect_equal("tbb_flow pipeline4", "sum", t.sum, wl::pipeline4_sum(events));
  return seconds;
}

double flow_partition4_seconds(std::int64_t events) {
  static_assert(wl::fan_out_consumers == 4, "the partitioner's output tuple has four ports");
  using parts = std::tuple<flow_batch, flow_batch, flow_batch, flow_batch>;
  using partitioner_node = flow::multifunction_node<flow_batch, parts>;
  flow::graph g;
  std::int64_t next = 0;
  std::array<tally, wl::fan_out_consumers> tallies{};
  source_node source(g, source_body(next, events));
  limiter window(g, wl::window_batches);
  partitioner_node partitioner(g, flow::serial, [](const flow_batch& in, partitioner_node::output_ports_type& ports) {
    std::array<flow_batch, wl::fan_out_consumers> out;
    for (const std::int64_t x : in) {
      flow_batch& part = out[wl::partition_of(x)];
      part.events[part.size++] = x;
    }
    std::get<0>(ports).try_put(out[0]);
    std::get<1>(ports).try_put(out[1]);
    std::get<2>(ports).try_put(out[2]);
    std::get<3>(ports).try_put(out[3]);
  });
  std::array<sink_node, wl::fan_out_consumers> sinks{summing_sink(g, tallies[0]), summing_sink(g, tallies[1]),
                                                     summing_sink(g, tallies[2]), summing_sink(g, tallies[3])};
  flow::make_edge(source, window);
  flow::make_edge(window, partitioner);
  flow::make_edge(flow::output_port<0>(partitioner), sinks[0]);
  flow::make_edge(flow::output_port<1>(partitioner), sinks[1]);
  flow::make_edge(flow::output_port<2>(partitioner), sinks[2]);
  flow::make_edge(flow::output_port<3>(partitioner), sinks[3]);
  for (sink_node& s : sinks) flow::make_edge(s, window.decrementer());
  const double seconds = run_graph(g, source);
  for (std::size_t p = 0; p < tallies.size(); ++p) {
    const std::string what = "tbb_flow partition4, partition " + std::to_string(p);
    wl::expect_equal(what, "count", tallies[p].count, wl::partition_count(events, p));
    wl::expect_equal(what, "sum", tallies[p].sum, wl::partition_sum(events, p));
  }
  return seconds;
}

double flow_broadcast4_seconds(std::int64_t events) {
  flow::graph g;
  std::int64_t next = 0;
  std::array<tally, wl::fan_out_consumers> tallies{};
  source_node source(g, source_body(next, events));
  limiter window(g, wl::window_batches);
  std::array<sink_node, wl::fan_out_consumers> sinks{summing_sink(g, tallies[0]), summing_sink(g, tallies[1]),
                                                     summing_sink(g, tallies[2]), summing_sink(g, tallies[3])};
  flow::make_edge(source, window);
  for (sink_node& s : sinks) {
    flow::make_edge(window, s);
    flow::make_edge(s, window.decrementer());
  }
  const double seconds = run_graph(g, source);
  for (std::size_t c = 0; c < tallies.size(); ++c) {
    const std::string what = "tbb_flow broadcast4, consumer " + std::to_string(c);
    wl::expect_equal(what, "count", tallies[c].count, events);
    wl::expect_equal(what, "sum", tallies[c].sum, wl::sum_below(events));
  }
  return seconds;
}

}  // namespace sluice::bench
