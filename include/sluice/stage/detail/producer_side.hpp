// sluice/stage/detail/producer_side.hpp: the half of a stage that emits events.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/process/context.hpp>
#include <sluice/process/log.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/demand_dispatcher.hpp>
#include <sluice/stage/detail/consumer_table.hpp>
#include <sluice/stage/detail/held_demands.hpp>
#include <sluice/stage/detail/protocol.hpp>
#include <sluice/stage/detail/stage_buffer.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/refusal.hpp>

namespace sluice::detail {

/// A producer's or producer_consumer's output: its consumers' subscriptions, the dispatcher, the
/// stage buffer, and a producer's demand mode (held demands) and drain. `Host` is the stage process
/// (stage_process.hpp): it runs the user's callbacks and takes the demand this side could not
/// serve from its buffer (`demand_left`). Used only inside the owning stage's process.
template <class Out, class Host>
class producer_side final : public dispatch_target<Out> {
 public:
  producer_side(Host& host, stage_kind kind, stage_options<Out>& o)
      : host_(host),
        kind_(kind),
        dispatcher_(o.dispatcher ? std::move(o.dispatcher) : std::make_unique<demand_dispatcher<Out>>()),
        buffer_(o.buffer_size.value_or(kind == stage_kind::producer ? 10000 : unbounded), o.buffer_keep),
        demands_(kind == stage_kind::producer ? o.demand : demand_mode::forward),
        on_discard_(std::move(o.on_discard)) {}

  [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }
  [[nodiscard]] std::size_t outstanding() const noexcept { return dispatcher_->outstanding(); }
  [[nodiscard]] demand_mode mode() const noexcept { return demands_.mode(); }
  [[nodiscard]] bool has_consumer(std::uint64_t ref) const { return consumers_.contains(ref); }
  /// Upstream demand a dispatch created (GenStage's self-sent ask), returned once.
  [[nodiscard]] std::size_t take_upstream() noexcept { return dispatcher_->take_upstream(); }

  // ---- subscriptions -------------------------------------------------------------------------
  void on_subscribe(const stage_subscribe& s) {
    if (*s.event_type != typeid(Out)) return refuse(s, refusal_reason(refusal::event_type_mismatch));
    if (consumers_.contains(s.ref)) return refuse(s, refusal_reason(refusal::duplicated_subscription));
    consumers_.add(s.ref, consumer_entry{s.consumer, ctx().monitor(s.consumer)});
    const subscription_ref from{s.consumer, s.ref};
    demand_kind kind = demand_kind::automatic;
    host_.call_user([&](auto& c) { kind = host_.user().handle_subscribe(peer_kind::consumer, s.options, from, c); });
    if (kind == demand_kind::manual) {
      return host_.stop(exit_reason::error("a producer's handle_subscribe cannot ask for manual demand"));
    }
    join_dispatcher(s, 0);
  }

  void on_ask(const stage_ask& a) {
    if (!consumers_.contains(a.ref)) {
      ctx().send(a.consumer, stage_cancel_to_consumer{ctx().self(), a.ref, refusal_reason(refusal::unknown_subscription)});
      return;
    }
    host_.count(&stage_counters::demand_asked, a.n);
    if (consumers_.any_parked() && consumers_.ask_parked(a.ref, a.n)) return;
    on_upstream_demand(dispatcher_->ask(a.n, consumer_ref{a.consumer, a.ref}, *this));
  }

  void on_cancel(std::uint64_t ref, const exit_reason& reason) {
    if (consumers_.contains(ref)) on_consumer_gone(ref, cancel_kind::cancel, reason, /*notify=*/true);
  }

  /// A DOWN of one of the consumers: true if it was one.
  bool on_down(const down& d) {
    const std::optional<std::uint64_t> ref = consumers_.by_monitor(d.ref);
    if (!ref) return false;
    on_consumer_gone(*ref, cancel_kind::down, d.reason, /*notify=*/false);
    return true;
  }

  /// The stage's own callback cancelled one of its consumers: ended as if the consumer had asked,
  /// once the callback has returned. True if `ref` is a consumer.
  bool cancel_own(std::uint64_t ref, exit_reason reason) {
    if (!consumers_.contains(ref)) return false;
    ctx().send(ctx().self(), stage_cancel_to_producer{ref, std::move(reason)});
    return true;
  }

  // ---- demand and events ---------------------------------------------------------------------
  /// New demand reached the producer (after its dispatcher). Buffered events go first, even when
  /// the dispatcher counted the demand against `pending` (GenStage #311: there the buffer stays
  /// put and newer events overtake it; we drain it first, so order is kept and nothing strands).
  /// The dispatch of buffered events already counts them against what the dispatcher asked
  /// upstream (they were told `not_coming` when stored), so what the buffer served is not counted
  /// again: once more would make the dispatcher ask for it a second time.
  void on_upstream_demand(std::size_t upstream) {
    const std::size_t drained = drain_buffer();
    if (upstream <= drained) return;
    const std::size_t left = upstream - drained;
    if (demands_.accumulating()) return demands_.hold(left);
    if (kind_ == stage_kind::producer && draining_) return;
    host_.demand_left(left);
  }

