// sluice/stage/consumer_supervisor.hpp: a consumer that starts one supervised child per event.
//
// GenStage's ConsumerSupervisor (its docs) as a consumer<T> on the ordinary stage
// process. Demand is manual: it asks max_demand of each producer at subscribe; every child that
// ends for good (or fails to start) adds 1 to its producer's pending count, and when pending
// reaches min_demand it asks for pending. So at most max_demand children started from one
// producer's events are alive at once, and min_demand is the size of a refill, not a low-water
// mark (max 3 / min 2: the first exit asks nothing, the second asks 2).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sluice/process/context.hpp>
#include <sluice/process/restart_window.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/process/signals.hpp>
#include <sluice/process/supervisor.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/start.hpp>

namespace sluice {

/// The child template and flags of a consumer supervisor for events of type T.
template <class T>
struct consumer_supervisor_options {
  /// Starts the child for one event (moved in) and returns its pid; runs inside the consumer
  /// supervisor, which links the child. Spawn with `sup.spawn_link`: a child spawned unlinked that
  /// exits before the link is made is seen as exiting with `noproc`. Throwing, or returning an
  /// invalid pid, is a failed start: the event is dropped and its demand given back at once.
  std::function<pid(context& sup, T event)> start;
  /// `temporary` (never restarted) or `transient` (restarted with a copy of the same event after an
  /// abnormal exit; needs a copyable T). `permanent` is refused: a child per event must end.
  restart_type restart = restart_type::temporary;
  /// How the children are stopped when the consumer supervisor exits (all together).
  shutdown_mode shutdown = shutdown_mode::timeout;
  std::chrono::steady_clock::duration shutdown_timeout = std::chrono::seconds(5);
  /// More than `max_restarts` restarts within `max_seconds`: the consumer supervisor exits with
  /// `shutdown` (and stops its children).
  int max_restarts = 3;
  std::chrono::steady_clock::duration max_seconds = std::chrono::seconds(5);
  /// Subscriptions made at start, as for any consumer.
  std::vector<sluice::subscribe_to> subscribe_to;
  spawn_options spawn;
  /// Only `one_for_one` (each child is restarted alone), as GenStage's: anything else is refused.
  sluice::strategy strategy = sluice::strategy::one_for_one;
  /// Runs first, inside the consumer supervisor, before any subscription (GenStage's init/1):
  /// a reason refuses to start (it stops with it, and sync_start_consumer_supervisor reports it);
  /// nothing runs it. Empty: it runs.
  std::function<std::optional<exit_reason>(context& sup)> init;
  /// Registers it under this name (see stage_options::registered_name).
  std::string registered_name;
};

/// What `count_children` answers (GenStage's count_children map, for a worker template).
struct child_counts {
  std::size_t specs = 1;
  std::size_t active = 0;       ///< children running (restarting ones left out)
  std::size_t workers = 0;      ///< all children, restarting ones included
  std::size_t supervisors = 0;  ///< always 0: children are counted as workers
};

/// Request answered by a consumer supervisor with `child_counts`. It also answers the supervisor's
/// `which_children_request` with `std::vector<child_info>`: empty ids, and an invalid pid for a
/// child that is restarting (so `sluice::which_children` works on it).
struct count_children_request {};

/// Request answered by a consumer supervisor of T with `start_child_reply`: a child started for
/// `event` outside any producer's demand (GenStage's start_child); it is supervised like the
/// others and does not count towards any producer's demand.
template <class T>
struct consumer_start_child_request {
  T event;
};
/// Request answered with `bool` (false: not one of its children): stops `child` with the
/// template's shutdown mode and frees its demand slot (GenStage's terminate_child).
struct consumer_terminate_child_request {
  pid child;
};

namespace detail {
/// Self-messages of a consumer supervisor.
struct consumer_supervisor_ask {
  subscription_ref from;
  std::size_t n;
};
struct consumer_supervisor_retry {
  std::uint64_t id;
};

/// Kills the children that are still alive after a shutdown timeout; spawned by a consumer
/// supervisor's terminate (a process cannot wait for messages once it is exiting).
class child_reaper final : public behaviour {
  struct deadline {};

