// sluice/stage/detail/producer_demand.hpp: a consumer's demand on one producer (min/max chunks).
#pragma once

#include <algorithm>
#include <cstddef>

#include <sluice/process/pid.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::detail {

/// One subscription as its consumer sees it, with GenStage's consumer arithmetic (GenStage docs:
/// max_demand, min_demand): a batch is cut into chunks of max - min; after each chunk, if the
/// demand left is at or below min, the consumer asks for max - demand. Inline: it runs per batch.
struct producer_demand {
  pid producer;
  cancel_mode cancel = cancel_mode::permanent;
  bool manual = true;      // until handle_subscribe chose automatic demand
  std::size_t demand = 0;  // asked and not received yet
  std::size_t min = 0;
  std::size_t max = 0;

  /// One chunk of a batch: how many events to hand over, and how many to ask for after it.
  struct chunk {
    std::size_t size;
    std::size_t ask_again;
  };

  /// Automatic demand starts: the first ask, of max_demand.
  [[nodiscard]] std::size_t start_automatic() noexcept {
    manual = false;
    demand = max;
    return max;
  }
  /// Of a batch of `n` events, how many count against the demand: never more than asked.
  [[nodiscard]] std::size_t allowed(std::size_t n) const noexcept { return std::min(n, demand); }
  /// The next chunk with `left` allowed events still to hand over (`left` > 0).
  [[nodiscard]] chunk next_chunk(std::size_t left) noexcept {
    const std::size_t size = std::min(max - min, left);
    demand -= size;
    if (demand > min) return {size, 0};
    const std::size_t again = max - demand;
    demand = max;
    return {size, again};
  }
};

}  // namespace sluice::detail
