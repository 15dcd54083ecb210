// sluice/stage/detail/stage_process.hpp: the process behind every stage, and its message router.
//
// One behaviour serves the three kinds. The producer side (producer_side.hpp: dispatcher, buffer,
// demand mode, drain) exists when the stage emits events, the consumer side (consumer_side.hpp:
// subscriptions, demand arithmetic, cancel modes) when it receives them. This file matches each
// protocol message to its side, runs the user's callbacks, and owns the three hand-offs of a
// producer_consumer, where one side acts on the other: downstream demand releases queued input
// (demand_left, release_queued_input), input that ended stops the stage after what is buffered
// (input_ended), and infos wait behind queued input (queue_info). It follows GenStage 1.3 and its
// documentation; where GenStage has a defect we take the fix, and say so.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/signals.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/detail/consumer_side.hpp>
#include <sluice/stage/detail/input_queue.hpp>
#include <sluice/stage/detail/producer_side.hpp>
#include <sluice/stage/detail/stage_activity.hpp>
#include <sluice/stage/detail/protocol.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/refusal.hpp>
#include <sluice/stage/start_result.hpp>
#include <sluice/process/log.hpp>
#include <sluice/process/runtime.hpp>

namespace sluice::detail {

/// Stands in for the side a stage kind does not have.
struct absent_side {};

template <class In, class Out>
class stage_process final : public behaviour, private stage_control {
  static constexpr bool has_in = !std::is_same_v<In, no_events>;
  static constexpr bool has_out = !std::is_same_v<Out, no_events>;
  using producer_t = std::conditional_t<has_out, producer_side<Out, stage_process>, absent_side>;
  using consumer_t = std::conditional_t<has_in, consumer_side<In, stage_process>, absent_side>;
  using input_t = std::conditional_t<has_in, input_queue<In>, absent_side>;
  friend producer_t;
  friend consumer_t;

 public:
  /// `report`: where sync_start waits for what init decided (none for start).
  stage_process(std::unique_ptr<stage_callbacks<In, Out>> user, stage_kind kind, stage_options<Out> o,
                std::shared_ptr<start_report> report = nullptr)
      : user_(std::move(user)),
        kind_(kind),
        name_(o.name.empty() ? o.registered_name : std::move(o.name)),
        registered_(std::move(o.registered_name)),
        report_(std::move(report)),
        counters_(std::move(o.counters)),
        initial_(std::move(o.subscribe_to)),
        producer_(make_producer(kind, o)),
        consumer_(make_consumer(kind, o)) {}

  void init(context& self) override {
    activity_.begin();
    bind(self);
    if (!registered_.empty() && !self.register_name(registered_)) {
      const std::optional<pid> holder = self.rt().whereis(registered_);
      stop(exit_reason::other("already_started " + (holder ? holder->to_string() : registered_)));
    } else {
      call_user([&](auto& ctx) { user_->init(ctx); });
    }
    if constexpr (has_in) {
      for (auto& target : initial_) {
        if (!stop_) consumer_.subscribe(target, nullptr, /*at_start=*/true);
      }
    }
    initial_.clear();
    report_start();
    settle();
    activity_.end(back_pressured());
  }

  void handle(context& self, message& m) override {
    activity_.begin();
    bind(self);
    on_message(m);
    settle();
    count_state();
    activity_.end(back_pressured());
  }

  void terminate(context& self, const exit_reason& reason) override {
    bind(self);
    stage_context<Out> ctx(*this, &out_);
    user_->terminate(reason, ctx);
  }

 private:
  producer_t make_producer([[maybe_unused]] stage_kind kind, [[maybe_unused]] stage_options<Out>& o) {
    if constexpr (has_out) {
      return producer_t(*this, kind, o);
    } else {
      return {};
    }
  }
  consumer_t make_consumer([[maybe_unused]] stage_kind kind, [[maybe_unused]] const stage_options<Out>& o) {
    if constexpr (has_in) {
      return consumer_t(*this, kind, o.exit_after_last_producer);
    } else {
      return {};
    }
  }

  // ---- what the sides use --------------------------------------------------------------------
  void bind(context& self) noexcept { self_ = &self; }
  context& process() noexcept override { return *self_; }
  stage_callbacks<In, Out>& user() noexcept { return *user_; }
  [[nodiscard]] bool stopping() const noexcept { return stop_.has_value(); }
  void stop(exit_reason reason) override {
    if (!stop_) stop_ = std::move(reason);
  }
  void ignore() override {
    if (!stop_) ignored_ = true;
    stop(exit_reason::normal());
  }

