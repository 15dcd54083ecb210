// sluice/stage/dispatcher.hpp: how a producer shares its events among its consumers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/stage/refusal.hpp>
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
  /// Hands back an info the dispatcher held behind its events (see dispatcher::info): the stage
  /// delivers it now.
  virtual void release_info(message&& msg) = 0;
};

/// What a subscription does to upstream demand, or why the dispatcher refuses it.
struct dispatcher_subscribed {
  std::size_t upstream = 0;
  std::optional<exit_reason> refused;  ///< the subscription is cancelled with this reason
  /// The refusal, typed (a dispatcher of one's own may leave it empty and give only `refused`).
  std::optional<refusal> why;
  /// partition_taken: the consumer holding the partition. If that consumer is no longer alive, the
  /// producer keeps the subscription waiting until its DOWN frees the partition.
  std::optional<consumer_ref> holder;

  /// A refusal: `refused` made from `r` and `detail` (see refusal_reason).
  [[nodiscard]] static dispatcher_subscribed refuse(refusal r, std::string_view detail = {},
                                                    std::optional<consumer_ref> holder = std::nullopt) {
    return {0, refusal_reason(r, detail), r, holder};
  }
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
  virtual std::size_t ask(std::size_t n, const consumer_ref& c, dispatch_target<T>& out) = 0;
  /// Consumer `c` is gone (cancelled or down).
  virtual std::size_t cancel(const consumer_ref& c, dispatch_target<T>& out) = 0;
  /// Sends what it can of `events`, in order, through `out`; leaves what it could not place in
  /// `events`, in order (the producer buffers it). `events` is never empty.
  virtual void dispatch(std::vector<T>& events, dispatch_target<T>& out) = 0;
  /// Upstream demand created outside ask/subscribe/cancel (a broadcast selector giving rejected
  /// events back as demand), returned once. The stage asks after every message it handles and
  /// treats the answer as a new ask's upstream demand (GenStage's self-sent ask).
  [[nodiscard]] virtual std::size_t take_upstream() noexcept { return 0; }
  /// An info every event before which has left the producer's buffer (GenStage's
  /// Dispatcher.info/2). Returned: delivered now. Kept: handed back through `out.release_info`
  /// once the events the dispatcher holds ahead of it are sent or dropped.
  virtual std::optional<message> info(message&& msg, dispatch_target<T>& out) {
    (void)out;
    return std::optional<message>(std::move(msg));
  }
  /// `n` events came from upstream that a dispatch did not place: the producer stored them in its
  /// buffer (or its full buffer dropped them). A dispatcher that counts what it asked upstream
  /// (broadcast's `requested`) lowers that count here, or it would wait for those events forever.
  /// When a later demand drains them from the buffer, `dispatch` sees them again: that dispatch
  /// answers the new demand, which is counted when the call returning it is made.
  virtual void not_coming(std::size_t n) noexcept { (void)n; }
  /// Events held inside the dispatcher rather than in the producer's buffer (partition queues).
  [[nodiscard]] virtual std::size_t held() const noexcept { return 0; }
  /// How many events a dispatch could place right now: the stage hands that many buffered events to
  /// dispatch() when demand arrives (and reports it as outstanding demand in its statistics).
  [[nodiscard]] virtual std::size_t outstanding() const noexcept = 0;
};

}  // namespace sluice
