// sluice/stage/subscription.hpp: what a subscription is and the options it takes.
#pragma once

#include <any>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>

namespace sluice {

/// What a consumer does when a subscription ends (GenStage's `:cancel` option).
enum class cancel_mode : std::uint8_t {
  permanent,  ///< the consumer exits with the same reason, whatever it is (the default)
  transient,  ///< the consumer exits unless the reason is normal, shutdown or {shutdown, _}
  temporary,  ///< the consumer never exits because of it
};

/// Whether a consumer asks for events by itself (`automatic`) or only when it calls `ask` (`manual`).
enum class demand_kind : std::uint8_t { automatic, manual };

/// Which side of a subscription a callback runs on: `producer` when the peer is a producer.
enum class peer_kind : std::uint8_t { producer, consumer };

/// Why `handle_cancel` runs: an explicit cancel, or the peer process went down.
enum class cancel_kind : std::uint8_t { cancel, down };

/// A producer's demand mode: `forward` passes demand to `handle_demand` as it comes; `accumulate`
/// holds demand and emitted events back until switched to `forward`.
enum class demand_mode : std::uint8_t { forward, accumulate };

/// Names a partition of a partition dispatcher: by number (`partitions = N`) or by name.
using partition_id = std::variant<std::size_t, std::string>;

/// "3" or "name".
std::string to_string(const partition_id& p);

/// Names one subscription: the process at the other end (`peer`: the producer, seen from a
/// consumer; the consumer, seen from a producer) and the subscription's unique id. Passed to
/// callbacks as `from`, and to `ask` and `cancel`.
struct subscription_ref {
  pid peer;
  std::uint64_t id = 0;
  friend constexpr auto operator<=>(const subscription_ref&, const subscription_ref&) = default;
};

/// Options of one subscription (GenStage's subscription options).
struct subscription_options {
  /// Most events in flight on this subscription (>= 1).
  std::size_t max_demand = 1000;
  /// When outstanding demand falls to this, the consumer asks again; default max_demand / 2; must be
  /// below max_demand.
  std::optional<std::size_t> min_demand;
  cancel_mode cancel = cancel_mode::permanent;
  /// For partition dispatchers: which partition this consumer takes.
  std::optional<partition_id> partition;
  /// For broadcast dispatchers: a `std::function<bool(const T&)>` choosing the events this consumer
  /// gets (T the producer's event type); empty for all.
  std::any selector;
  /// Options a stage defines for itself (GenStage passes unknown subscription options on): the
  /// engine neither reads nor checks them; both sides' handle_subscribe and the producer's
  /// dispatcher see them, by name.
  std::map<std::string, std::any, std::less<>> custom;

  [[nodiscard]] std::size_t effective_min_demand() const noexcept { return min_demand.value_or(max_demand / 2); }
  /// What is wrong with these options, in GenStage's words ("expected max_demand to be equal to or
  /// greater than 1, got: 0"), or nothing.
  [[nodiscard]] std::optional<std::string> validate() const;
};

/// A producer as seen by a consumer that subscribes to it: its pid, or (when `producer` is not
/// valid) the name it is registered under, looked up by the consumer when it subscribes. A name
/// nobody holds is `noproc`: the subscribe fails with it, and then, as in GenStage, a permanent or
/// transient subscription stops the consumer with `noproc` while a temporary one leaves it running.
struct subscribe_to {
  pid producer;
  subscription_options options{};
  std::string name{};
};

/// The outcome of a synchronous subscribe: the subscription, or why there is none.
struct subscribe_result {
  std::optional<subscription_ref> ref;
  exit_reason error;  ///< meaningful when !ref: noproc, {bad_opts, ...}, not_a_producer, ...
  explicit operator bool() const noexcept { return ref.has_value(); }
};

}  // namespace sluice

template <>
struct std::hash<sluice::subscription_ref> {
  std::size_t operator()(const sluice::subscription_ref& r) const noexcept { return std::hash<std::uint64_t>{}(r.id); }
};