  /// Dispatches what the callback emitted (moved out of `out`); returns how many events consumers
  /// received.
  std::size_t dispatch_emitted(std::vector<Out>& out) {
    if (out.empty()) return 0;
    if (draining_ && kind_ == stage_kind::producer) {  // a drained producer emits nothing more
      out.clear();
      return 0;
    }
    std::vector<Out> events = std::move(out);
    out.clear();
    if (demands_.accumulating()) {
      held_output_.emplace_back(std::move(events));
      return 0;
    }
    return dispatch_events(std::move(events));
  }

  // ---- infos ---------------------------------------------------------------------------------
  /// Queues an info behind the buffered events (and behind events held by accumulate, so
  /// stop_after_dispatch and drain wait for them).
  void queue_info(message msg) {
    if (!held_output_.empty()) {
      held_output_.emplace_back(std::move(msg));
    } else if (buffer_.idle()) {
      deliver_info(std::move(msg));
    } else {
      buffer_.queue_info(std::move(msg));
    }
  }

  void release_info(message&& msg) override { ctx().send(ctx().self(), stage_released_info{std::move(msg)}); }

  // ---- demand mode and drain -----------------------------------------------------------------
  /// Replay on forward: first what was emitted while accumulating, in order (events, and infos
  /// queued behind them), then each held demand on its own, in arrival order, never summed (GenStage
  /// PR #138). GenStage replays the two interleaved, so the events handle_demand produces for an
  /// early demand overtook events emitted before them; here they come after, in emission order.
  /// The consumers' asks reached the dispatcher when they came: only the upstream part was held.
  void set_demand(demand_mode mode) {
    if (kind_ != stage_kind::producer || mode == demands_.mode()) return;
    std::vector<std::size_t> replay = demands_.switch_to(mode);
    if (mode == demand_mode::accumulate) return;
    for (auto& item : std::exchange(held_output_, {})) {
      if (auto* msg = std::get_if<message>(&item)) {
        host_.flush();
        queue_info(std::move(*msg));
      } else {
        dispatch_events(std::move(std::get<std::vector<Out>>(item)));  // emitted before any drain: they go
      }
    }
    for (const std::size_t d : replay) {
      if (host_.stopping() || demands_.accumulating()) break;
      on_upstream_demand(d);
    }
  }

  /// A producer asked to finish: no more handle_demand; exits normally after its buffer (and any
  /// accumulated events) went out.
  void drain() {
    draining_ = true;
    demands_.drop();
    host_.stop_after_buffered(exit_reason::normal());
  }

 private:
  context& ctx() noexcept { return host_.process(); }

  void refuse(const stage_subscribe& s, exit_reason why) {
    ctx().rt().log().warning("refused a subscription from " + s.consumer.to_string() + ": " + why.to_string(),
                             host_.log_name());
    ctx().send(s.consumer, stage_cancel_to_consumer{ctx().self(), s.ref, std::move(why)});
  }

  /// The dispatcher's part of a subscribe (s in the table, handle_subscribe done); `asked`: what
  /// the consumer asked while the subscription was parked.
  void join_dispatcher(const stage_subscribe& s, std::size_t asked) {
    const consumer_ref c{s.consumer, s.ref};
    const dispatcher_subscribed r = dispatcher_->subscribe(s.options, c);
    if (r.refused) {
      // The partition's holder has exited: its DOWN is on the way (it is monitored) and frees it.
      if (r.why == refusal::partition_taken && r.holder && !ctx().rt().is_alive(r.holder->consumer)) {
        return consumers_.park(s, r.holder->id);
      }
      return refuse_subscribed(s, *r.refused);
    }
    ctx().send(s.consumer, stage_subscribed{s.ref});
    on_upstream_demand(r.upstream);
    if (asked != 0 && !host_.stopping()) on_upstream_demand(dispatcher_->ask(asked, c, *this));
  }

  /// A refusal after handle_subscribe accepted the consumer (the dispatcher's): the producer's
  /// handle_cancel ends what handle_subscribe began, as GenStage's producer_cancel does.
  void refuse_subscribed(const stage_subscribe& s, const exit_reason& why) {
    ctx().demonitor(consumers_.take(s.ref).monitor);
    refuse(s, why);
    host_.call_user([&](auto& x) {
      host_.user().handle_cancel(cancel_kind::cancel, why, subscription_ref{s.consumer, s.ref}, x);
    });
  }

