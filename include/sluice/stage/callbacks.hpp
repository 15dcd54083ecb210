// sluice/stage/callbacks.hpp: the three kinds of stage a user writes.
#pragma once

#include <cstddef>
#include <span>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/stage/stage_context.hpp>
#include <sluice/stage/subscription.hpp>

namespace sluice {

enum class stage_kind : std::uint8_t { producer, producer_consumer, consumer };

/// The callbacks every stage kind shares (GenStage's). All run inside the stage's process, one at
/// a time; any may throw, which stops the stage with `{error, what}`.
template <class In, class Out>
class stage_callbacks {
 public:
  using in_type = In;
  using out_type = Out;
  virtual ~stage_callbacks() = default;

  /// Runs first, before any subscription is made.
  virtual void init(stage_context<Out>&) {}
  /// A subscription was made: `peer` is `producer` when this stage is its consumer side. On the
  /// consumer side, return `demand_kind::manual` to ask only through `stage_context::ask`.
  virtual demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref,
                                       stage_context<Out>&) {
    return demand_kind::automatic;
  }
  /// A subscription ended (cancelled, or the peer went down with `reason`). On the consumer side the
  /// cancel mode applies afterwards.
  virtual void handle_cancel(cancel_kind, const exit_reason&, subscription_ref, stage_context<Out>&) {}
  /// Any message that is not part of the stage protocol (and infos queued with sync_info/async_info).
  virtual void handle_info(message&, stage_context<Out>&) {}
  /// A request sent with `call` (`msg.is_request()`): answer through the request's reply handle.
  virtual void handle_call(message&, stage_context<Out>&) {}
  /// producer_consumer: its input has ended (normally: the last producer is gone, or a permanent one
  /// ended) and it would finish once what it emitted is dispatched. Return false to finish later
  /// by itself with `stop_after_dispatch`: a stage still making output from input it took (a jq
  /// run emitting as demand comes) must not be cut short.
  virtual bool handle_input_end(stage_context<Out>&) { return true; }
  /// producer_consumer: the pipeline drains (`drain` was sent to it): its producers are finishing,
  /// and a stage making output on its own (a long jq run) should stop making more. Default: nothing.
  virtual void handle_drain(stage_context<Out>&) {}
  /// The stage stops with `reason` (not called for `killed`).
  virtual void terminate(const exit_reason&, stage_context<Out>&) {}

  // Kind-specific entry points; each kind below makes its own one pure.
  virtual void handle_demand(std::size_t, stage_context<Out>&) {}
  virtual void handle_events(std::span<In>, subscription_ref, stage_context<Out>&) {}
};

/// A source: emits events only when it has demand. `handle_demand(n)` is called with the new
/// demand left after the buffer was drained, never with 0; emitting fewer is fine (remember the
/// shortfall: handle_demand is not called again for it), emitting more fills the buffer.
template <class T>
class producer : public stage_callbacks<no_events, T> {
 public:
  static constexpr stage_kind kind = stage_kind::producer;
  void handle_demand(std::size_t demand, stage_context<T>& ctx) override = 0;
};

/// A middle stage: transforms batches it receives and emits the results downstream. It processes
/// input only while its consumers have demand, so back-pressure reaches the producers upstream.
template <class In, class Out>
class producer_consumer : public stage_callbacks<In, Out> {
 public:
  static constexpr stage_kind kind = stage_kind::producer_consumer;
  void handle_events(std::span<In> events, subscription_ref from, stage_context<Out>& ctx) override = 0;
};

/// A sink. `events` may be moved from (move-only event types are fine on one-to-one edges).
template <class T>
class consumer : public stage_callbacks<T, no_events> {
 public:
  static constexpr stage_kind kind = stage_kind::consumer;
  void handle_events(std::span<T> events, subscription_ref from, stage_context<no_events>& ctx) override = 0;
};

}  // namespace sluice
