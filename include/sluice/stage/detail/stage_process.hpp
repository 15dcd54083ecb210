// sluice/stage/detail/stage_process.hpp: the process behind every stage.
//
// One behaviour serves the three kinds: the producer side (buffer, dispatcher, demand mode) exists
// when the stage emits events, the consumer side (subscriptions, demand arithmetic, and for a
// producer_consumer the input queue) when it receives them. It follows GenStage 1.3 and its
// documentation; where GenStage has a defect we take the fix, and say so.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/log.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/process/signals.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/demand_dispatcher.hpp>
#include <sluice/stage/detail/protocol.hpp>
#include <sluice/stage/options.hpp>

namespace sluice::detail {

/// An info queued behind buffered events, released to handle_info once they have gone.
struct stage_released_info {
  message msg;
};

template <class In, class Out>
class stage_process final : public behaviour, private stage_control, private dispatch_target<Out> {
  static constexpr bool has_in = !std::is_same_v<In, no_events>;
  static constexpr bool has_out = !std::is_same_v<Out, no_events>;

 public:
  stage_process(std::unique_ptr<stage_callbacks<In, Out>> user, stage_kind kind, stage_options<Out> o)
      : user_(std::move(user)),
        kind_(kind),
        buffer_size_(o.buffer_size.value_or(kind == stage_kind::producer ? 10000 : unbounded)),
        keep_(o.buffer_keep),
        mode_(kind == stage_kind::producer ? o.demand : demand_mode::forward),
        on_discard_(std::move(o.on_discard)),
        name_(std::move(o.name)),
        counters_(std::move(o.counters)),
        exit_after_last_producer_(o.exit_after_last_producer),
        initial_(std::move(o.subscribe_to)) {
    if constexpr (has_out) {
      dispatcher_ = o.dispatcher ? std::move(o.dispatcher) : std::make_unique<demand_dispatcher<Out>>();
    }
  }

  void init(context& self) override {
    bind(self);
    call_user([&](auto& ctx) { user_->init(ctx); });
    for (auto& target : initial_) subscribe(target, nullptr, /*at_start=*/true);
    initial_.clear();
    settle();
  }

  void handle(context& self, message& m) override {
    bind(self);
    on_message(m);
    settle();
    count_state();
  }

  void terminate(context& self, const exit_reason& reason) override {
    bind(self);
    stage_context<Out> ctx(*this, &out_);
    user_->terminate(reason, ctx);
  }

 private:
  // ---- plumbing ------------------------------------------------------------------------------
  void bind(context& self) noexcept { self_ = &self; }
  context& process() noexcept override { return *self_; }

  /// Runs a user callback, then dispatches what it emitted. `size_hint`: what it will likely emit;
  /// `lent`: the input batch the callback sees whole, for stage_context::emit_in_place.
  template <class F>
  void call_user(F&& f, std::size_t size_hint = 0, std::vector<Out>* lent = nullptr) {
    stage_context<Out> ctx(*this, &out_, size_hint, lent);
    f(ctx);
    flush();
  }

  /// After each message: stop if a callback asked to.
  void settle() {
    if constexpr (has_out) {
      // Demand a dispatch created goes round the mailbox, as GenStage's self-sent ask does, so
      // that a producer whose events every selector rejects still lets other messages in.
      if (const std::size_t more = stop_ ? 0 : dispatcher_->take_upstream(); more != 0) {
        self_->send(self_->self(), stage_upstream_demand{more});
      }
    }
    if (stop_) self_->exit(*stop_);
  }

  // relaxed, as every counter: statistics, read racily by design.
  void count(std::atomic<std::uint64_t> stage_counters::*which, std::size_t n) noexcept {
    if (counters_ && n != 0) ((*counters_).*which).fetch_add(n, std::memory_order_relaxed);
  }
  void count_state() noexcept {
    if constexpr (has_out) {
      if (!counters_) return;
      counters_->buffered.store(buffer_.size(), std::memory_order_relaxed);
      counters_->outstanding.store(dispatcher_->outstanding(), std::memory_order_relaxed);
    }
  }

  void stop(exit_reason reason) override {
    if (!stop_) stop_ = std::move(reason);
  }

