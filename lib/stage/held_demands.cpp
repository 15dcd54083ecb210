#include <utility>

#include <sluice/stage/detail/held_demands.hpp>

namespace sluice::detail {

void held_demands::hold(std::size_t n) { held_.push_back(n); }

std::vector<std::size_t> held_demands::switch_to(demand_mode mode) {
  if (mode == mode_) return {};
  mode_ = mode;
  if (mode == demand_mode::accumulate) return {};
  return std::exchange(held_, {});
}

}  // namespace sluice::detail
