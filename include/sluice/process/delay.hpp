// sluice/process/delay.hpp: a timer delay in any std::chrono unit, converted without overflow.
#pragma once

#include <chrono>
#include <type_traits>

namespace sluice {

/// `d` as a steady_clock duration, saturated at its bounds instead of overflowing (hours::max()
/// is about 3.3e31 ns, far beyond the clock's 9.2e18): a delay too long to represent means
/// "never" to the timers, never a deadline in the past. A floating-point NaN gives zero.
template <class Rep, class Period>
constexpr std::chrono::steady_clock::duration saturating_delay(std::chrono::duration<Rep, Period> d) {
  using target = std::chrono::steady_clock::duration;
  // long double holds every int64 count exactly and any chrono count without overflow.
  using wide = std::chrono::duration<long double, target::period>;
  const wide w = std::chrono::duration_cast<wide>(d);
  if (w != w) return target::zero();
  if (w >= wide(target::max())) return target::max();
  if (w <= wide(target::min())) return target::min();
  if constexpr (std::is_floating_point_v<Rep>) {
    return target(static_cast<target::rep>(w.count()));
  } else {
    return std::chrono::duration_cast<target>(d);  // fits: checked above
  }
}

}  // namespace sluice
