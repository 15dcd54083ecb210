// sluice/stage/dispatcher.hpp: how a producer shares its events among its consumers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice {

/// One consumer as a dispatcher sees it: its pid and the subscription id.
struct consumer_ref {
  pid consumer;
  std::uint64_t id = 0;
  friend constexpr bool operator==(const consumer_ref&, const consumer_ref&) = default;
};

/// Where a dispatcher sends the batches it decides on; implemented by the producer stage.
template <class T>
class dispatch_target {
 public:
  virtual ~dispatch_target() = default;
  /// Sends `events` (non-empty, moved) to `to`, which asked for at least that many.
  virtual void send(const consumer_ref& to, std::vector<T>&& events) = 0;
};

/// What a subscription does to upstream demand, or why the dispatcher refuses it.
struct dispatcher_subscribed {
  std::size_t upstream = 0;
  std::optional<exit_reason> refused;  ///< the subscription is cancelled with this reason
};

/// The dispatcher contract (GenStage's GenStage.Dispatcher). A producer stage owns one and calls it
/// from its own process only, so it needs no locks. Every method returns the *upstream demand* the
/// call creates: how many more events the producer should produce (its `handle_demand` amount).
///
/// Public so that users can write their own; see demand_dispatcher, broadcast_dispatcher and
/// partition_dispatcher.
template <class T>
class dispatcher {
 public:
  virtual ~dispatcher() = default;
  /// A consumer subscribed (with 0 demand).
  virtual dispatcher_subscribed subscribe(const subscription_options& opts, const consumer_ref& c) = 0;
  /// Consumer `c` asked for `n` more events.
  virtual std::size_t ask(std::size_t n, const consumer_ref& c) = 0;
  /// Consumer `c` is gone (cancelled or down).
  virtual std::size_t cancel(const consumer_ref& c) = 0;
  /// Sends what it can of `events`, in order, through `out`; leaves what it could not place in
  /// `events`, in order (the producer buffers it). `events` is never empty.
  virtual void dispatch(std::vector<T>& events, dispatch_target<T>& out) = 0;
  /// Events held inside the dispatcher rather than in the producer's buffer (partition queues).
  [[nodiscard]] virtual std::size_t held() const noexcept { return 0; }
  /// Total demand the consumers have outstanding (for statistics).
  [[nodiscard]] virtual std::size_t outstanding() const noexcept = 0;
};

}  // namespace sluice