 public:
  child_reaper(std::vector<pid> children, std::chrono::steady_clock::duration timeout)
      : children_(std::move(children)), timeout_(timeout) {}
  void init(context& self) override {
    for (pid c : children_) watching_.emplace(self.monitor(c).id, c);
    timer_ = self.send_after(self.self(), deadline{}, timeout_);
  }
  void handle(context& self, message& m) override {
    if (auto* d = m.get_if<down>()) watching_.erase(d->ref.id);
    if (m.is<deadline>()) {
      for (auto& [ref, c] : watching_) self.exit(c, exit_reason::kill());
      watching_.clear();
    }
    if (watching_.empty()) {
      self.cancel_timer(timer_);
      self.exit(exit_reason::normal());
    }
  }

 private:
  std::vector<pid> children_;
  std::chrono::steady_clock::duration timeout_;
  std::unordered_map<std::uint64_t, pid> watching_;
  timer_ref timer_;
};
}  // namespace detail

/// A consumer that starts one child per event from a template and supervises it (GenStage's
/// ConsumerSupervisor). Construct it through `start_consumer_supervisor`.
///
/// It traps exits. An exit signal from one of its children is that child's exit; one from any
/// other process ends the consumer supervisor with that reason unless the reason is `normal` (as
/// if it did not trap). When a producer goes away its children keep running and their exits ask
/// nobody; whether the consumer supervisor itself exits is the subscription's cancel mode (use
/// `temporary` or `transient` to keep it). On exit it stops every child still running with the
/// template's shutdown mode, all at once: `brutal_kill` kills them, `timeout` sends `shutdown` and
/// has a helper process kill the ones still alive after `shutdown_timeout`, `infinity` sends
/// `shutdown` only. Its own exit does not wait for them (a process cannot receive once it is
/// exiting): watch the children to know when they are gone.
template <class T>
class consumer_supervisor final : public consumer<T> {
  using clock = std::chrono::steady_clock;
  using ctx_type = stage_context<no_events>;

 public:
  /// Throws std::invalid_argument, before anything is spawned, for a template that cannot work: no
  /// start function, `restart_type::permanent`, `transient` with a T that cannot be copied, or
  /// negative `max_restarts`.
  explicit consumer_supervisor(consumer_supervisor_options<T> o)
      : start_(std::move(o.start)),
        init_(std::move(o.init)),
        restart_(o.restart),
        shutdown_(o.shutdown),
        shutdown_timeout_(o.shutdown_timeout),
        restarts_(static_cast<std::size_t>(std::max(o.max_restarts, 0)), o.max_seconds) {
    if (!start_) throw std::invalid_argument("consumer supervisor: the child template has no start function");
    if (restart_ == restart_type::permanent) {
      throw std::invalid_argument(
          "consumer supervisor: a child template with restart permanent is not supported; use temporary or transient");
    }
    if (restart_ == restart_type::transient && !std::is_copy_constructible_v<T>) {
      throw std::invalid_argument("consumer supervisor: restart transient needs a copyable event type");
    }
    if (o.max_restarts < 0) throw std::invalid_argument("consumer supervisor: max_restarts must not be negative");
    if (o.strategy != strategy::one_for_one) {
      throw std::invalid_argument("consumer supervisor: unknown supervision strategy for consumer supervisor (only one_for_one)");
    }
  }

  void init(ctx_type& ctx) override {
    ctx.process().trap_exit(true);
    if (!init_) return;
    if (std::optional<exit_reason> refused = init_(ctx.process())) ctx.stop(std::move(*refused));
  }

  demand_kind handle_subscribe(peer_kind, const subscription_options& o, subscription_ref from, ctx_type& ctx) override {
    producers_[from.id] = producer_state{from, 0, o.effective_min_demand()};
    // stage_process records the subscription and sends it to the producer only after
    // handle_subscribe returns, and drops an ask for a subscription it has not recorded: the
    // first ask goes out from the next message instead.
    ctx.process().send(ctx.self(), detail::consumer_supervisor_ask{from, o.max_demand});
    return demand_kind::manual;
  }

  void handle_events(std::span<T> events, subscription_ref from, ctx_type& ctx) override {
    for (T& e : events) {
      if (restart_ == restart_type::transient) {
        if constexpr (std::is_copy_constructible_v<T>) {
          child c{from.id, std::optional<T>(std::move(e))};
          if (auto p = try_start(ctx.process(), T(*c.event))) {
            running_.emplace(*p, std::move(c));
          } else {
            give_back(from.id, ctx);
          }
        }
      } else if (auto p = try_start(ctx.process(), std::move(e))) {
        running_.emplace(*p, child{from.id, std::nullopt});
      } else {
        give_back(from.id, ctx);
      }
    }
  }

  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, ctx_type&) override {
    producers_.erase(from.id);  // its children keep running; their exits ask nobody
  }

