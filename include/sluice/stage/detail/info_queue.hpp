// sluice/stage/detail/info_queue.hpp: infos queued behind a stage buffer's events.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include <sluice/process/message.hpp>

namespace sluice::detail {

/// Infos waiting behind buffered events (GenStage's buffer.ex keeps them in the event queue as
/// markers). Positions are counts of events ever taken off the buffer's front: an info queued
/// when `after` events had been queued in all goes once the buffer's head reaches `after`.
/// Infos leave in the order they came. Used only inside the owning stage's process.
class info_queue {
 public:
  [[nodiscard]] bool empty() const noexcept { return markers_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return markers_.size(); }
  /// Queues `msg` behind the events up to position `after`.
  void push(std::uint64_t after, message msg);
  /// The position the next info waits for, if any: a drain stops there (GenStage's buffer.ex).
  [[nodiscard]] std::optional<std::uint64_t> next_after() const noexcept {
    if (markers_.empty()) return std::nullopt;
    return markers_.front().after;
  }
  /// The next info whose events have all left (head reached its position), or nothing. Inline:
  /// the check runs after every drain of the buffer.
  [[nodiscard]] std::optional<message> pop_ready(std::uint64_t head) {
    if (markers_.empty() || markers_.front().after > head) return std::nullopt;
    return pop();
  }

 private:
  struct marker {
    std::uint64_t after;
    message msg;
  };
  message pop();
  std::deque<marker> markers_;
};

}  // namespace sluice::detail
