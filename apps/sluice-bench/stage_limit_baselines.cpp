// sluice-bench/stage_limit_baselines.cpp: the stage workloads as bare batch hand-offs between two
// pinned threads (see the header for the layout of each graph on two cores).
#include "stage_limit_baselines.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <memory>
#include <numeric>
#include <string>
#include <utility>

#include "pinned_pair.hpp"
#include "spsc_ring.hpp"
#include "stage_workloads.hpp"

namespace sluice::bench {

namespace {

namespace wl = workload;

/// One batch of events, filled in place; `size` of `events` are valid.
struct batch {
  std::size_t size = 0;
  std::array<std::int64_t, wl::batch_events> events;
};

/// One edge of the graph: a pool of `window_batches` batches cycling producer -> consumer ->
/// producer through two rings. The producer side (acquire, publish) belongs to one thread, the
/// consumer side (try_receive, receive, release) to another.
class batch_channel {
 public:
  batch_channel() {
    for (batch& b : pool_) put(free_, &b);
  }
  batch_channel(const batch_channel&) = delete;
  batch_channel& operator=(const batch_channel&) = delete;

  /// Producer: an empty batch to fill, waiting until the consumer has given one back.
  batch* acquire() {
    batch* b = nullptr;
    spin_until([&] { return free_.try_pop(b); });
    b->size = 0;
    return b;
  }
  /// Producer: hands a filled batch to the consumer.
  void publish(batch* b) noexcept { put(full_, b); }
  /// Consumer: the oldest filled batch, or nullptr if there is none.
  batch* try_receive() noexcept {
    batch* b = nullptr;
    return full_.try_pop(b) ? b : nullptr;
  }
  /// Consumer: the oldest filled batch, waiting for one.
  batch* receive() {
    batch* b = nullptr;
    spin_until([&] { return (b = try_receive()) != nullptr; });
    return b;
  }
  /// Consumer: gives a handled batch back to the producer.
  void release(batch* b) noexcept { put(free_, b); }

 private:
  using ring = spsc_ring<batch*, wl::window_batches>;

  /// Never waits: both rings can hold the whole pool.
  static void put(ring& r, batch* b) noexcept {
    [[maybe_unused]] const bool pushed = r.try_push(b);
    assert(pushed);
  }

