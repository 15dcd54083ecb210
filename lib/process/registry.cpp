#include "process/registry.hpp"

#include <iterator>

namespace sluice::internal {

bool registry::add(const std::string& name, pid p) {
  std::lock_guard lock(mutex_);
  return names_.emplace(name, p).second;
}

bool registry::remove(const std::string& name) {
  std::lock_guard lock(mutex_);
  return names_.erase(name) > 0;
}

void registry::remove_all(pid p) {
  std::lock_guard lock(mutex_);
  for (auto it = names_.begin(); it != names_.end();) {
    it = (it->second == p) ? names_.erase(it) : std::next(it);
  }
}

std::optional<pid> registry::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sluice::internal
