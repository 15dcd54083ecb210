// sluice/process/runtime.hpp: the scheduler, process table, registry and timers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/delay.hpp>
#include <sluice/process/log.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/signals.hpp>

namespace sluice {

namespace detail {
class runtime_impl;

/// A plain thread blocked on one call's reply.
class blocking_call {
 public:
  blocking_call();
  ~blocking_call();
  blocking_call(const blocking_call&) = delete;
  blocking_call& operator=(const blocking_call&) = delete;
  reply_handle handle();
  call_result<message> wait(std::chrono::steady_clock::duration timeout);

 private:
  std::shared_ptr<class blocking_sink> sink_;
};
}  // namespace detail

struct runtime_options {
  /// Scheduler threads; 0 means one per core.
  unsigned threads = 0;
  /// Messages a process handles per run before it yields its thread to others.
  unsigned budget = 64;
  /// Most processes alive at once (the process table grows in chunks up to this).
  std::uint32_t max_processes = 1u << 26;
  /// The records the runtime's logger passes on (see log.hpp), and where to: by default warnings
  /// and errors, to standard error.
  sluice::log_level log_level = sluice::log_level::warning;
  sluice::log_sink log_sink{};
  /// Virtual time (for `sluice test`): timers fire only when advance() says, and now() and
  /// system_now() read the virtual clock, which starts at `virtual_start` (wall clock) and moves
  /// only in advance(). Meant with `threads = 1`, so that a run depends only on its inputs.
  bool virtual_time = false;
  std::chrono::system_clock::time_point virtual_start{};
};

/// Owns a oneTBB task arena, the process table, the name registry and the timer service. Several
/// runtimes may live in one program; they share nothing. Every member is thread-safe and may be
/// called from plain threads or from inside processes, except the blocking ones (`call`,
/// `await_exit`), which must not be called from inside a process of this runtime.
///
/// The destructor kills the processes still alive (reason `kill`), waits until they are gone and
/// joins its threads.
class runtime {
 public:
  using duration = std::chrono::steady_clock::duration;

  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Spawns a process running `f` (`void(context&, message&)`) or the behaviour `b`.
  template <message_handler F>
  pid spawn(F f, spawn_options o = {}) {
    return spawn(std::make_unique<detail::function_behaviour<F>>(std::move(f)), o);
  }
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o = {});

  /// Sends `value` (moved in) to `to`; `closed` if it does not exist.
  template <class T>
  send_result send(pid to, T&& value) {
    return send_message(to, message::make(std::forward<T>(value)));
  }
  send_result send_message(pid to, message msg);

  /// Sends an exit signal to `target` (see `context::exit(pid, reason)`); the sender is no process.
  void exit(pid target, exit_reason reason);

  /// Registers `p` under `name`: false if the name is taken or `p` is not alive.
  bool register_name(std::string name, pid p);
  /// Removes a registration; false if there was none.
  bool unregister_name(const std::string& name);
  /// The pid registered under `name`, if any.
  [[nodiscard]] std::optional<pid> whereis(const std::string& name) const;

  /// Delivers `value` to `to` after `delay` (any chrono unit; too long to represent: never),
  /// unless cancelled first.
  template <class T, class Rep, class Period>
  timer_ref send_after(pid to, T&& value, std::chrono::duration<Rep, Period> delay) {
    return send_after_message(to, message::make(std::forward<T>(value)), saturating_delay(delay));
  }
  timer_ref send_after_message(pid to, message msg, duration delay);
  /// True if the timer was still pending (its message will not be delivered).
  bool cancel_timer(timer_ref ref);

  /// Now, for timing: std::chrono::steady_clock::now(), or the virtual clock (virtual_time).
  /// Stages read time here, so that a test's virtual clock controls them. Thread-safe.
  [[nodiscard]] std::chrono::steady_clock::time_point now() const;
  /// Now as a wall-clock time: system_clock::now(), or `virtual_start` plus the virtual time that
  /// has passed (virtual_time). Thread-safe.
  [[nodiscard]] std::chrono::system_clock::time_point system_now() const;
  /// True with runtime_options::virtual_time.
  [[nodiscard]] bool virtual_time() const noexcept;
  /// Virtual time only: blocks this plain thread until no process has anything to do (every
  /// mailbox empty, none running), so that what follows happens after everything sent so far.
  /// Work that plain threads feed in meanwhile is waited for too.
  void settle();
  /// Virtual time only: moves the virtual clock `by` forward, firing the timers due on the way in
  /// deadline order, each instant's after the processes settled from the one before; settles at
  /// the end. A plain thread's call (not from inside a process).
  void advance(duration by);
  /// Virtual time only: how long until the earliest pending timer (nullopt: none pending).
  [[nodiscard]] std::optional<duration> next_timer() const;

  /// Sends `req` to `to` as a `request<Req>` and blocks this plain thread until the reply (of type
  /// `R`), or `timeout` / `noproc` / `no_reply` / `bad_reply_type`.
  template <class R, class Req>
  call_result<R> call(pid to, Req req, duration timeout) {
    detail::blocking_call c;
    if (send_message(to, message::make_request(request<Req>{std::move(req), c.handle()})) == send_result::closed) {
      return call_error::noproc;
    }
    auto r = c.wait(timeout);
    if (!r) return r.error();
    if (R* v = r.value().template get_if<R>()) return std::move(*v);
    return call_error::bad_reply_type;
  }

  /// Blocks this plain thread until `p` exits; its exit reason (`noproc` if it was not alive), or
  /// nullopt after `timeout`.
  std::optional<exit_reason> await_exit(pid p, duration timeout);

  /// True while `p` names a live process (racy: it may exit right after).
  [[nodiscard]] bool is_alive(pid p) const noexcept;

  /// The runtime's logger: what the engine logs goes there, and stages may log through it too.
  [[nodiscard]] const sluice::logger& log() const noexcept;
  /// How many processes are alive (racy).
  [[nodiscard]] std::size_t size_hint() const noexcept;
  /// Scheduler threads.
  [[nodiscard]] unsigned threads() const noexcept;

  /// The implementation, for the layers built on top (stages). Not a stable API.
  [[nodiscard]] detail::runtime_impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<detail::runtime_impl> impl_;
};

}  // namespace sluice