  // ---- logging (never per event) ---------------------------------------------------------------
  [[nodiscard]] std::string log_name() const { return name_.empty() ? self_->self().to_string() : name_; }
  void log_discarded(std::size_t dropped) const {
    const logger& log = self_->rt().log();
    if (!log.enabled(log_level::warning)) return;
    log.warning("discarded " + std::to_string(dropped) + " event" + (dropped == 1 ? "" : "s") +
                    ": the buffer is full (buffer_size " + std::to_string(buffer_size_) + ", buffer_keep " +
                    (keep_ == buffer_keep::first ? "first" : "last") + ")",
                log_name());
  }

  // ---- messages ------------------------------------------------------------------------------
  void on_message(message& m) {
    // The hot messages first: every check of another type costs a type_info comparison.
    if constexpr (has_in) {
      if (auto* e = m.get_if<stage_events<In>>()) return on_events(*e);
    }
    if constexpr (has_out) {
      if (auto* a = m.get_if<stage_ask>()) return on_ask(*a);
      if (auto* u = m.get_if<stage_upstream_demand>()) return on_upstream_demand(u->n);
      if (auto* s = m.get_if<stage_subscribe>()) return on_subscribe(*s);
      if (auto* c = m.get_if<stage_cancel_to_producer>()) return on_cancel_from_consumer(c->ref, c->reason);
      if (auto* d = m.get_if<stage_set_demand>()) return set_demand(d->mode);
      if (m.is<stage_drain>() && kind_ == stage_kind::producer) return drain();
      if (m.is<stage_drain>() && kind_ == stage_kind::producer_consumer) {
        return call_user([&](auto& ctx) { user_->handle_drain(ctx); });
      }
    } else {
      if (auto* s = m.get_if<stage_subscribe>()) {
        self_->send(s->consumer, stage_cancel_to_consumer{self_->self(), s->ref, exit_reason::other("not_a_producer")});
        return;
      }
    }
    if constexpr (has_in) {
      if (auto* a = m.get_if<stage_subscribed>()) return on_subscribed(a->ref);
      if (auto* c = m.get_if<stage_cancel_to_consumer>()) return on_producer_gone(c->ref, cancel_kind::cancel, c->reason);
      if (auto* s = m.get_if<stage_async_subscribe>()) return subscribe(s->target, nullptr, /*at_start=*/false);
    }
    if (m.is<stage_producers_done>()) return on_producers_done();
    if (auto* d = m.get_if<down>()) return on_down(*d, m);
    if (auto* i = m.get_if<stage_async_info>()) return queue_info(std::move(i->msg));
    if (auto* r = m.get_if<stage_released_info>()) return on_info(r->msg);
    if (m.is_request()) return on_request(m);
    on_info(m);
  }

  void on_info(message& m) {
    if (auto* s = m.get_if<stage_stop_marker>()) return stop(s->reason);
    call_user([&](auto& ctx) { user_->handle_info(m, ctx); });
  }

  void on_request(message& m) {
    if (auto* r = m.get_if<request<stage_subscribe_request>>()) {
      if constexpr (has_in) {
        return subscribe(r->body.target, &r->from, /*at_start=*/false);
      } else {
        return r->from.reply(subscribe_result{std::nullopt, exit_reason::other("not_a_consumer")});
      }
    }
    if (auto* r = m.get_if<request<stage_get_demand>>()) return r->from.reply(mode_);
    if (auto* r = m.get_if<request<stage_estimate_buffered_count>>()) return r->from.reply(buffer_.size());
    if (auto* r = m.get_if<request<stage_sync_info>>()) {
      queue_info(std::move(r->body.msg));
      return r->from.reply(true);
    }
    call_user([&](auto& ctx) { user_->handle_call(m, ctx); });
  }

  void on_down(const down& d, message& m) {
    if constexpr (has_in) {
      if (producers_.count(d.ref.id) != 0) return on_producer_gone(d.ref.id, cancel_kind::down, d.reason);
    }
    if constexpr (has_out) {
      for (auto& [id, c] : consumers_) {
        if (c.monitor == d.ref) return on_consumer_gone(id, cancel_kind::down, d.reason, /*notify=*/false);
      }
    }
    on_info(m);
  }

  // ---- producer side: subscriptions --------------------------------------------------------
  struct consumer_entry {
    pid consumer;
    monitor_ref monitor;
  };

