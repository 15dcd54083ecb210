// sluice/stage/detail/held_demands.hpp: a producer's demand mode and the demands it holds.
#pragma once

#include <cstddef>
#include <vector>

#include <sluice/stage/subscription.hpp>

namespace sluice::detail {

/// A producer's demand mode (GenStage's demand: :accumulate / :forward). While accumulating, the
/// upstream demand the producer would pass to handle_demand is held, each demand on its own, in
/// arrival order; switching to forward hands them back for replay, never summed (GenStage PR
/// #138). Used only inside the owning stage's process.
class held_demands {
 public:
  explicit held_demands(demand_mode mode) noexcept : mode_(mode) {}

  [[nodiscard]] demand_mode mode() const noexcept { return mode_; }
  [[nodiscard]] bool accumulating() const noexcept { return mode_ == demand_mode::accumulate; }
  [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }

  /// Holds a demand of `n` (accumulate mode).
  void hold(std::size_t n);
  /// Switches to `mode`; returns the held demands to replay, in arrival order, when that switched
  /// to forward (else nothing).
  [[nodiscard]] std::vector<std::size_t> switch_to(demand_mode mode);
  /// Forgets the held demands (a drained producer makes nothing more).
  void drop() noexcept { held_.clear(); }

 private:
  demand_mode mode_;
  std::vector<std::size_t> held_;
};

}  // namespace sluice::detail