  /// Tells sync_start what init decided (once, at the end of init).
  void report_start() {
    if (!report_) return;
    const start_outcome outcome = !stop_ ? start_outcome::started : ignored_ ? start_outcome::ignored : start_outcome::stopped;
    report_->set(start_result{outcome, self_->self(), stop_.value_or(exit_reason::normal())});
    report_.reset();
  }
  [[nodiscard]] std::string log_name() const { return name_.empty() ? self_->self().to_string() : name_; }

  /// Runs a user callback, then dispatches what it emitted. `size_hint`: what it will likely emit;
  /// `lent`: the input batch the callback sees whole, for stage_context::emit_in_place.
  template <class F>
  void call_user(F&& f, std::size_t size_hint = 0, std::vector<Out>* lent = nullptr) {
    stage_context<Out> ctx(*this, &out_, size_hint, lent);
    f(ctx);
    flush();
  }

  /// `events` as a batch emit_in_place may hand on (a producer_consumer whose In is its Out).
  static std::vector<Out>* lendable([[maybe_unused]] std::vector<In>& events) noexcept {
    if constexpr (std::is_same_v<In, Out>) {
      return &events;
    } else {
      return nullptr;
    }
  }

  // relaxed, as every counter: statistics, read racily by design.
  void count(std::atomic<std::uint64_t> stage_counters::*which, std::size_t n) noexcept {
    if (counters_ && n != 0) ((*counters_).*which).fetch_add(n, std::memory_order_relaxed);
  }
  void count_state() noexcept {
    if constexpr (has_out) {
      if (!counters_) return;
      counters_->buffered.store(producer_.buffered(), std::memory_order_relaxed);
      counters_->outstanding.store(producer_.outstanding(), std::memory_order_relaxed);
    }
  }

  /// Waiting for demand rather than for events (stage_activity): holding events, or a source able
  /// to produce, with no demand downstream.
  [[nodiscard]] bool back_pressured() const noexcept {
    if constexpr (has_out) {
      if (producer_.outstanding() != 0) return false;
      if (kind_ == stage_kind::producer || producer_.buffered() != 0) return true;
      if constexpr (has_in) return !input_.empty();
    }
    return false;
  }

  /// Dispatches what the last callback emitted. A producer_consumer's downstream counter drops by
  /// what consumers received, whichever callback emitted it (GenStage docs: producer_consumer).
  void flush() {
    if constexpr (has_out) {
      const std::size_t delivered = producer_.dispatch_emitted(out_);
      if (kind_ == stage_kind::producer_consumer) downstream_ -= std::min(downstream_, delivered);
    } else {
      out_.clear();
    }
  }

  /// After each message: ask for the demand a dispatch created, and stop if a callback asked to.
  void settle() {
    if constexpr (has_out) {
      // Demand a dispatch created goes round the mailbox, as GenStage's self-sent ask does, so
      // that a producer whose events every selector rejects still lets other messages in.
      if (const std::size_t more = stop_ ? 0 : producer_.take_upstream(); more != 0) {
        self_->send(self_->self(), stage_upstream_demand{more});
      }
    }
    if (stop_) self_->exit(*stop_);
  }