  void on_subscribe(stage_subscribe& s) {
    const auto refuse = [&](exit_reason why) {
      self_->rt().log().warning("refused a subscription from " + s.consumer.to_string() + ": " + why.to_string(),
                                log_name());
      self_->send(s.consumer, stage_cancel_to_consumer{self_->self(), s.ref, std::move(why)});
    };
    if (*s.event_type != typeid(Out)) return refuse(exit_reason::other("event_type_mismatch"));
    if (consumers_.count(s.ref) != 0) return refuse(exit_reason::other("duplicated_subscription"));
    consumers_.emplace(s.ref, consumer_entry{s.consumer, self_->monitor(s.consumer)});
    const subscription_ref from{s.consumer, s.ref};
    demand_kind kind = demand_kind::automatic;
    call_user([&](auto& ctx) { kind = user_->handle_subscribe(peer_kind::consumer, s.options, from, ctx); });
    if (kind == demand_kind::manual) return stop(exit_reason::error("a producer's handle_subscribe cannot ask for manual demand"));
    const dispatcher_subscribed r = dispatcher_->subscribe(s.options, consumer_ref{s.consumer, s.ref});
    if (r.refused) {
      self_->demonitor(consumers_.at(s.ref).monitor);
      consumers_.erase(s.ref);
      return refuse(*r.refused);
    }
    self_->send(s.consumer, stage_subscribed{s.ref});
    on_upstream_demand(r.upstream);
  }

  void on_ask(const stage_ask& a) {
    if (consumers_.count(a.ref) == 0) {
      self_->send(a.consumer, stage_cancel_to_consumer{self_->self(), a.ref, exit_reason::other("unknown_subscription")});
      return;
    }
    on_upstream_demand(dispatcher_->ask(a.n, consumer_ref{a.consumer, a.ref}, *this));
  }

  void on_cancel_from_consumer(std::uint64_t ref, const exit_reason& reason) {
    if (consumers_.count(ref) != 0) on_consumer_gone(ref, cancel_kind::cancel, reason, /*notify=*/true);
  }

  void on_consumer_gone(std::uint64_t ref, cancel_kind kind, const exit_reason& reason, bool notify) {
    const consumer_entry c = consumers_.at(ref);
    consumers_.erase(ref);
    if (notify) {
      self_->demonitor(c.monitor);
      self_->send(c.consumer, stage_cancel_to_consumer{self_->self(), ref, reason});
    }
    call_user([&](auto& ctx) { user_->handle_cancel(kind, reason, subscription_ref{c.consumer, ref}, ctx); });
    on_upstream_demand(dispatcher_->cancel(consumer_ref{c.consumer, ref}, *this));
  }

  // ---- producer side: demand and events ----------------------------------------------------
  /// New demand reached the producer (after its dispatcher). Buffered events go first, even when
  /// the dispatcher counted the demand against `pending` (GenStage #311: there the buffer stays
  /// put and newer events overtake it; we drain it first, so order is kept and nothing strands).
  void on_upstream_demand(std::size_t upstream) {
    const std::size_t drained = drain_buffer();
    if constexpr (has_out) {
      // What the buffer served is not asked of the producer: the dispatcher must not wait for it.
      if (const std::size_t served = std::min(upstream, drained); served != 0) dispatcher_->not_coming(served);
    }
    if (upstream <= drained) return;
    const std::size_t left = upstream - drained;
    if (mode_ == demand_mode::accumulate) {
      accumulated_.push_back(accumulated{left, {}, std::nullopt});
      return;
    }
    if (kind_ == stage_kind::producer) {
      if (draining_) return;
      call_user([&](auto& ctx) { user_->handle_demand(left, ctx); }, left);
    } else {
      downstream_ += left;
      take_input();
    }
  }

  /// Dispatches what the consumers can take from the buffer; returns how many left it.
  std::size_t drain_buffer() {
    if constexpr (has_out) {
      const std::size_t room = std::min(buffer_.size(), dispatcher_->outstanding());
      if (room == 0) return 0;
      std::vector<Out> batch(std::make_move_iterator(buffer_.begin()),
                             std::make_move_iterator(buffer_.begin() + static_cast<std::ptrdiff_t>(room)));
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(room));
      buffer_head_ += room;
      dispatcher_->dispatch(batch, *this);
      const std::size_t placed = room - batch.size();
      // What the dispatcher could not place goes back to the front, in order.
      buffer_head_ -= batch.size();
      buffer_.insert(buffer_.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
      release_infos();
      return placed;
    } else {
      return 0;
    }
  }