  void handle_info(message& m, ctx_type& ctx) override {
    if (auto* s = m.get_if<exit_signal>()) return on_exit_signal(*s, ctx);
    if (auto* a = m.get_if<detail::consumer_supervisor_ask>()) return ctx.ask(a->from, a->n);
    if constexpr (std::is_copy_constructible_v<T>) {
      if (auto* r = m.get_if<detail::consumer_supervisor_retry>()) {
        auto it = restarting_.find(r->id);
        if (it == restarting_.end()) return;
        child c = std::move(it->second);
        restarting_.erase(it);
        restart(std::move(c), ctx);
      }
    }
  }

  void handle_call(message& m, ctx_type& ctx) override {
    if (auto* r = m.get_if<request<which_children_request>>()) {
      std::vector<child_info> out;
      for (auto& [p, c] : running_) out.push_back({{}, p});
      for (std::size_t i = 0; i < restarting_.size(); ++i) out.push_back({{}, pid{}});
      return r->from.reply(std::move(out));
    }
    if (auto* r = m.get_if<request<count_children_request>>()) {
      return r->from.reply(child_counts{1, running_.size(), running_.size() + restarting_.size(), 0});
    }
    if (auto* r = m.get_if<request<consumer_start_child_request<T>>>()) return start_dynamic(*r, ctx);
    if (auto* r = m.get_if<request<consumer_terminate_child_request>>()) {
      return r->from.reply(terminate_one(r->body.child, ctx));
    }
  }

  void terminate(const exit_reason&, ctx_type& ctx) override {
    std::vector<pid> stopping;
    for (auto& [p, c] : running_) stopping.push_back(p);
    running_.clear();
    restarting_.clear();
    shut_down(std::move(stopping), ctx.process());
  }

 private:
  struct child {
    std::uint64_t producer;   // the subscription whose event started it
    std::optional<T> event;   // kept for a transient restart
  };
  struct producer_state {
    subscription_ref from;
    std::size_t pending;
    std::size_t min;
  };

  /// Stops `children` with the template's shutdown mode, all at once.
  void shut_down(std::vector<pid> children, context& self) {
    for (pid p : children) {
      self.unlink(p);  // so the child sees exactly one signal: the shutdown mode's
      self.exit(p, shutdown_ == shutdown_mode::brutal_kill ? exit_reason::kill() : exit_reason::shutdown());
    }
    if (shutdown_ == shutdown_mode::timeout && !children.empty()) {
      self.spawn(std::make_unique<detail::child_reaper>(std::move(children), shutdown_timeout_));
    }
  }

  /// start_child: a child of no producer (its end asks nobody).
  void start_dynamic(request<consumer_start_child_request<T>>& r, ctx_type& ctx) {
    std::optional<T> kept;
    if constexpr (std::is_copy_constructible_v<T>) {
      if (restart_ == restart_type::transient) kept.emplace(r.body.event);
    }
    std::optional<pid> p = try_start(ctx.process(), std::move(r.body.event));
    if (!p) return r.from.reply(start_child_reply{pid{}, "the child's start failed"});
    running_.emplace(*p, child{no_producer, std::move(kept)});
    r.from.reply(start_child_reply{*p, {}});
  }

  /// terminate_child: false if `p` is not a running child.
  bool terminate_one(pid p, ctx_type& ctx) {
    auto it = running_.find(p);
    if (it == running_.end()) return false;
    const std::uint64_t producer = it->second.producer;
    running_.erase(it);
    shut_down({p}, ctx.process());
    give_back(producer, ctx);
    return true;
  }

  std::optional<pid> try_start(context& self, T event) {
    try {
      const pid p = start_(self, std::move(event));
      if (!p.valid()) return std::nullopt;
      self.link(p);
      return p;
    } catch (...) {  // a failed start, like GenStage's {:error, reason}: the demand comes back
      return std::nullopt;
    }
  }