  // ---- messages ------------------------------------------------------------------------------
  void on_message(message& m) {
    // The hot messages first: every check of another type costs a type_info comparison.
    if constexpr (has_in) {
      if (auto* e = m.get_if<stage_events<In>>()) return on_events(*e);
    }
    if constexpr (has_out) {
      if (auto* a = m.get_if<stage_ask>()) return producer_.on_ask(*a);
      if (auto* u = m.get_if<stage_upstream_demand>()) return producer_.on_upstream_demand(u->n);
      if (auto* s = m.get_if<stage_subscribe>()) return producer_.on_subscribe(*s);
      if (auto* c = m.get_if<stage_cancel_to_producer>()) return producer_.on_cancel(c->ref, c->reason);
      if (auto* d = m.get_if<stage_set_demand>()) return producer_.set_demand(d->mode);
      if (m.is<stage_drain>()) return on_drain();
    } else {
      if (auto* s = m.get_if<stage_subscribe>()) {
        self_->send(s->consumer, stage_cancel_to_consumer{self_->self(), s->ref, refusal_reason(refusal::not_a_producer)});
        return;
      }
      if (m.is<stage_ask>() || m.is<stage_cancel_to_producer>() || m.is<stage_set_demand>() ||
          m.is<stage_upstream_demand>()) {
        return wrong_kind(m, "a consumer");
      }
      if (m.is<stage_drain>()) return;  // documented: no effect on consumers
    }
    if constexpr (has_in) {
      if (auto* a = m.get_if<stage_subscribed>()) return consumer_.on_subscribed(a->ref);
      if (auto* c = m.get_if<stage_cancel_to_consumer>()) return on_producer_gone(c->ref, cancel_kind::cancel, c->reason);
      if (auto* s = m.get_if<stage_async_subscribe>()) return consumer_.subscribe(s->target, nullptr, /*at_start=*/false);
      if (m.is<stage_producers_done>()) return consumer_.on_producers_done();
    } else {
      if (m.is<stage_subscribed>() || m.is<stage_cancel_to_consumer>() || m.is<stage_async_subscribe>()) {
        return wrong_kind(m, "a producer");
      }
    }
    if (auto* d = m.get_if<down>()) return on_down(*d, m);
    if (auto* i = m.get_if<stage_async_info>()) return queue_info(std::move(i->msg));
    if (auto* r = m.get_if<stage_released_info>()) return on_info(r->msg);
    if (m.is_request()) return on_request(m);
    if (!m.is<stage_producers_done>()) on_info(m);
  }

  /// A protocol message meant for another kind of stage: logged and dropped (GenStage logs it),
  /// never handed to handle_info.
  void wrong_kind(const message& m, const char* what) {
    const logger& log = self_->rt().log();
    if (!log.enabled(log_level::warning)) return;
    log.warning(std::string("ignored a stage protocol message meant for another kind of stage (this stage is ") + what +
                    "): " + m.type().name(),
                log_name());
  }

  void on_info(message& m) {
    if (auto* s = m.get_if<stage_stop_marker>()) return stop(s->reason);
    call_user([&](auto& ctx) { user_->handle_info(m, ctx); });
  }

  void on_request(message& m) {
    if (auto* r = m.get_if<request<stage_subscribe_request>>()) {
      if constexpr (has_in) {
        if (r->body.replace) return consumer_.resubscribe(*r->body.replace, r->body.replace_reason, r->body.target, &r->from);
        return consumer_.subscribe(r->body.target, &r->from, /*at_start=*/false);
      } else {
        return r->from.reply(subscribe_result{std::nullopt, refusal_reason(refusal::not_a_consumer)});
      }
    }
    if (auto* r = m.get_if<request<stage_stop_request>>()) {
      stop(r->body.reason);
      return r->from.reply(true);  // then settle exits: terminate runs, and the caller awaits the exit
    }
    if (auto* r = m.get_if<request<stage_get_demand>>()) return r->from.reply(demand());
    if (auto* r = m.get_if<request<stage_estimate_buffered_count>>()) return r->from.reply(buffered());
    if (auto* r = m.get_if<request<stage_sync_info>>()) {
      queue_info(std::move(r->body.msg));
      return r->from.reply(true);
    }
    call_user([&](auto& ctx) { user_->handle_call(m, ctx); });
  }

  void on_down(const down& d, message& m) {
    if constexpr (has_in) {
      if (consumer_.has_producer(d.ref.id)) return on_producer_gone(d.ref.id, cancel_kind::down, d.reason);
    }
    if constexpr (has_out) {
      if (producer_.on_down(d)) return;
    }
    on_info(m);
  }

  void on_drain() {
    if (kind_ == stage_kind::producer) return producer_.drain();
    if (kind_ == stage_kind::producer_consumer) call_user([&](auto& ctx) { user_->handle_drain(ctx); });
  }

  [[nodiscard]] demand_mode demand() const noexcept {
    if constexpr (has_out) {
      return producer_.mode();
    } else {
      return demand_mode::forward;
    }
  }
  [[nodiscard]] std::size_t buffered() const noexcept {
    if constexpr (has_out) {
      return producer_.buffered();
    } else {
      return 0;
    }
  }

  // ---- stage_control: what callbacks reach through their stage_context -----------------------
  void ask(subscription_ref s, std::size_t n) override {
    if constexpr (has_in) (void)consumer_.ask(s, n);
  }
  void cancel(subscription_ref s, exit_reason reason) override {
    if constexpr (has_in) {
      if (consumer_.cancel(s, reason)) return;
    }
    if constexpr (has_out) (void)producer_.cancel_own(s.id, std::move(reason));
  }
  void async_info(message msg) override { queue_info(std::move(msg)); }
  void flush_emitted() override { flush(); }
  void stop_after_buffered(exit_reason reason) override { queue_info(message::make(stage_stop_marker{std::move(reason)})); }