  std::array<batch, wl::window_batches> pool_;
  ring full_;
  ring free_;
};

using fan_out_channels = std::array<batch_channel, wl::fan_out_consumers>;

/// The source: fills `b` with next, next + 1, ... (at most a batch, never reaching `end`).
void fill_source(batch& b, std::int64_t& next, std::int64_t end) noexcept {
  b.size = static_cast<std::size_t>(std::min<std::int64_t>(wl::batch_events, end - next));
  std::iota(b.events.begin(), b.events.begin() + static_cast<std::ptrdiff_t>(b.size), next);
  next += static_cast<std::int64_t>(b.size);
}

std::int64_t sum_of(const batch& b) noexcept {
  return std::accumulate(b.events.begin(), b.events.begin() + static_cast<std::ptrdiff_t>(b.size), std::int64_t{0});
}

/// What one consumer of a fan-out saw.
struct tally {
  std::int64_t count = 0;
  std::int64_t sum = 0;
};
using fan_out_tallies = std::array<tally, wl::fan_out_consumers>;

/// The four consumers of a fan-out as one thread: serves the rings round-robin, taking one batch
/// from each ring that has one, until `total` events have arrived over all of them.
void serve_round_robin(fan_out_channels& channels, std::int64_t total, fan_out_tallies& tallies) {
  std::int64_t received = 0;
  spin_wait w;
  while (received < total) {
    bool any = false;
    for (std::size_t c = 0; c < channels.size(); ++c) {
      batch* b = channels[c].try_receive();
      if (b == nullptr) continue;
      tallies[c].sum += sum_of(*b);
      tallies[c].count += static_cast<std::int64_t>(b->size);
      received += static_cast<std::int64_t>(b->size);
      channels[c].release(b);
      any = true;
    }
    if (any) {
      w.reset();
    } else {
      w.pause();
    }
  }
}

/// partition4's source and dispatcher: appends each event to its partition's open batch and sends
/// the batch when full; sends the partly filled ones at the end.
void partition_source(fan_out_channels& channels, std::int64_t events) {
  std::array<batch*, wl::fan_out_consumers> open{};
  batch source;
  for (std::int64_t next = 0; next < events;) {
    fill_source(source, next, events);
    for (std::size_t i = 0; i < source.size; ++i) {
      const std::int64_t x = source.events[i];
      const std::size_t p = wl::partition_of(x);
      if (open[p] == nullptr) open[p] = channels[p].acquire();
      open[p]->events[open[p]->size++] = x;
      if (open[p]->size == wl::batch_events) channels[p].publish(std::exchange(open[p], nullptr));
    }
  }
  for (std::size_t p = 0; p < open.size(); ++p) {
    if (open[p] != nullptr) channels[p].publish(open[p]);
  }
}

/// broadcast4's source and dispatcher: copies each source batch into every consumer's ring.
void broadcast_source(fan_out_channels& channels, std::int64_t events) {
  batch source;
  for (std::int64_t next = 0; next < events;) {
    fill_source(source, next, events);
    for (batch_channel& c : channels) {
      batch* b = c.acquire();
      b->size = source.size;
      std::copy_n(source.events.begin(), source.size, b->events.begin());
      c.publish(b);
    }
  }
}

}  // namespace

double limit_stage_producer_consumer_seconds(std::int64_t events) {
  const auto edge = std::make_unique<batch_channel>();
  tally t;
  const double seconds = run_pinned_pair(
      [&] {
        for (std::int64_t next = 0; next < events;) {
          batch* b = edge->acquire();
          fill_source(*b, next, events);
          edge->publish(b);
        }
      },
      [&] {
        while (t.count < events) {
          batch* b = edge->receive();
          t.sum += sum_of(*b);
          t.count += static_cast<std::int64_t>(b->size);
          edge->release(b);
        }
      });
  wl::expect_equal("limit producer_consumer", "sum", t.sum, wl::sum_below(events));
  return seconds;
}

double limit_stage_pipeline4_seconds(std::int64_t events) {
  const auto middle = std::make_unique<batch_channel>();
  tally t;
  const double seconds = run_pinned_pair(
      [&] {
        batch source;
        for (std::int64_t next = 0; next < events;) {
          fill_source(source, next, events);
          batch* b = middle->acquire();
          std::transform(source.events.begin(), source.events.begin() + static_cast<std::ptrdiff_t>(source.size),
                         b->events.begin(), wl::doubled);
          b->size = source.size;
          middle->publish(b);
        }
      },
      [&] {
        batch filtered;
        for (std::int64_t received = 0; received < events;) {
          batch* b = middle->receive();
          const auto end = std::copy_if(b->events.begin(), b->events.begin() + static_cast<std::ptrdiff_t>(b->size),
                                        filtered.events.begin(), wl::kept);
          filtered.size = static_cast<std::size_t>(end - filtered.events.begin());
          received += static_cast<std::int64_t>(b->size);
          middle->release(b);
          t.sum += sum_of(filtered);
          t.count += static_cast<std::int64_t>(filtered.size);
        }
      });
  wl::expect_equal("limit pipeline4", "count", t.count, wl::pipeline4_count(events));
  wl::expect_equal("limit pipeline4", "sum", t.sum, wl::pipeline4_sum(events));
  return seconds;
}

double limit_stage_partition4_seconds(std::int64_t events) {
  const auto channels = std::make_unique<fan_out_channels>();
  fan_out_tallies tallies{};
  const double seconds = run_pinned_pair([&] { partition_source(*channels, events); },
                                         [&] { serve_round_robin(*channels, events, tallies); });
  for (std::size_t p = 0; p < tallies.size(); ++p) {
    const std::string what = "limit partition4, partition " + std::to_string(p);
    wl::expect_equal(what, "count", tallies[p].count, wl::partition_count(events, p));
    wl::expect_equal(what, "sum", tallies[p].sum, wl::partition_sum(events, p));
  }
  return seconds;
}

double limit_stage_broadcast4_seconds(std::int64_t events) {
  const auto channels = std::make_unique<fan_out_channels>();
  fan_out_tallies tallies{};
  const auto total = events * static_cast<std::int64_t>(wl::fan_out_consumers);
  const double seconds = run_pinned_pair([&] { broadcast_source(*channels, events); },
                                         [&] { serve_round_robin(*channels, total, tallies); });
  for (std::size_t c = 0; c < tallies.size(); ++c) {
    const std::string what = "limit broadcast4, consumer " + std::to_string(c);
    wl::expect_equal(what, "count", tallies[c].count, events);
    wl::expect_equal(what, "sum", tallies[c].sum, wl::sum_below(events));
  }
  return seconds;
}

}  // namespace sluice::bench
