// sluice/stage/detail/input_queue.hpp: a producer_consumer's input waiting for downstream demand.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice::detail {

/// What a producer_consumer received and has not handled yet, in arrival order: event batches
/// (handled only while downstream demand is left: GenStage docs, producer_consumer), and the infos
/// and upstream cancels that came behind them (handled once the input ahead of them was).
/// Used only inside the owning stage's process.
template <class In>
class input_queue {
 public:
  struct events {
    pid producer;
    std::uint64_t ref;
    std::vector<In> batch;
  };
  struct info {
    message msg;
  };
  struct cancel {
    std::uint64_t ref;
    cancel_kind kind;
    exit_reason reason;
  };
  using item = std::variant<events, info, cancel>;

  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  /// Whether the next item is an event batch (which waits for downstream demand).
  [[nodiscard]] bool events_next() const noexcept { return std::holds_alternative<events>(items_.front()); }

  void push(item i) { items_.push_back(std::move(i)); }
  [[nodiscard]] item pop() {
    item i = std::move(items_.front());
    items_.pop_front();
    return i;
  }

 private:
  std::deque<item> items_;
};

}  // namespace sluice::detail
