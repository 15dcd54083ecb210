// sluice/process/context.hpp: what a running process can do (its "self").
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/delay.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/signals.hpp>

namespace sluice {

class runtime;
namespace detail {
class process;
}

/// The process's view of itself, passed to every behaviour callback.
///
/// Only valid inside the callback it was passed to, and only on that thread: a context must not be
/// stored or handed to another thread (use `self()`, a pid, for that).
class context {
 public:
  using duration = std::chrono::steady_clock::duration;

  explicit context(detail::process& p) noexcept : p_(&p) {}

  /// This process's pid.
  [[nodiscard]] pid self() const noexcept;
  /// The runtime this process runs on.
  [[nodiscard]] runtime& rt() const noexcept;

  /// Sends `value` (moved in) to `to`. Per-sender order is kept.
  template <class T>
  send_result send(pid to, T&& value) {
    return send_message(to, message::make(std::forward<T>(value)));
  }
  send_result send_message(pid to, message msg);

  /// Spawns a process; `spawn_link` also links it to this one and `spawn_monitor` monitors it, both
  /// atomically (the child cannot exit unobserved in between).
  template <message_handler F>
  pid spawn(F f, spawn_options o = {}) {
    return spawn(std::make_unique<detail::function_behaviour<F>>(std::move(f)), o);
  }
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o = {});
  template <message_handler F>
  pid spawn_link(F f, spawn_options o = {}) {
    return spawn_link(std::make_unique<detail::function_behaviour<F>>(std::move(f)), o);
  }
  pid spawn_link(std::unique_ptr<behaviour> b, spawn_options o = {});
  template <message_handler F>
  std::pair<pid, monitor_ref> spawn_monitor(F f, spawn_options o = {}) {
    return spawn_monitor(std::make_unique<detail::function_behaviour<F>>(std::move(f)), o);
  }
  std::pair<pid, monitor_ref> spawn_monitor(std::unique_ptr<behaviour> b, spawn_options o = {});

  /// Links this process with `other` (idempotent). When either exits, the other gets an exit signal.
  /// If `other` is already dead, this process gets an exit signal with reason `noproc`.
  void link(pid other);
  /// Removes the link, if any, on both sides.
  void unlink(pid other);
  /// Monitors `other`: a `down` message arrives exactly once when it exits (at once, `noproc`, if it
  /// is already dead).
  monitor_ref monitor(pid other);
  /// Stops a monitor; no `down` for it is delivered afterwards. False if it was not active.
  bool demonitor(monitor_ref ref);

  /// While on, exit signals (but `kill`) arrive as `exit_signal` messages instead of ending this process.
  void trap_exit(bool on) noexcept;
  [[nodiscard]] bool trapping_exits() const noexcept;

  /// Ends this process with `reason` once the current callback returns; no further message is handled.
  void exit(exit_reason reason);
  /// Sends an exit signal to `target` (Erlang's exit/2): `kill` always ends it (reason `killed`);
  /// `normal` is ignored unless it traps exits; any other reason ends it unless it traps exits.
  void exit(pid target, exit_reason reason);

  /// Registers this process under `name`; false if the name is taken. Freed when this process exits.
  bool register_name(std::string name);

  /// Delivers `value` to `to` after `delay` (any chrono unit; too long to represent: never),
  /// unless cancelled first.
  template <class T, class Rep, class Period>
  timer_ref send_after(pid to, T&& value, std::chrono::duration<Rep, Period> delay) {
    return send_after_message(to, message::make(std::forward<T>(value)), saturating_delay(delay));
  }
  timer_ref send_after_message(pid to, message msg, duration delay);
  /// True if the timer was still pending (its message will not be delivered).
  bool cancel_timer(timer_ref ref);

  /// Sends `req` to `to` as a `request<Req>` without blocking; the answer arrives later as one
  /// `call_reply` message carrying the returned ref: the reply, or `timeout` / `noproc` / `no_reply`.
  template <class Req>
  call_ref call(pid to, Req req, duration timeout) {
    auto [ref, sink] = prepare_call();
    send_call(to, message::make_request(request<Req>{std::move(req), reply_handle(sink)}), ref, sink, timeout);
    return ref;
  }

 private:
  std::pair<call_ref, std::shared_ptr<detail::reply_sink>> prepare_call();
  void send_call(pid to, message req, call_ref ref, const std::shared_ptr<detail::reply_sink>& sink,
                 duration timeout);

  detail::process* p_;
};

}  // namespace sluice
