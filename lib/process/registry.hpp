// lib/process/registry.hpp: names -> pids. A mutex-guarded map: registration is not a hot path.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <sluice/process/pid.hpp>

namespace sluice::internal {

class registry {
 public:
  /// Adds `name` -> `p`; false if the name is taken.
  bool add(const std::string& name, pid p);
  /// Removes `name`; false if absent.
  bool remove(const std::string& name);
  /// Removes every name of `p` (its process exited).
  void remove_all(pid p);
  [[nodiscard]] std::optional<pid> find(const std::string& name) const;

 private:
  mutable std::mutex mutex_;  // guards names_
  std::unordered_map<std::string, pid> names_;
};

}  // namespace sluice::internal
