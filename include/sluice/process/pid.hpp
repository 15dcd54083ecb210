// sluice/process/pid.hpp: the handle by which a process is named.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace sluice {

/// A process identifier: a small copyable value (slot index + generation).
///
/// A pid stays safe to use after its process died: the generation no longer matches the slot, so a
/// send to it is a defined no-op that reports `send_result::closed`. A pid is meaningful only within
/// the runtime that spawned it. The default-constructed pid names no process. Thread-safe (a value).
struct pid {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;

  /// True when this pid was produced by a spawn (it may still name a dead process).
  [[nodiscard]] constexpr bool valid() const noexcept { return generation != 0; }
  friend constexpr auto operator<=>(const pid&, const pid&) = default;

  /// Erlang-like text form, e.g. `<0.42.1>`.
  [[nodiscard]] std::string to_string() const {
    return "<0." + std::to_string(index) + "." + std::to_string(generation) + ">";
  }
};

}  // namespace sluice

template <>
struct std::hash<sluice::pid> {
  std::size_t operator()(const sluice::pid& p) const noexcept {
    return std::hash<std::uint64_t>{}((std::uint64_t{p.generation} << 32) | p.index);
  }
};
