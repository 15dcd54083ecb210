// lib/stages/rate_pacer.hpp: the arithmetic of the `rate_limit` stage, apart from the engine so
// that a test can drive it on a virtual clock.
//
// A token bucket on demand: credit grows at `per_second` and is spent when events are asked for,
// so over any window T at most `per_second * T + burst` events are asked (burst: a tenth of a
// second's worth, at least one event). Each subscription has at most its max_demand in flight; a
// subscription whose events came back is asked again at once when credit allows, so a rate far
// above max_demand is reached by several asks per period as the in-flight events drain, not by
// asking more than max_demand. When some subscription has room but the credit is short, the stage
// wakes when enough credit will have grown (at most a hundred wakes a second); when every
// subscription has its max_demand in flight, or there is none, no wake is needed: an idle limiter
// costs no CPU. Nothing is dropped or buffered: what is not asked for is not produced.
//
// Not thread-safe: owned by one stage, used inside its callbacks.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace sluice::stages {

class rate_pacer {
 public:
  using clock = std::chrono::steady_clock;

  /// One ask to make: `n` events from the subscription `id`.
  struct ask {
    std::uint64_t id;
    std::size_t n;
  };

  /// The smallest and largest `per_second` (checked by the loader; clamped here all the same).
  static constexpr double min_rate = 0.001;
  static constexpr double max_rate = 1e9;

  /// `per_second`: events per second; `now`: the start of the clock. One event may go at once.
  rate_pacer(double per_second, clock::time_point now) noexcept
      : rate_(std::clamp(per_second, min_rate, max_rate)),
        burst_(std::max(1.0, rate_ * burst_seconds)),
        credit_(1.0),
        last_(now) {}

  /// A subscription to a producer, which may have `max_demand` events in flight.
  void add(std::uint64_t id, std::size_t max_demand) { upstream_.push_back({id, std::max<std::size_t>(max_demand, 1), 0}); }
  /// The subscription ended.
  void remove(std::uint64_t id) {
    std::erase_if(upstream_, [&](const upstream& u) { return u.id == id; });
  }
  /// `n` events came from subscription `id`.
  void received(std::uint64_t id, std::size_t n) noexcept {
    for (upstream& u : upstream_) {
      if (u.id == id) u.in_flight -= std::min(u.in_flight, n);
    }
  }

  /// The asks the credit allows at `now`, taking turns between subscriptions (the credit is spent).
  std::vector<ask> asks(clock::time_point now) {
    refill(now);
    std::vector<ask> out;
    const std::size_t count = upstream_.size();
    for (std::size_t k = 0; k < count && credit_ >= 1.0; ++k) {
      upstream& u = upstream_[(next_ + k) % count];
      const std::size_t n = std::min(u.max - u.in_flight, whole_credit());
      if (n == 0) continue;
      u.in_flight += n;
      credit_ -= static_cast<double>(n);
      out.push_back({u.id, n});
    }
    if (count != 0) next_ = (next_ + 1) % count;
    return out;
  }

  /// How long after the last `asks` the stage should call it again if no events come: when some
  /// subscription has room that the credit did not cover. None when nothing can be asked anyway.
  [[nodiscard]] std::optional<clock::duration> wake_in() const noexcept {
    std::size_t room = 0;
    for (const upstream& u : upstream_) room += u.max - u.in_flight;
    if (room == 0) return std::nullopt;
    // Wait for enough credit to be worth a wake: one event, or a hundredth of a second's worth, or
    // what fills the room.
    const double target = std::clamp(rate_ * min_wake_seconds, 1.0, std::min(static_cast<double>(room), burst_));
    // Never sooner than min_wake_seconds: at most a hundred wakes a second, and a wait rounded down
    // to nothing cannot spin on zero-delay wakes. Batches coming back ask in between anyway.
    const double seconds = std::clamp((target - credit_) / rate_, min_wake_seconds, max_wake_seconds);
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  }

  /// The events this many subscriptions have asked for and not received yet (for tests).
  [[nodiscard]] std::size_t in_flight() const noexcept {
    std::size_t n = 0;
    for (const upstream& u : upstream_) n += u.in_flight;
    return n;
  }

 private:
  static constexpr double burst_seconds = 0.1;      // the credit an idle limiter may save up
  static constexpr double min_wake_seconds = 0.01;  // at most a hundred wakes a second
  static constexpr double max_wake_seconds = 3600;  // a wake an hour at worst (1000 s at min_rate)

  struct upstream {
    std::uint64_t id;
    std::size_t max;
    std::size_t in_flight;
  };

  /// Adds the credit grown since the last refill, up to the burst. A clock that went back adds
  /// nothing; a long idle time saturates at the burst.
  void refill(clock::time_point now) noexcept {
    if (now <= last_) return;
    const double seconds = std::chrono::duration<double>(now - last_).count();
    credit_ = std::min(burst_, credit_ + rate_ * std::min(seconds, max_wake_seconds));
    last_ = now;
  }
  [[nodiscard]] std::size_t whole_credit() const noexcept {
    return static_cast<std::size_t>(std::floor(std::min(credit_, burst_)));
  }

  double rate_;
  double burst_;
  double credit_;
  clock::time_point last_;
  std::vector<upstream> upstream_;
  std::size_t next_ = 0;  // the subscription asked first next time (taking turns at low rates)
};

}  // namespace sluice::stages
