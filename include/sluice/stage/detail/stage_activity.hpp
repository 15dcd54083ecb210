// sluice/stage/detail/stage_activity.hpp: how one stage instance spends its time, for lib/observe.
//
// A stage instance is busy while it handles a message; between two messages it is back-pressured
// if it holds events (or is a source able to produce) with no demand downstream, else idle. Each
// handler is bracketed by begin() and end(): begin() books the gap since the last end() to the
// state end() left, end() books the handler's time as busy. Two clock reads per message (never per
// event) and a few relaxed increments: the counters are statistics, read racily by a sampler, so no
// ordering with anything else is needed. A gap still open is not booked yet: the sampler reads
// `handling` and `waiting_back_pressured` for the state of now. Used only inside the owning process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <sluice/stage/options.hpp>

namespace sluice::detail {

class stage_activity {
 public:
  explicit stage_activity(stage_counters* counters) noexcept : counters_(counters) {}
  stage_activity(const stage_activity&) = delete;
  stage_activity& operator=(const stage_activity&) = delete;
  ~stage_activity() {
    if (alive_) counters_->instances.fetch_sub(1, std::memory_order_relaxed);  // relaxed: statistics
  }

  /// A handler starts: the time since the last one ended was idle or back-pressured.
  void begin() noexcept {
    if (counters_ == nullptr) return;
    const std::uint64_t now = now_ns();
    if (!alive_) {
      alive_ = true;
      counters_->instances.fetch_add(1, std::memory_order_relaxed);
    } else if (now > last_) {
      (back_pressured_ ? counters_->back_pressured_ns : counters_->idle_ns).fetch_add(now - last_, std::memory_order_relaxed);
    }
    counters_->handling.fetch_add(1, std::memory_order_relaxed);
    last_ = now;
  }

  /// The handler ended; `back_pressured`: the instance now waits for demand, not for events.
  void end(bool back_pressured) noexcept {
    if (counters_ == nullptr) return;
    const std::uint64_t now = now_ns();
    if (now > last_) counters_->busy_ns.fetch_add(now - last_, std::memory_order_relaxed);
    counters_->handling.fetch_sub(1, std::memory_order_relaxed);
    counters_->waiting_back_pressured.store(back_pressured ? 1 : 0, std::memory_order_relaxed);
    back_pressured_ = back_pressured;
    last_ = now;
  }

 private:
  static std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  stage_counters* counters_;
  std::uint64_t last_ = 0;  // when the last handler began or ended
  bool alive_ = false;
  bool back_pressured_ = false;
};

}  // namespace sluice::detail
