// lib/process/timer_service.hpp: delivers messages after a delay.
//
// One thread per runtime, started on the first timer; it sleeps on a condition variable until the
// earliest deadline or a change, so an idle runtime with no timers uses no CPU. With virtual time
// (`sluice test`) there is no thread: deadlines are on a clock only advance_to() moves, and the
// caller delivers what is due, instant by instant. Deadlines saturate
// at time_point::max(), which never fires (but can be cancelled): no delay can wrap into the past. Pending timers own
// their message node; a cancelled or undelivered one is destroyed, never leaked.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>

namespace sluice::internal {

class timer_service {
 public:
  using clock = std::chrono::steady_clock;
  /// How a due message is delivered (the runtime's send).
  using deliver_fn = std::function<void(pid, detail::message_node*)>;

  /// `virtual_time`: deadlines on a virtual clock, which starts at `clock::time_point{}` plus one
  /// hour (so that no deadline is before the epoch) and moves only in advance_to().
  explicit timer_service(deliver_fn deliver, bool virtual_time = false);
  ~timer_service();
  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

  /// Schedules `node` for `to` after `delay` (zero or negative: at once); returns the timer's id
  /// (never 0). Thread-safe.
  std::uint64_t start(pid to, detail::message_node* node, clock::duration delay);
  /// True if the timer was pending (its message is destroyed undelivered). Thread-safe.
  bool cancel(std::uint64_t id);
  /// Stops the thread and destroys every pending message. Idempotent.
  void stop();

  /// Now on this service's clock: clock::now(), or the virtual time. Thread-safe.
  [[nodiscard]] clock::time_point now() const;
  /// Virtual time only: the deadline of the earliest pending timer (max() for none). Thread-safe.
  [[nodiscard]] clock::time_point next_due() const;
  /// Virtual time only: moves the clock to the earliest deadline if it is at or before `target`
  /// and delivers every timer due then (true), or moves it to `target` (false, nothing was due).
  /// Call it in a loop, letting the processes settle in between, to fire timers in order.
  bool advance_to(clock::time_point target);

 private:
  struct entry {
    pid to;
    detail::message_node* node;
  };
  using key = std::pair<clock::time_point, std::uint64_t>;

  /// now + delay, saturated: a deadline beyond the clock's range is time_point::max(), "never".
  static clock::time_point deadline_after(clock::time_point now, clock::duration delay);
  void loop();

  deliver_fn deliver_;
  const bool virtual_time_;
  mutable std::mutex mutex_;  // guards everything below
  clock::time_point virtual_now_ = clock::time_point{} + std::chrono::hours(1);
  std::condition_variable wake_;
  std::map<key, entry> queue_;
  std::unordered_map<std::uint64_t, clock::time_point> due_of_;
  std::uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::internal