  void on_exit_signal(const exit_signal& s, ctx_type& ctx) {
    auto it = running_.find(s.from);
    if (it == running_.end()) {
      if (!s.reason.is_normal()) ctx.stop(s.reason);
      return;
    }
    if constexpr (std::is_copy_constructible_v<T>) {  // else transient was refused at construction
      if (restart_ == restart_type::transient && !s.reason.is_transient()) {
        child c = std::move(it->second);
        running_.erase(it);
        return restart(std::move(c), ctx);
      }
    }
    const std::uint64_t producer = it->second.producer;
    running_.erase(it);
    give_back(producer, ctx);
  }

  /// A restart keeps the child's demand slot; a failed one is retried through a self-message, each
  /// attempt counting towards the restart intensity.
  void restart(child c, ctx_type& ctx)
    requires std::is_copy_constructible_v<T>
  {
    if (!record_restart()) return ctx.stop(exit_reason::shutdown());
    if (auto p = try_start(ctx.process(), T(*c.event))) {
      running_.emplace(*p, std::move(c));
      return;
    }
    const std::uint64_t id = ++retry_seq_;
    restarting_.emplace(id, std::move(c));
    ctx.process().send(ctx.self(), detail::consumer_supervisor_retry{id});
  }

  bool record_restart() { return restarts_.try_restart(); }

  /// A child of `producer` ended for good: refill once `min_demand` of them have.
  void give_back(std::uint64_t producer, ctx_type& ctx) {
    auto it = producers_.find(producer);
    if (it == producers_.end()) return;
    producer_state& p = it->second;
    if (++p.pending >= p.min) ctx.ask(p.from, std::exchange(p.pending, 0));
  }

  static constexpr std::uint64_t no_producer = 0;  // subscription ids start at 1

  std::function<pid(context&, T)> start_;
  std::function<std::optional<exit_reason>(context&)> init_;
  restart_type restart_;
  shutdown_mode shutdown_;
  clock::duration shutdown_timeout_;
  std::unordered_map<std::uint64_t, producer_state> producers_;
  std::unordered_map<pid, child> running_;
  std::unordered_map<std::uint64_t, child> restarting_;
  std::uint64_t retry_seq_ = 0;
  restart_window restarts_;
};

/// Starts a consumer supervisor as a process of `where` (a runtime, or a process's context) and
/// makes the `subscribe_to` subscriptions; returns its pid. Throws std::invalid_argument for an
/// unusable template (see consumer_supervisor's constructor); nothing is spawned then.
template <class T, class Where>
pid start_consumer_supervisor(Where& where, consumer_supervisor_options<T> options) {
  stage_options<no_events> stage;
  stage.subscribe_to = std::move(options.subscribe_to);
  stage.spawn = options.spawn;
  stage.registered_name = options.registered_name;
  return start(where, std::make_unique<consumer_supervisor<T>>(std::move(options)), std::move(stage));
}

/// The same, waiting for what its init decided (see sync_start): `stopped` with the reason its
/// `init` refused with, for instance. Throws std::invalid_argument for an unusable template.
template <class T>
start_result sync_start_consumer_supervisor(runtime& rt, consumer_supervisor_options<T> options,
                                            std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  stage_options<no_events> stage;
  stage.subscribe_to = std::move(options.subscribe_to);
  stage.spawn = options.spawn;
  stage.registered_name = options.registered_name;
  return sync_start(rt, std::make_unique<consumer_supervisor<T>>(std::move(options)), std::move(stage), timeout);
}

/// Starts a child for `event` outside any producer's demand (from a plain thread; GenStage's
/// start_child): its pid, or an invalid pid and why.
template <class T>
call_result<start_child_reply> start_consumer_child(runtime& rt, pid sup, T event,
                                                    std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  return rt.call<start_child_reply>(sup, consumer_start_child_request<T>{std::move(event)}, timeout);
}

/// Stops one of its children (from a plain thread; GenStage's terminate_child): false if `child`
/// is not one of them. Frees the child's demand slot.
inline call_result<bool> terminate_consumer_child(runtime& rt, pid sup, pid child,
                                                  std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  return rt.call<bool>(sup, consumer_terminate_child_request{child}, timeout);
}

/// A consumer supervisor's child counts (from a plain thread; blocks up to `timeout`).
inline call_result<child_counts> count_children(runtime& rt, pid sup,
                                                std::chrono::steady_clock::duration timeout = std::chrono::seconds(5)) {
  return rt.call<child_counts>(sup, count_children_request{}, timeout);
}

}  // namespace sluice
