// sluice/stage/detail/stage_buffer.hpp: a producer's buffer (GenStage's buffer.ex).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <sluice/process/message.hpp>
#include <sluice/stage/detail/info_queue.hpp>
#include <sluice/stage/options.hpp>

namespace sluice::detail {

/// The events a producer emitted beyond its consumers' demand, in order, and the infos queued
/// behind them. At most `capacity` events: a store beyond it drops the oldest (`keep last`) or the
/// newcomers (`keep first`). `head` counts the events ever taken off the front (dispatched or
/// dropped): an info goes once the events before it have left either way.
/// Used only inside the owning stage's process.
template <class T>
class stage_buffer {
 public:
  stage_buffer(std::size_t capacity, buffer_keep keep) noexcept : capacity_(capacity), keep_(keep) {}

  [[nodiscard]] std::size_t size() const noexcept { return events_.size(); }
  [[nodiscard]] bool empty() const noexcept { return events_.empty(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] buffer_keep keep() const noexcept { return keep_; }
  /// Neither events nor infos: an info queued now would go at once.
  [[nodiscard]] bool idle() const noexcept { return events_.empty() && infos_.empty(); }

  /// How many events lie before the next queued info (all of them if none is queued).
  [[nodiscard]] std::size_t before_info() const noexcept {
    const std::optional<std::uint64_t> at = infos_.next_after();
    if (!at) return events_.size();
    return static_cast<std::size_t>(std::min<std::uint64_t>(events_.size(), *at - std::min(*at, head_)));
  }

  /// Takes the first `n` (<= size) events off the front.
  [[nodiscard]] std::vector<T> take_front(std::size_t n) {
    const auto end = events_.begin() + static_cast<std::ptrdiff_t>(n);
    std::vector<T> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(end));
    events_.erase(events_.begin(), end);
    head_ += n;
    return out;
  }
  /// Puts back, in order, at the front what a dispatch of take_front's events could not place.
  void put_back(std::vector<T>& rest) {
    head_ -= rest.size();
    events_.insert(events_.begin(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  }

  /// Stores events at the back, applying the size and keep rule; returns how many it dropped.
  [[nodiscard]] std::size_t store(std::vector<T>&& events) {
    if (keep_ == buffer_keep::first && capacity_ != unbounded) {
      const std::size_t room = capacity_ - std::min(capacity_, events_.size());
      const std::size_t kept = std::min(room, events.size());
      events_.insert(events_.end(), std::make_move_iterator(events.begin()),
                     std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(kept)));
      return events.size() - kept;
    }
    events_.insert(events_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
    if (events_.size() <= capacity_) return 0;
    const std::size_t dropped = events_.size() - capacity_;
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(dropped));
    head_ += dropped;
    return dropped;
  }

  /// Queues an info behind every event buffered now.
  void queue_info(message msg) { infos_.push(head_ + events_.size(), std::move(msg)); }
  /// The next info whose events have all left the buffer, or nothing.
  [[nodiscard]] std::optional<message> released_info() { return infos_.pop_ready(head_); }

 private:
  std::deque<T> events_;
  std::size_t capacity_;
  buffer_keep keep_;
  std::uint64_t head_ = 0;
  info_queue infos_;
};

}  // namespace sluice::detail
