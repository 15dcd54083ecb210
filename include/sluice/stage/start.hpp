// sluice/stage/start.hpp: starting stages and talking to them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <sluice/process/context.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/detail/protocol.hpp>
#include <sluice/stage/detail/stage_process.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/refusal.hpp>
#include <sluice/stage/start_result.hpp>

namespace sluice {

/// A class derived from producer<T>, producer_consumer<In, Out> or consumer<T>.
template <class S>
concept stage_type = requires {
  typename S::in_type;
  typename S::out_type;
  { S::kind } -> std::convertible_to<stage_kind>;
} && std::derived_from<S, stage_callbacks<typename S::in_type, typename S::out_type>>;

namespace detail {

/// What is wrong with start options for a stage of `kind` (GenStage's bad_opts), or nothing.
template <class Out>
std::optional<std::string> check_start_options(stage_kind kind, const stage_options<Out>& o) {
  if (kind != stage_kind::producer && o.demand != demand_mode::forward) {
    return std::string("demand: accumulate applies to producers only, not to a ") +
           (kind == stage_kind::consumer ? "consumer" : "producer_consumer");
  }
  if (o.buffer_size && *o.buffer_size == 0) return std::string("expected buffer_size to be equal to or greater than 1, got: 0");
  return std::nullopt;
}

}  // namespace detail

/// Starts a stage as a process of `where` (a runtime, or a process's context); returns its pid.
/// `init` runs in the stage, then the `subscribe_to` subscriptions are made in order. Options
/// that do not apply to the stage's kind (`demand` on anything but a producer) or are out of range
/// (`buffer_size` 0) throw std::invalid_argument ("sluice: start: bad_opts: ..."), and nothing
/// starts.
template <stage_type S, class Where>
pid start(Where& where, std::unique_ptr<S> stage, stage_options<typename S::out_type> options = {}) {
  if (auto bad = detail::check_start_options(S::kind, options)) {
    throw std::invalid_argument("sluice: start: bad_opts: " + *bad);
  }
  using process = detail::stage_process<typename S::in_type, typename S::out_type>;
  const spawn_options spawn = options.spawn;
  return where.spawn(std::make_unique<process>(std::move(stage), S::kind, std::move(options)), spawn);
}

/// Starts a stage and waits (from a plain thread, up to `timeout`) for what its init decided
/// (GenStage's start): `started`; `ignored` (init called `ignore()`); or `stopped` with the reason:
/// bad_opts (nothing is spawned), `already_started <pid>` (registered_name taken), a subscription
/// at start that stopped it (`noproc` for a name nobody holds), init's own stop, or `timeout`
/// (the stage is then killed).
template <stage_type S>
start_result sync_start(runtime& rt, std::unique_ptr<S> stage, stage_options<typename S::out_type> options = {},
                        std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  if (auto bad = detail::check_start_options(S::kind, options)) {
    return {start_outcome::stopped, pid{}, refusal_reason(refusal::bad_opts, *bad)};
  }
  using process = detail::stage_process<typename S::in_type, typename S::out_type>;
  auto report = std::make_shared<detail::start_report>();
  const spawn_options spawn = options.spawn;
  const pid p = rt.spawn(std::make_unique<process>(std::move(stage), S::kind, std::move(options), report), spawn);
  if (std::optional<start_result> r = report->wait(timeout)) return *r;
  rt.exit(p, exit_reason::kill());
  return {start_outcome::stopped, p, exit_reason::other("timeout")};
}

/// Stops a stage (from a plain thread; GenStage's stop): its terminate runs, then it exits with
/// `reason`. True once it has exited; false if it was not alive or did not exit within `timeout`
/// (each of the two waits, the stage's answer and its exit, is bounded by it).
inline bool stop(runtime& rt, pid stage, exit_reason reason = exit_reason::normal(),
                 std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  if (!rt.call<bool>(stage, detail::stage_stop_request{std::move(reason)}, timeout).ok()) return false;
  return rt.await_exit(stage, timeout).has_value();
}

/// Subscribes `consumer` to `producer` and waits for the producer to acknowledge (from a plain
/// thread). Errors: noproc (the producer is not alive), `{bad_opts: ...}`, not_a_consumer,
/// not_a_producer, event_type_mismatch, timeout (as `other("timeout")`).
inline subscribe_result subscribe(runtime& rt, pid consumer, pid producer, subscription_options options = {},
                                  std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  auto r = rt.call<subscribe_result>(consumer, detail::stage_subscribe_request{{producer, std::move(options)}}, timeout);
  if (r) return std::move(r.value());
  return {std::nullopt, r.error() == call_error::timeout ? exit_reason::other("timeout") : exit_reason::noproc()};
}

/// Subscribes `consumer` to the producer registered under `producer_name` (looked up by the
/// consumer): as above; a name nobody holds answers `noproc`, and then a permanent or transient
/// subscription stops the consumer with `noproc` (GenStage's rules), a temporary one does not.
inline subscribe_result subscribe(runtime& rt, pid consumer, std::string producer_name, subscription_options options = {},
                                  std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  auto r = rt.call<subscribe_result>(
      consumer, detail::stage_subscribe_request{{pid{}, std::move(options), std::move(producer_name)}}, timeout);
  if (r) return std::move(r.value());
  return {std::nullopt, r.error() == call_error::timeout ? exit_reason::other("timeout") : exit_reason::noproc()};
}

/// Resubscribes (GenStage's sync_resubscribe): `consumer` cancels its subscription `old` with
/// `reason` (nothing if it has no such subscription; the old subscription's cancel mode applies,
/// so leaving a permanent one stops the consumer with `reason`), then subscribes to `target` (a
/// pid, or a name with an invalid pid) and waits for the answer, as subscribe does.
inline subscribe_result resubscribe(runtime& rt, pid consumer, subscription_ref old, exit_reason reason,
                                    subscribe_to target,
                                    std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  auto r = rt.call<subscribe_result>(consumer, detail::stage_subscribe_request{std::move(target), old, std::move(reason)},
                                     timeout);
  if (r) return std::move(r.value());
  return {std::nullopt, r.error() == call_error::timeout ? exit_reason::other("timeout") : exit_reason::noproc()};
}

/// Asks `consumer` to subscribe to `producer`, without waiting (thread-safe). Options that are
/// not valid (see subscription_options::validate) throw std::invalid_argument here, and nothing
/// is sent; the consumer is not disturbed (GenStage logs the error and the stage runs on). Errors
/// found later (noproc, a refusing producer) reach the consumer as a cancel of that subscription.
template <class Where>
void async_subscribe(Where& where, pid consumer, pid producer, subscription_options options = {}) {
  if (auto bad = options.validate()) throw std::invalid_argument("sluice: async_subscribe: bad_opts: " + *bad);
  where.send(consumer, detail::stage_async_subscribe{{producer, std::move(options)}});
}
/// The same, to the producer registered under `producer_name` (looked up by the consumer).
template <class Where>
void async_subscribe(Where& where, pid consumer, std::string producer_name, subscription_options options = {}) {
  if (auto bad = options.validate()) throw std::invalid_argument("sluice: async_subscribe: bad_opts: " + *bad);
  where.send(consumer, detail::stage_async_subscribe{{pid{}, std::move(options), std::move(producer_name)}});
}

/// Asks `consumer` to subscribe to `producer` from inside a process, without blocking: the answer
/// arrives later as one `call_reply` with the returned ref, carrying a subscribe_result (read it with
/// `get_if<subscribe_result>()`) once the producer has acknowledged or refused, or a call_error
/// (`noproc`, `no_reply`: the consumer is gone; `timeout`).
inline call_ref subscribe(context& self, pid consumer, pid producer, subscription_options options,
                          std::chrono::steady_clock::duration timeout) {
  return self.call(consumer, detail::stage_subscribe_request{{producer, std::move(options)}}, timeout);
}
/// The same, to the producer registered under `producer_name` (looked up by the consumer: a name
/// nobody holds answers `noproc`).
inline call_ref subscribe(context& self, pid consumer, std::string producer_name, subscription_options options,
                          std::chrono::steady_clock::duration timeout) {
  return self.call(consumer, detail::stage_subscribe_request{{pid{}, std::move(options), std::move(producer_name)}},
                   timeout);
}

/// Cancels subscription `s` (any thread): its producer ends it and tells the consumer, whose
/// cancel mode then applies.
template <class Where>
void cancel(Where& where, subscription_ref producer_side, exit_reason reason) {
  where.send(producer_side.peer, detail::stage_cancel_to_producer{producer_side.id, std::move(reason)});
}

/// Asks a producer to finish (thread-safe): it stops producing and exits normally once what it has
/// buffered has been dispatched (events held by `accumulate` demand included, so those wait for
/// `forward`); its permanent consumers then finish in turn, so a pipeline drains. A
/// producer_consumer gets `handle_drain` (to stop output it makes on its own); no effect on
/// consumers.
template <class Where>
void drain(Where& where, pid producer) {
  where.send(producer, detail::stage_drain{});
}

/// Tells a consumer or producer_consumer started with `exit_after_last_producer` that no producer
/// will subscribe to it any more (thread-safe): it finishes normally once its remaining
/// subscriptions have ended, however they ended. No effect on other stages.
template <class Where>
void producers_done(Where& where, pid consumer) {
  where.send(consumer, detail::stage_producers_done{});
}

/// Switches a producer's demand mode (`accumulate` holds demand and events; `forward` replays
/// them in order). No effect on other kinds.
template <class Where>
void demand(Where& where, pid stage, demand_mode mode) {
  where.send(stage, detail::stage_set_demand{mode});
}

/// A stage's demand mode (from a plain thread); forward for consumers and producer_consumers.
inline std::optional<demand_mode> demand(runtime& rt, pid stage,
                                         std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  auto r = rt.call<demand_mode>(stage, detail::stage_get_demand{}, timeout);
  return r ? std::optional<demand_mode>(r.value()) : std::nullopt;
}

/// Events in a producer's (or producer_consumer's) output buffer (from a plain thread).
inline std::optional<std::size_t> estimate_buffered_count(runtime& rt, pid stage,
                                                          std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  auto r = rt.call<std::size_t>(stage, detail::stage_estimate_buffered_count{}, timeout);
  return r ? std::optional<std::size_t>(r.value()) : std::nullopt;
}

/// Sends `req` to the stage's handle_call and blocks for its reply (from a plain thread); the stage
/// answers through the `request<Req>`'s reply handle.
template <class R, class Req>
call_result<R> call(runtime& rt, pid stage, Req req, std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  return rt.call<R>(stage, std::move(req), timeout);
}

/// Sends `msg` to the stage's handle_info without waiting (GenStage's cast; thread-safe).
template <class Where, class T>
send_result cast(Where& where, pid stage, T&& msg) {
  return where.send(stage, std::forward<T>(msg));
}

/// Queues `msg` for the stage's handle_info behind the events it has buffered (async_info), or
/// the same and waits until it is queued (sync_info, from a plain thread).
template <class Where, class T>
void async_info(Where& where, pid stage, T&& msg) {
  where.send(stage, detail::stage_async_info{message::make(std::forward<T>(msg))});
}
template <class T>
bool sync_info(runtime& rt, pid stage, T&& msg, std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  return rt.call<bool>(stage, detail::stage_sync_info{message::make(std::forward<T>(msg))}, timeout).ok();
}

}  // namespace sluice
