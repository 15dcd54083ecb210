#include <sluice/stage/subscription.hpp>

namespace sluice {

std::string to_string(const partition_id& p) {
  if (const auto* n = std::get_if<std::size_t>(&p)) return std::to_string(*n);
  return std::get<std::string>(p);
}

std::optional<std::string> subscription_options::validate() const {
  if (max_demand < 1) return "expected max_demand to be equal to or greater than 1, got: " + std::to_string(max_demand);
  const std::size_t min = effective_min_demand();
  if (min >= max_demand) {
    return "expected min_demand to be equal to or less than " + std::to_string(max_demand - 1) +
           ", got: " + std::to_string(min);
  }
  return std::nullopt;
}

}  // namespace sluice