  void on_consumer_gone(std::uint64_t ref, cancel_kind kind, const exit_reason& reason, bool notify) {
    const consumer_entry c = consumers_.take(ref);
    if (notify) {
      ctx().demonitor(c.monitor);
      ctx().send(c.consumer, stage_cancel_to_consumer{ctx().self(), ref, reason});
    }
    host_.call_user([&](auto& x) { host_.user().handle_cancel(kind, reason, subscription_ref{c.consumer, ref}, x); });
    on_upstream_demand(dispatcher_->cancel(consumer_ref{c.consumer, ref}, *this));
    if (consumers_.any_parked()) {
      for (parked_subscription& p : consumers_.unpark(ref)) join_dispatcher(p.subscribe, p.asked);
    }
  }

  /// Dispatches what the consumers can take from the buffer; returns how many left it. Each
  /// dispatch stops at the next queued info, which is released before the events behind it go
  /// (GenStage's buffer.ex: a batch never spans an info).
  std::size_t drain_buffer() {
    std::size_t placed = 0;
    for (;;) {
      release_infos();  // an info the drain reached goes before the events behind it
      const std::size_t room = std::min(buffer_.before_info(), dispatcher_->outstanding());
      if (room == 0) return placed;
      const std::size_t n = drain_front(room);
      placed += n;
      if (n < room) return placed;  // the dispatcher wants no more now
    }
  }

  /// Dispatches the first `room` buffered events; returns how many the dispatcher placed.
  std::size_t drain_front(std::size_t room) {
    std::vector<Out> batch = buffer_.take_front(room);
    dispatcher_->dispatch(batch, *this);
    const std::size_t placed = room - batch.size();
    buffer_.put_back(batch);  // what the dispatcher could not place goes back to the front, in order
    return placed;
  }

  /// Hands events to the dispatcher, behind the buffer; returns how many consumers received.
  std::size_t dispatch_events(std::vector<Out>&& events) {
    // Keep order: what is buffered goes first. If some of it stays, the consumers want nothing
    // more, and the dispatch below places none of the new events; the dispatcher still sees them,
    // as every emitted event must be seen: the demand dispatcher counts events nobody took
    // against the demand a departed consumer left owed (pending), and without that count a later
    // ask is absorbed by a debt already paid, and a consumer waits for events never produced.
    std::size_t placed = 0;
    for (std::size_t n = 1; !buffer_.empty() && n != 0;) placed += n = drain_buffer();
    if (!buffer_.empty() && dispatcher_->outstanding() != 0) {  // a dispatcher that placed less than it could
      store(std::move(events));
      return placed;
    }
    const std::size_t emitted = events.size();
    dispatcher_->dispatch(events, *this);
    placed += emitted - events.size();
    if (!events.empty()) store(std::move(events));
    return placed;
  }

  /// Puts undeliverable events into the buffer; a store that dropped some counts them and logs
  /// once (never per event). The dispatcher hears that these events arrived (`not_coming`): what it
  /// asked upstream is not still coming. A later drain hands them to `dispatch`, which lowers
  /// that count again, and rightly: the ask that drain answers was counted when it was made.
  void store(std::vector<Out>&& events) {
    dispatcher_->not_coming(events.size());
    const std::size_t dropped = buffer_.store(std::move(events));
    if (dropped == 0) return;
    release_infos();  // an info is released once the events before it are gone either way
    host_.count(&stage_counters::dropped, dropped);
    if (on_discard_(dropped)) log_discarded(dropped);
  }

  void send(const consumer_ref& to, std::vector<Out>&& events) override {
    host_.count(&stage_counters::events_out, events.size());
    ctx().send(to.consumer, stage_events<Out>{ctx().self(), to.id, std::move(events)});
  }

  void release_infos() {
    while (std::optional<message> msg = buffer_.released_info()) deliver_info(std::move(*msg));
  }

  /// An info whose events have left the buffer: through the dispatcher, which may hold it behind
  /// events of its own (partition queues).
  void deliver_info(message msg) {
    if (std::optional<message> now = dispatcher_->info(std::move(msg), *this)) release_info(std::move(*now));
  }

  void log_discarded(std::size_t dropped) const {
    const logger& log = host_.process().rt().log();
    if (!log.enabled(log_level::warning)) return;
    log.warning("discarded " + std::to_string(dropped) + " event" + (dropped == 1 ? "" : "s") +
                    ": the buffer is full (buffer_size " + std::to_string(buffer_.capacity()) + ", buffer_keep " +
                    (buffer_.keep() == buffer_keep::first ? "first" : "last") + ")",
                host_.log_name());
  }

  Host& host_;
  stage_kind kind_;
  std::unique_ptr<sluice::dispatcher<Out>> dispatcher_;
  stage_buffer<Out> buffer_;
  consumer_table consumers_;
  held_demands demands_;
  std::deque<std::variant<std::vector<Out>, message>> held_output_;  // emitted while accumulating, infos behind
  discard_handler on_discard_;
  bool draining_ = false;  // producer: drain() was asked; handle_demand is not called again
};

}  // namespace sluice::detail