  // ---- events in, and the producer_consumer hand-offs ----------------------------------------
  void on_events(stage_events<In>& e) {
    count(&stage_counters::received, e.events.size());
    if (kind_ != stage_kind::producer_consumer) return consumer_.on_events(e);
    // A producer_consumer takes events even from a subscription gone meanwhile (consume handles
    // them). Nothing queued ahead and demand downstream: handle it at once, as
    // release_queued_input would.
    if (input_.empty() && downstream_ > 0 && !stop_) return consumer_.consume(e.producer, e.ref, e.events);
    input_.push(typename input_t::events{e.producer, e.ref, std::move(e.events)});
    release_queued_input();
  }

  /// Demand the producer side could not serve from its buffer: a producer's handle_demand, or a
  /// producer_consumer's downstream demand, which releases queued input.
  void demand_left(std::size_t n) {
    if (kind_ == stage_kind::producer) return call_user([&](auto& ctx) { user_->handle_demand(n, ctx); }, n);
    downstream_ += n;
    release_queued_input();
  }

  /// Hand-off 1 (GenStage docs: producer_consumer): input is handled only while downstream demand
  /// is left, so a stalled consumer stops the asks upstream; a started batch is handled completely.
  void release_queued_input() {
    if constexpr (has_in) {
      while (!input_.empty() && !stop_ && (downstream_ > 0 || !input_.events_next())) {
        auto item = input_.pop();
        if (auto* e = std::get_if<typename input_t::events>(&item)) {
          consumer_.consume(e->producer, e->ref, e->batch);
        } else if (auto* i = std::get_if<typename input_t::info>(&item)) {
          queue_info_behind_buffer(std::move(i->msg));
        } else if (auto* c = std::get_if<typename input_t::cancel>(&item)) {
          consumer_.producer_gone(c->ref, c->kind, c->reason);
        }
      }
    }
  }

  /// Hand-off 2: a producer_consumer's input ended normally. It finishes once its buffer is
  /// dispatched, or later by itself when handle_input_end says it still has output to make.
  void input_ended(exit_reason reason) {
    bool finish = true;
    call_user([&](auto& ctx) { finish = user_->handle_input_end(ctx); });
    if (finish) stop_after_buffered(std::move(reason));
  }

  /// Hand-off 3: an info waits behind queued input, then behind the buffered output.
  void queue_info(message msg) {
    if constexpr (has_in) {
      if (!input_.empty()) return input_.push(typename input_t::info{std::move(msg)});
    }
    queue_info_behind_buffer(std::move(msg));
  }

  void queue_info_behind_buffer(message msg) {
    flush();  // events emitted in the current callback are not dispatched yet: they come before the info
    if constexpr (has_out) {
      producer_.queue_info(std::move(msg));
    } else {
      self_->send(self_->self(), stage_released_info{std::move(msg)});
    }
  }

  /// A producer_consumer handles its upstream cancels behind the input it already received.
  void on_producer_gone(std::uint64_t ref, cancel_kind kind, const exit_reason& reason) {
    if (!consumer_.has_producer(ref)) return;
    if (kind_ == stage_kind::producer_consumer && !input_.empty()) {
      return input_.push(typename input_t::cancel{ref, kind, reason});
    }
    consumer_.producer_gone(ref, kind, reason);
  }

  // ---- state -------------------------------------------------------------------------------
  std::unique_ptr<stage_callbacks<In, Out>> user_;
  stage_kind kind_;
  context* self_ = nullptr;  // the context of the message being handled
  std::vector<Out> out_;     // emitted by the running callback
  std::optional<exit_reason> stop_;
  std::string name_;  // in log lines; empty: the pid
  std::string registered_;  // registered under this name in init (empty: none)
  std::shared_ptr<start_report> report_;  // sync_start's, until init has reported
  bool ignored_ = false;  // init called ignore()
  std::shared_ptr<stage_counters> counters_;
  stage_activity activity_{counters_.get()};  // after counters_, which it points into
  std::vector<subscribe_to> initial_;
  std::size_t downstream_ = 0;  // producer_consumer: downstream demand not met yet
  input_t input_;               // producer_consumer: input waiting for downstream demand
  [[no_unique_address]] producer_t producer_;
  [[no_unique_address]] consumer_t consumer_;
};

}  // namespace sluice::detail
