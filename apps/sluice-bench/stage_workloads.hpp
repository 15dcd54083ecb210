// sluice-bench/stage_workloads.hpp: the stage scenarios' workloads, shared by their three systems
// (`sluice`, `limit`, `tbb_flow`) so that all of them do, and check, exactly the same work.
//
// Every source emits 0, 1, 2, ... as std::int64_t, in batches of `batch_events` (what max_demand
// 1000 / min_demand 500 amounts to: a consumer re-asks for 500 each time it has handled 500). At
// most `window_batches` batches are in flight on an edge: a consumer's max_demand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sluice::bench::workload {

inline constexpr std::size_t max_demand = 1000;
inline constexpr std::size_t min_demand = 500;
/// Events per batch: a consumer asks again after each max_demand - min_demand events.
inline constexpr std::size_t batch_events = max_demand - min_demand;
/// Batches in flight on one edge at most: max_demand / batch_events.
inline constexpr std::size_t window_batches = max_demand / batch_events;

inline constexpr std::int64_t producer_consumer_events = 20'000'000;
inline constexpr std::int64_t pipeline4_events = 10'000'000;
inline constexpr std::int64_t fan_out_events = 10'000'000;  ///< partition4 and broadcast4
inline constexpr std::size_t fan_out_consumers = 4;

/// 0 + 1 + ... + (n - 1).
constexpr std::int64_t sum_below(std::int64_t n) noexcept { return n * (n - 1) / 2; }

// ---- pipeline4: x -> 2x -> keep multiples of 4 -> sum -------------------------------------------
constexpr std::int64_t doubled(std::int64_t x) noexcept { return 2 * x; }
constexpr bool kept(std::int64_t y) noexcept { return y % 4 == 0; }
/// How many of the first `n` source events reach pipeline4's sink: 2x % 4 == 0 for even x.
constexpr std::int64_t pipeline4_count(std::int64_t n) noexcept { return (n + 1) / 2; }
/// Their sum: 2 * (0 + 2 + 4 + ...), the evens below n.
constexpr std::int64_t pipeline4_sum(std::int64_t n) noexcept {
  const std::int64_t evens = pipeline4_count(n);
  return 2 * 2 * sum_below(evens);
}

// ---- partition4: x to partition x mod 4 ---------------------------------------------------------
constexpr std::size_t partition_of(std::int64_t x) noexcept {
  return static_cast<std::size_t>(x % static_cast<std::int64_t>(fan_out_consumers));
}
/// How many of 0 .. n-1 fall into partition `p`.
constexpr std::int64_t partition_count(std::int64_t n, std::size_t p) noexcept {
  const auto parts = static_cast<std::int64_t>(fan_out_consumers);
  const auto first = static_cast<std::int64_t>(p);
  return n > first ? (n - first + parts - 1) / parts : 0;
}
/// Their sum: p + (p + 4) + (p + 8) + ...
constexpr std::int64_t partition_sum(std::int64_t n, std::size_t p) noexcept {
  const std::int64_t count = partition_count(n, p);
  return static_cast<std::int64_t>(fan_out_consumers) * sum_below(count) + static_cast<std::int64_t>(p) * count;
}

/// Throws "<what>: <name> is <got>, expected <want>" unless got == want.
inline void expect_equal(const std::string& what, const char* name, std::int64_t got, std::int64_t want) {
  if (got != want) {
    throw std::runtime_error(what + ": " + name + " is " + std::to_string(got) + ", expected " + std::to_string(want));
  }
}

}  // namespace sluice::bench::workload
