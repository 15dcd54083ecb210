// sluice/stage/options.hpp: how a stage is started.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sluice/process/behaviour.hpp>
#include <sluice/stage/dispatcher.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice {

/// A buffer size meaning "no limit" (a producer_consumer's default).
inline constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

/// Which events a full buffer keeps: the newest (`last`, dropping the oldest) or the oldest
/// (`first`, dropping the newcomers).
enum class buffer_keep : std::uint8_t { last, first };

/// Live counters of one running stage, kept by the stage itself with relaxed atomics (cheap to
/// bump once per batch; racy to read, which is all statistics need).
struct stage_counters {
  std::atomic<std::uint64_t> events_in{0};    ///< events handed to handle_events
  std::atomic<std::uint64_t> events_out{0};   ///< events sent to consumers
  std::atomic<std::uint64_t> dropped{0};      ///< events a full buffer dropped
  std::atomic<std::uint64_t> skipped{0};      ///< inputs the stage's own code chose to skip
  std::atomic<std::uint64_t> retried{0};      ///< runs of an input again after it failed (on_error retry)
  std::atomic<std::uint64_t> dead_lettered{0};  ///< failed inputs sent to the dead-letter stage (on_error dead_letter)
  std::atomic<std::uint64_t> buffered{0};     ///< events in the output buffer now
  std::atomic<std::uint64_t> outstanding{0};  ///< demand consumers gave and were not served yet
  std::atomic<std::uint64_t> restarts{0};     ///< kept by whoever restarts the stage
  // Kept by a source whose events carry acknowledgements the server settles (nats_jetstream).
  std::atomic<std::uint64_t> acknowledged{0};  ///< its events settled as handled (acked)
  std::atomic<std::uint64_t> failed{0};        ///< its events settled as failed (nacked: the server redelivers)
  std::atomic<std::uint64_t> redelivered{0};   ///< events the server delivered to it again
  // Kept by a window stage.
  std::atomic<std::uint64_t> late{0};          ///< late events handed on as {"late": event}
  std::atomic<std::int64_t> open_windows{0};   ///< windows holding state now
  // Observability (lib/observe): the stage's edges and how it spends its time, summed over copies.
  std::atomic<std::uint64_t> received{0};       ///< events that reached the stage (before any input queue)
  std::atomic<std::uint64_t> demand_asked{0};   ///< demand its consumers asked of it
  std::atomic<std::uint64_t> busy_ns{0};        ///< time spent handling messages (callbacks included)
  std::atomic<std::uint64_t> idle_ns{0};        ///< time between messages with nothing held back
  std::atomic<std::uint64_t> back_pressured_ns{0};  ///< time between messages holding events (or a source's will to produce) with no demand downstream
  std::atomic<std::uint32_t> instances{0};      ///< instances alive now (past init, not yet destroyed)
  std::atomic<std::uint32_t> handling{0};       ///< instances inside a message handler now
  std::atomic<std::uint8_t> waiting_back_pressured{0};  ///< 1: the last instance to finish a message was left back-pressured
};

/// What a producer does when a store into its full buffer dropped events (GenStage's
/// format_discarded/2): a function of how many were dropped that returns whether the engine should
/// log its default warning, or returns nothing (the warning is logged).
class discard_handler {
 public:
  discard_handler() = default;
  template <class F>
    requires std::is_invocable_v<F&, std::size_t>
  discard_handler(F f) {  // NOLINT(google-explicit-constructor): a plain lambda is the natural spelling
    if constexpr (std::is_void_v<std::invoke_result_t<F&, std::size_t>>) {
      f_ = [f = std::move(f)](std::size_t n) mutable {
        f(n);
        return true;
      };
    } else {
      f_ = [f = std::move(f)](std::size_t n) mutable { return static_cast<bool>(f(n)); };
    }
  }
  /// Whether the default warning is to be logged (true without a function).
  bool operator()(std::size_t dropped) { return !f_ || f_(dropped); }
  explicit operator bool() const noexcept { return static_cast<bool>(f_); }

 private:
  std::function<bool(std::size_t)> f_;
};

/// Start options of a stage emitting `Out` events (GenStage's init options). Producer-side fields
/// are ignored by consumers, and `subscribe_to` by producers.
template <class Out>
struct stage_options {
  /// Events kept when no consumer wants them: default 10,000 for a producer, `unbounded` for a
  /// producer_consumer. Must be at least 1.
  std::optional<std::size_t> buffer_size;
  sluice::buffer_keep buffer_keep = sluice::buffer_keep::last;
  /// Producers only: start in `accumulate` mode to hold production until `demand(stage, forward)`.
  demand_mode demand = demand_mode::forward;
  /// Default: a demand_dispatcher.
  std::unique_ptr<sluice::dispatcher<Out>> dispatcher;
  /// Called once for each store into the buffer that dropped events, with how many it dropped;
  /// the engine then logs a warning (once per store, never per event) unless it returned false.
  discard_handler on_discard;
  /// The stage's name in log lines (a pipeline sets its stage's name); empty: its registered name,
  /// else its pid.
  std::string name;
  /// Registers the stage under this name (GenStage's :name start option) before its init runs;
  /// a name already taken stops it (`already_started`, reported by sync_start). Consumers may
  /// subscribe to the name (subscribe_to::name). The stage's process registers it, so after
  /// `start` (which returns at once) the name may not be taken yet; `sync_start` returns once it is.
  std::string registered_name;
  /// Consumers and producer_consumers: subscriptions made at start, in order.
  std::vector<sluice::subscribe_to> subscribe_to;
  /// Consumers and producer_consumers: exit normally (after dispatching what is buffered) once the
  /// last subscription has ended without stopping the stage, e.g. every transient producer
  /// finished. What a pipeline wants from a stage with several producers or producer copies.
  /// Only normal and shutdown ends count as finished: once a subscription has ended abnormally
  /// without stopping the stage (`temporary`; its producer may be restarted and subscribe again),
  /// the stage waits for `producers_done` before it finishes.
  bool exit_after_last_producer = false;
  /// How the stage's process runs (e.g. on a dedicated thread, for a blocking source or sink).
  spawn_options spawn;
  /// Counters to keep (none if empty).
  std::shared_ptr<stage_counters> counters;
};

}  // namespace sluice
