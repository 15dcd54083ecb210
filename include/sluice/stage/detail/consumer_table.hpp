// sluice/stage/detail/consumer_table.hpp: a producer's consumers, and the subscriptions it parks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <sluice/process/pid.hpp>
#include <sluice/process/signals.hpp>
#include <sluice/stage/detail/protocol.hpp>

namespace sluice::detail {

/// One consumer of a producer stage: its pid and the producer's monitor on it.
struct consumer_entry {
  pid consumer;
  monitor_ref monitor;
};

/// A subscription waiting for its partition: taken by a consumer that has exited and whose DOWN
/// the producer has not handled yet. The asks that came meanwhile are added up in `asked`.
struct parked_subscription {
  stage_subscribe subscribe;
  std::uint64_t holder;  // the subscription that holds the partition
  std::size_t asked = 0;
};

/// The producer side's subscriptions by id. A parked subscription is in the table too (its
/// consumer is monitored and handle_subscribe has run); only the dispatcher does not know it yet.
/// Used only inside the owning stage's process.
class consumer_table {
 public:
  /// Inline: an ask checks it.
  [[nodiscard]] bool contains(std::uint64_t ref) const { return entries_.count(ref) != 0; }
  [[nodiscard]] const consumer_entry& at(std::uint64_t ref) const { return entries_.at(ref); }
  [[nodiscard]] bool any_parked() const noexcept { return !parked_.empty(); }

  void add(std::uint64_t ref, consumer_entry c);
  /// Removes `ref` (and its parking, if any) and returns its entry.
  consumer_entry take(std::uint64_t ref);
  /// The subscription whose consumer `m` monitors, if any.
  [[nodiscard]] std::optional<std::uint64_t> by_monitor(const monitor_ref& m) const;

  /// Parks `s` (already in the table) until subscription `holder` leaves.
  void park(const stage_subscribe& s, std::uint64_t holder);
  /// If `ref` is parked, adds `n` to what it asked and returns true.
  bool ask_parked(std::uint64_t ref, std::size_t n);
  /// The subscriptions parked behind `holder`, in arrival order, taken off the parking.
  [[nodiscard]] std::vector<parked_subscription> unpark(std::uint64_t holder);

 private:
  std::unordered_map<std::uint64_t, consumer_entry> entries_;
  std::vector<parked_subscription> parked_;  // few, and rare: a vector, in arrival order
};

}  // namespace sluice::detail
