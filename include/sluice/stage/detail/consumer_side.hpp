// sluice/stage/detail/consumer_side.hpp: the half of a stage that receives events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/process/call.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/log.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/detail/cancel_policy.hpp>
#include <sluice/stage/detail/producer_demand.hpp>
#include <sluice/stage/detail/protocol.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/refusal.hpp>

namespace sluice::detail {

/// A consumer's or producer_consumer's input: its subscriptions to producers, the min/max demand
/// arithmetic, the cancel modes and exit_after_last_producer. `Host` is the stage process
/// (stage_process.hpp): it runs the user's callbacks, and for a producer_consumer queues input and
/// takes the end of input (`input_ended`). Used only inside the owning stage's process.
template <class In, class Host>
class consumer_side {
 public:
  consumer_side(Host& host, stage_kind kind, bool exit_after_last_producer)
      : host_(host), kind_(kind), last_producer_(exit_after_last_producer) {}

  [[nodiscard]] bool has_producer(std::uint64_t ref) const { return producers_.count(ref) != 0; }

  /// `reply`: the synchronous caller, if any; `at_start`: one of the start options' subscriptions.
  void subscribe(const subscribe_to& target, reply_handle* reply, bool at_start) {
    if (auto bad = target.options.validate()) {
      exit_reason why = refusal_reason(refusal::bad_opts, *bad);
      // A caller hears of it. A subscription from the start options has none: the stage stops,
      // as a stage whose configuration is wrong. An async subscribe was checked by its caller
      // (async_subscribe throws); one that gets here anyway is dropped and the stage runs on.
      if (reply != nullptr) return reply->reply(subscribe_result{std::nullopt, std::move(why)});
      if (at_start) host_.stop(std::move(why));
      return;
    }
    if (!target.producer.valid() && !target.name.empty()) return subscribe_by_name(target, reply, at_start);
    const std::uint64_t ref = ctx().monitor(target.producer).id;
    const subscription_ref from{target.producer, ref};
    const subscription_options& o = target.options;
    // Subscribe first, as GenStage does, so that handle_subscribe may already ask (manual demand).
    producers_.emplace(ref, producer_demand{target.producer, o.cancel, true, 0, o.effective_min_demand(), o.max_demand});
    ctx().send(target.producer, stage_subscribe{ctx().self(), ref, o, &typeid(In)});
    if (reply != nullptr) pending_subscribes_.emplace(ref, std::move(*reply));
    demand_kind kind = demand_kind::automatic;
    host_.call_user([&](auto& c) { kind = host_.user().handle_subscribe(peer_kind::producer, o, from, c); });
    if (kind != demand_kind::automatic) return;
    if (auto it = producers_.find(ref); it != producers_.end()) {
      ctx().send(target.producer, stage_ask{ctx().self(), ref, it->second.start_automatic()});
    }
  }

  /// resubscribe: cancels `old` (if it is one of the producers; its cancel mode applies when the
  /// producer confirms), then subscribes to `target`.
  void resubscribe(subscription_ref old, exit_reason reason, const subscribe_to& target, reply_handle* reply) {
    (void)cancel(old, reason);
    subscribe(target, reply, /*at_start=*/false);
  }

  void on_subscribed(std::uint64_t ref) {
    auto it = pending_subscribes_.find(ref);
    if (it == pending_subscribes_.end()) return;
    auto p = producers_.find(ref);
    it->second.reply(subscribe_result{subscription_ref{p == producers_.end() ? pid{} : p->second.producer, ref}, {}});
    pending_subscribes_.erase(it);
  }

  /// Manual demand from a callback: true if `s` is one of the producers.
  bool ask(subscription_ref s, std::size_t n) {
    if (producers_.count(s.id) == 0) return false;
    if (n != 0) ctx().send(s.peer, stage_ask{ctx().self(), s.id, n});
    return true;
  }

  /// A callback cancels a subscription: true if `s` is one of the producers.
  bool cancel(subscription_ref s, exit_reason& reason) {
    if (producers_.count(s.id) == 0) return false;
    ctx().send(s.peer, stage_cancel_to_producer{s.id, std::move(reason)});
    return true;
  }

  /// A consumer's events: refused on a subscription it does not have.
  void on_events(stage_events<In>& e) {
    if (producers_.count(e.ref) == 0) {
      ctx().send(e.producer, stage_cancel_to_producer{e.ref, refusal_reason(refusal::unknown_subscription)});
      return;
    }
    consume(e.producer, e.ref, e.events);
  }