  /// Dispatches what the last callback emitted. A producer_consumer's downstream counter drops by
  /// what consumers received, whichever callback emitted it (GenStage docs: producer_consumer).
  void flush() {
    if constexpr (has_out) {
      const std::size_t delivered = dispatch_emitted();
      if (kind_ == stage_kind::producer_consumer) downstream_ -= std::min(downstream_, delivered);
    } else {
      out_.clear();
    }
  }

  /// flush's dispatch (stages with output only); returns how many events consumers received.
  std::size_t dispatch_emitted() {
    if (out_.empty()) return 0;
    if (draining_ && kind_ == stage_kind::producer) {  // a drained producer emits nothing more
      out_.clear();
      return 0;
    }
    std::vector<Out> events = std::move(out_);
    out_.clear();
    if (mode_ == demand_mode::accumulate) {
      accumulated_.push_back(accumulated{0, std::move(events), std::nullopt});
      return 0;
    }
    return dispatch_events(std::move(events));
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

  /// Puts undeliverable events into the buffer, applying its size and keep rule.
  void store(std::vector<Out>&& events) {
    std::size_t dropped = 0;
    if (keep_ == buffer_keep::first && buffer_size_ != unbounded) {
      const std::size_t room = buffer_size_ - std::min(buffer_size_, buffer_.size());
      const std::size_t kept = std::min(room, events.size());
      dropped = events.size() - kept;
      buffer_.insert(buffer_.end(), std::make_move_iterator(events.begin()),
                     std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(kept)));
    } else {
      buffer_.insert(buffer_.end(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
      if (buffer_.size() > buffer_size_) {
        dropped = buffer_.size() - buffer_size_;
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(dropped));
        buffer_head_ += dropped;
        release_infos();  // an info is released once the events before it are gone either way
      }
    }
    if (dropped != 0) {
      dropped_ += dropped;
      dispatcher_->not_coming(dropped);
      count(&stage_counters::dropped, dropped);
      if (on_discard_(dropped)) log_discarded(dropped);
    }
  }

  void send(const consumer_ref& to, std::vector<Out>&& events) override {
    count(&stage_counters::events_out, events.size());
    self_->send(to.consumer, stage_events<Out>{self_->self(), to.id, std::move(events)});
  }

  void release_info(message&& msg) override { self_->send(self_->self(), stage_released_info{std::move(msg)}); }

  /// An info whose events have left the buffer: through the dispatcher, which may hold it behind
  /// events of its own (partition queues).
  void deliver_info(message msg) {
    if constexpr (has_out) {
      std::optional<message> now = dispatcher_->info(std::move(msg), *this);
      if (!now) return;
      msg = std::move(*now);
    }
    self_->send(self_->self(), stage_released_info{std::move(msg)});
  }

  // ---- infos -------------------------------------------------------------------------------
  struct info_marker {
    std::uint64_t after;  // released once buffer_head_ reaches this
    message msg;
  };

  void async_info(message msg) override { queue_info(std::move(msg)); }
  void flush_emitted() override { flush(); }
  void stop_after_buffered(exit_reason reason) override {
    queue_info(message::make(stage_stop_marker{std::move(reason)}));
  }

  void queue_info(message msg) {
    if constexpr (has_in) {
      if (!input_.empty()) {
        input_.push_back(queued_info{std::move(msg)});
        return;
      }
    }
    queue_info_behind_buffer(std::move(msg));
  }

  void queue_info_behind_buffer(message msg) {
    // Events emitted in the current callback are not dispatched yet: they come before the info.
    flush();
    // Events held by accumulate come before it too (so stop_after_dispatch and drain wait for them).
    if (std::any_of(accumulated_.begin(), accumulated_.end(), [](const accumulated& a) { return a.demand == 0; })) {
      accumulated_.push_back(accumulated{0, {}, std::move(msg)});
      return;
    }
    if (buffer_.empty() && infos_.empty()) {
      deliver_info(std::move(msg));
    } else {
      infos_.push_back(info_marker{buffer_head_ + buffer_.size(), std::move(msg)});
    }
  }

  void release_infos() {
    while (!infos_.empty() && infos_.front().after <= buffer_head_) {
      deliver_info(std::move(infos_.front().msg));
      infos_.pop_front();
    }
  }

  /// A producer asked to finish: no more handle_demand; exits normally after its buffer (and any
  /// accumulated events) went out.
  void drain() {
    draining_ = true;
    std::erase_if(accumulated_, [](const accumulated& a) { return a.demand != 0; });
    stop_after_buffered(exit_reason::normal());
  }

  // ---- demand mode -------------------------------------------------------------------------
  struct accumulated {
    std::size_t demand;          // a demand to replay, or
    std::vector<Out> events;     // events to dispatch, or
    std::optional<message> info;  // an info queued behind held events
  };

  void set_demand(demand_mode mode) {
    if (kind_ != stage_kind::producer || mode == mode_) return;
    mode_ = mode;
    if (mode == demand_mode::accumulate) return;
    // Replay. First what was emitted while accumulating, in order (events, and infos queued
    // behind them), then each held demand on its own, in arrival order, never summed (GenStage PR
    // #138). GenStage replays the two interleaved, so the events handle_demand produces for an
    // early demand overtook events emitted before them; here they come after, in emission order.
    // The consumers' asks reached the dispatcher when they came: only the upstream part was held.
    std::deque<accumulated> held = std::exchange(accumulated_, {});
    std::vector<std::size_t> demands;
    for (accumulated& a : held) {
      if (a.demand != 0) {
        demands.push_back(a.demand);
      } else if (a.info) {
        queue_info_behind_buffer(std::move(*a.info));
      } else {
        dispatch_events(std::move(a.events));  // emitted before any drain: they still go
      }
    }
    for (const std::size_t d : demands) {
      if (stop_ || mode_ != demand_mode::forward) break;
      on_upstream_demand(d);
    }
  }

  // ---- consumer side -----------------------------------------------------------------------
  struct producer_entry {
    pid producer;
    cancel_mode cancel;
    bool manual;
    std::size_t demand;
    std::size_t min;
    std::size_t max;
  };

  /// `reply`: the synchronous caller, if any; `at_start`: one of the start options' subscriptions.
  void subscribe(const subscribe_to& target, reply_handle* reply, bool at_start) {
    if constexpr (has_in) {
      if (auto bad = target.options.validate()) {
        exit_reason why = exit_reason::other("bad_opts: " + *bad);
        // A caller hears of it. A subscription from the start options has none: the stage stops,
        // as a stage whose configuration is wrong. An async subscribe was checked by its caller
        // (async_subscribe throws); one that gets here anyway is dropped and the stage runs on.
        if (reply != nullptr) return reply->reply(subscribe_result{std::nullopt, std::move(why)});
        if (at_start) stop(std::move(why));
        return;
      }
      const monitor_ref mon = self_->monitor(target.producer);
      const std::uint64_t ref = mon.id;
      const subscription_ref from{target.producer, ref};
      const std::size_t max = target.options.max_demand;
      // Subscribe first, as GenStage does, so that handle_subscribe may already ask (manual demand).
      auto entry = producers_.emplace(ref, producer_entry{target.producer, target.options.cancel, true, 0,
                                                          target.options.effective_min_demand(), max}).first;
      self_->send(target.producer, stage_subscribe{self_->self(), ref, target.options, &typeid(In)});
      if (reply != nullptr) pending_subscribes_.emplace(ref, std::move(*reply));
      demand_kind kind = demand_kind::automatic;
      call_user([&](auto& ctx) { kind = user_->handle_subscribe(peer_kind::producer, target.options, from, ctx); });
      if (kind == demand_kind::automatic && producers_.count(ref) != 0) {
        entry = producers_.find(ref);
        entry->second.manual = false;
        entry->second.demand = max;
        self_->send(target.producer, stage_ask{self_->self(), ref, max});
      }
    }
  }

  void on_subscribed(std::uint64_t ref) {
    auto it = pending_subscribes_.find(ref);
    if (it == pending_subscribes_.end()) return;
    auto p = producers_.find(ref);
    it->second.reply(subscribe_result{subscription_ref{p == producers_.end() ? pid{} : p->second.producer, ref}, {}});
    pending_subscribes_.erase(it);
  }

  void ask(subscription_ref s, std::size_t n) override {
    if constexpr (has_in) {
      if (n == 0 || producers_.count(s.id) == 0) return;
      self_->send(s.peer, stage_ask{self_->self(), s.id, n});
    }
  }

  void cancel(subscription_ref s, exit_reason reason) override {
    if constexpr (has_in) {
      if (producers_.count(s.id) != 0) return (void)self_->send(s.peer, stage_cancel_to_producer{s.id, std::move(reason)});
    }
    if constexpr (has_out) {
      // One of this stage's own consumers: ended as if it had asked, once the callback has
      // returned (the consumer hears of it and applies its cancel mode).
      if (consumers_.count(s.id) != 0) self_->send(self_->self(), stage_cancel_to_producer{s.id, std::move(reason)});
    }
  }

  void on_events(stage_events<In>& e) {
    // A producer_consumer takes events even from a subscription gone meanwhile (consume handles
    // them); a consumer refuses them.
    if (kind_ == stage_kind::producer_consumer) {
      // Nothing queued ahead and demand downstream: handle it at once, as take_input would.
      if (input_.empty() && downstream_ > 0 && !stop_) return consume(e.producer, e.ref, e.events);
      input_.push_back(queued_events{e.producer, e.ref, std::move(e.events)});
      return take_input();
    }
    if (producers_.count(e.ref) == 0) {
      self_->send(e.producer, stage_cancel_to_producer{e.ref, exit_reason::other("unknown_subscription")});
      return;
    }
    consume(e.producer, e.ref, e.events);
  }

  /// GenStage's consumer arithmetic (GenStage docs: max_demand, min_demand): cut the batch into chunks of max - min;
  /// after each chunk, if the demand left is at or below min, ask for max - demand.
  void consume(pid producer, std::uint64_t ref, std::vector<In>& events) {
    auto it = producers_.find(ref);
    const subscription_ref from{producer, ref};
    if (it == producers_.end() || it->second.manual) {  // manual, or a subscription gone meanwhile
      count(&stage_counters::events_in, events.size());
      call_user([&](auto& ctx) { user_->handle_events(std::span<In>(events), from, ctx); }, 0, lendable(events));
      return;
    }
    const std::size_t allowed = std::min(events.size(), it->second.demand);  // never more than asked
    const std::size_t step = it->second.max - it->second.min;
    for (std::size_t offset = 0; offset < allowed && !stop_;) {
      if (offset != 0) {  // the last chunk's callback may have cancelled the subscription
        it = producers_.find(ref);
        if (it == producers_.end()) break;
      }
      producer_entry& p = it->second;
      const std::size_t b = std::min(step, allowed - offset);
      p.demand -= b;
      std::size_t again = 0;
      if (p.demand <= p.min) {
        again = p.max - p.demand;
        p.demand = p.max;
      }
      count(&stage_counters::events_in, b);
      // The callback may take the batch's storage (emit_in_place) only if it sees all of it.
      call_user([&](auto& ctx) { user_->handle_events(std::span<In>(events.data() + offset, b), from, ctx); }, b,
                b == events.size() ? lendable(events) : nullptr);
      if (again != 0) self_->send(producer, stage_ask{self_->self(), ref, again});
      offset += b;
    }
  }

  /// `events` as a batch emit_in_place may hand on (a producer_consumer whose In is its Out).
  static std::vector<Out>* lendable([[maybe_unused]] std::vector<In>& events) noexcept {
    if constexpr (std::is_same_v<In, Out>) {
      return &events;
    } else {
      return nullptr;
    }
  }

  /// producer_consumer: input is handled only while downstream demand is left (GenStage docs: producer_consumer), so
  /// a stalled consumer stops the asks upstream; a started message is handled completely.
  void take_input() {
    if constexpr (has_in) {
      while (!input_.empty() && !stop_ && (downstream_ > 0 || !std::holds_alternative<queued_events>(input_.front()))) {
        auto item = std::move(input_.front());
        input_.pop_front();
        if (auto* e = std::get_if<queued_events>(&item)) {
          consume(e->producer, e->ref, e->events);
        } else if (auto* i = std::get_if<queued_info>(&item)) {
          queue_info_behind_buffer(std::move(i->msg));
        } else if (auto* c = std::get_if<queued_cancel>(&item)) {
          producer_gone_now(c->ref, c->kind, c->reason);
        }
      }
    }
  }

  void on_producer_gone(std::uint64_t ref, cancel_kind kind, const exit_reason& reason) {
    if (producers_.count(ref) == 0) return;
    // A producer_consumer handles its cancels behind the events it already received.
    if (kind_ == stage_kind::producer_consumer && !input_.empty()) {
      input_.push_back(queued_cancel{ref, kind, reason});
      return;
    }
    producer_gone_now(ref, kind, reason);
  }

  void producer_gone_now(std::uint64_t ref, cancel_kind kind, const exit_reason& reason) {
    auto it = producers_.find(ref);
    if (it == producers_.end()) return;
    const producer_entry p = it->second;
    producers_.erase(it);
    if (kind == cancel_kind::cancel) self_->demonitor(monitor_ref{ref});
    if (auto s = pending_subscribes_.find(ref); s != pending_subscribes_.end()) {
      s->second.reply(subscribe_result{std::nullopt, reason});
      pending_subscribes_.erase(s);
    }
    call_user([&](auto& ctx) { user_->handle_cancel(kind, reason, subscription_ref{p.producer, ref}, ctx); });
    const bool exits = p.cancel == cancel_mode::permanent ||
                       (p.cancel == cancel_mode::transient && !reason.is_transient());
    const bool duplicate = reason == exit_reason::other("already_subscribed");
    if (!exits || duplicate) {
      if (!reason.is_transient() && !duplicate) producer_failed_ = true;
      return finish_if_no_producers();
    }
    // A producer_consumer whose input ended normally first passes on what it has buffered, so a
    // finite pipeline drains completely (GenStage would drop those events).
    if (kind_ == stage_kind::producer_consumer && reason.is_transient()) return input_ended(reason);
    stop(reason);
  }

  /// exit_after_last_producer: finish once no subscription is left, unless one ended abnormally
  /// (its producer may be restarted and subscribe again) and producers_done has not come yet.
  void finish_if_no_producers() {
    if (!exit_after_last_producer_ || !producers_.empty() || finishing_) return;
    if (producer_failed_ && !producers_done_) return;
    finishing_ = true;
    if (kind_ == stage_kind::producer_consumer) return input_ended(exit_reason::normal());
    stop(exit_reason::normal());
  }

  /// A producer_consumer's input ended normally: it finishes once its buffer is dispatched, or
  /// later by itself when handle_input_end says it still has output to make.
  void input_ended(exit_reason reason) {
    bool finish = true;
    call_user([&](auto& ctx) { finish = user_->handle_input_end(ctx); });
    if (finish) stop_after_buffered(std::move(reason));
  }

  void on_producers_done() {
    if constexpr (has_in) {
      producers_done_ = true;
      finish_if_no_producers();
    }
  }

  struct queued_events {
    pid producer;
    std::uint64_t ref;
    std::vector<In> events;
  };
  struct queued_info {
    message msg;
  };
  struct queued_cancel {
    std::uint64_t ref;
    cancel_kind kind;
    exit_reason reason;
  };

  // ---- state -------------------------------------------------------------------------------
  std::unique_ptr<stage_callbacks<In, Out>> user_;
  stage_kind kind_;
  context* self_ = nullptr;  // the context of the message being handled
  std::vector<Out> out_;     // emitted by the running callback
  std::optional<exit_reason> stop_;

  // producer side
  std::unique_ptr<sluice::dispatcher<Out>> dispatcher_;
  std::deque<Out> buffer_;
  std::size_t buffer_size_;
  sluice::buffer_keep keep_;
  std::uint64_t buffer_head_ = 0;  // events ever taken off the buffer's front (dispatched or dropped)
  std::deque<info_marker> infos_;
  std::unordered_map<std::uint64_t, consumer_entry> consumers_;
  demand_mode mode_;
  std::deque<accumulated> accumulated_;
  discard_handler on_discard_;
  std::string name_;  // in log lines; empty: the pid
  std::shared_ptr<stage_counters> counters_;
  std::size_t dropped_ = 0;
  std::size_t downstream_ = 0;  // producer_consumer: downstream demand not met yet
  bool draining_ = false;       // producer: drain() was asked; handle_demand is not called again

  // consumer side
  bool exit_after_last_producer_;
  bool producer_failed_ = false;  // a subscription ended abnormally without stopping the stage
  bool producers_done_ = false;   // told that no producer will subscribe any more
  bool finishing_ = false;        // exit_after_last_producer has started the normal exit
  std::vector<subscribe_to> initial_;
  std::unordered_map<std::uint64_t, producer_entry> producers_;
  std::unordered_map<std::uint64_t, reply_handle> pending_subscribes_;
  std::deque<std::variant<queued_events, queued_info, queued_cancel>> input_;
};

}  // namespace sluice::detail
