// sluice/process/restart_window.hpp: "at most N restarts within S seconds", the rule a supervisor,
// a consumer supervisor and a running pipeline apply before they restart a child.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

namespace sluice {

/// Counts restarts in a sliding window and says whether one more is allowed: a restart at `t`
/// counts at `now` while `now <= t + period` (OTP's and GenStage's boundary, inclusive). As in
/// OTP, a period of whole seconds is counted in whole seconds of the monotonic clock, so a period
/// of 0 still counts the restarts made within the same second (a restart loop trips it); other
/// periods (sluice accepts fractions, e.g. 500 ms) are compared exactly.
///
/// Not thread-safe: one owner (a supervisor's process) uses it.
class restart_window {
 public:
  using clock = std::chrono::steady_clock;

  /// `max_restarts` >= 0; `period` >= 0.
  restart_window(std::size_t max_restarts, clock::duration period) noexcept
      : max_restarts_(max_restarts), period_(period) {}

  /// Records a restart at `now`; true if it keeps within the allowance (at most max_restarts in
  /// the window, this one included). A refused restart is recorded too: the owner gives up.
  [[nodiscard]] bool try_restart(clock::time_point now = clock::now());

  /// The restarts within the window as of the last try_restart (this one included).
  [[nodiscard]] std::size_t recent() const noexcept { return restarts_.size(); }

  [[nodiscard]] std::size_t max_restarts() const noexcept { return max_restarts_; }
  [[nodiscard]] clock::duration period() const noexcept { return period_; }

 private:
  [[nodiscard]] bool expired(clock::time_point t, clock::time_point now) const noexcept;

  std::size_t max_restarts_;
  clock::duration period_;
  std::deque<clock::time_point> restarts_;  // oldest first
};

}  // namespace sluice