  /// Hands a batch to handle_events in chunks (producer_demand), asking again after each chunk as
  /// the arithmetic says. A manual subscription, or one gone meanwhile (a producer_consumer's queued
  /// input), gets the batch whole.
  void consume(pid producer, std::uint64_t ref, std::vector<In>& events) {
    auto it = producers_.find(ref);
    const subscription_ref from{producer, ref};
    if (it == producers_.end() || it->second.manual) {
      host_.count(&stage_counters::events_in, events.size());
      host_.call_user([&](auto& c) { host_.user().handle_events(std::span<In>(events), from, c); }, 0, Host::lendable(events));
      return;
    }
    const std::size_t allowed = it->second.allowed(events.size());
    for (std::size_t offset = 0; offset < allowed && !host_.stopping();) {
      if (offset != 0) {  // the last chunk's callback may have cancelled the subscription
        it = producers_.find(ref);
        if (it == producers_.end()) break;
      }
      const producer_demand::chunk b = it->second.next_chunk(allowed - offset);
      host_.count(&stage_counters::events_in, b.size);
      // The callback may take the batch's storage (emit_in_place) only if it sees all of it.
      host_.call_user([&](auto& c) { host_.user().handle_events(std::span<In>(events.data() + offset, b.size), from, c); },
                      b.size, b.size == events.size() ? Host::lendable(events) : nullptr);
      if (b.ask_again != 0) ctx().send(producer, stage_ask{ctx().self(), ref, b.ask_again});
      offset += b.size;
    }
  }

  /// The subscription ended (a cancel or the producer's DOWN): handle_cancel, then the cancel mode.
  void producer_gone(std::uint64_t ref, cancel_kind kind, const exit_reason& reason) {
    auto it = producers_.find(ref);
    if (it == producers_.end()) return;
    const producer_demand p = it->second;
    producers_.erase(it);
    if (kind == cancel_kind::cancel) ctx().demonitor(monitor_ref{ref});
    if (auto s = pending_subscribes_.find(ref); s != pending_subscribes_.end()) {
      s->second.reply(subscribe_result{std::nullopt, reason});
      pending_subscribes_.erase(s);
    }
    host_.call_user([&](auto& c) { host_.user().handle_cancel(kind, reason, subscription_ref{p.producer, ref}, c); });
    switch (decide_after_cancel(p.cancel, reason)) {
      case after_cancel::run_on_failed:
        last_producer_.producer_failed();
        [[fallthrough]];
      case after_cancel::run_on:
        return finish_if_no_producers();
      case after_cancel::exit:
        // A producer_consumer whose input ended normally first passes on what it has buffered, so
        // a finite pipeline drains completely (GenStage would drop those events).
        if (kind_ == stage_kind::producer_consumer && reason.is_transient()) return host_.input_ended(reason);
        return host_.stop(reason);
    }
  }

  void on_producers_done() {
    last_producer_.producers_done();
    finish_if_no_producers();
  }

 private:
  context& ctx() noexcept { return host_.process(); }

  /// A subscription to a registered name: the name's pid now, or GenStage's noproc rules.
  void subscribe_by_name(const subscribe_to& target, reply_handle* reply, bool at_start) {
    if (std::optional<pid> p = ctx().rt().whereis(target.name)) {
      subscribe_to resolved = target;
      resolved.producer = *p;
      return subscribe(resolved, reply, at_start);
    }
    const exit_reason why = exit_reason::noproc();
    ctx().rt().log().warning("could not subscribe to \"" + target.name + "\": no process is registered under that name",
                             host_.log_name());
    if (reply != nullptr) reply->reply(subscribe_result{std::nullopt, why});
    if (target.options.cancel != cancel_mode::temporary) host_.stop(why);
  }

  void finish_if_no_producers() {
    if (!last_producer_.finish_now(producers_.size())) return;
    if (kind_ == stage_kind::producer_consumer) return host_.input_ended(exit_reason::normal());
    host_.stop(exit_reason::normal());
  }

  Host& host_;
  stage_kind kind_;
  last_producer_rule last_producer_;
  std::unordered_map<std::uint64_t, producer_demand> producers_;
  std::unordered_map<std::uint64_t, reply_handle> pending_subscribes_;
};

}  // namespace sluice::detail
