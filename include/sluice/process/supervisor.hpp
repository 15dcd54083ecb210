// sluice/process/supervisor.hpp: processes that start, watch and restart other processes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <sluice/process/call.hpp>
#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>

namespace sluice {

class context;
class runtime;

/// When a child that exited is started again.
enum class restart_type {
  permanent,  ///< always
  transient,  ///< only after an abnormal exit (not normal, shutdown or {shutdown, _})
  temporary,  ///< never; the child is forgotten when it exits
};

/// How a supervisor stops a child.
enum class shutdown_mode {
  brutal_kill,  ///< exit signal `kill` at once
  timeout,      ///< exit signal `shutdown`, then `kill` if it is still alive after `shutdown_timeout`
  infinity,     ///< exit signal `shutdown`, and wait as long as it takes
};

/// How to start one child and what to do when it exits.
struct child_spec {
  /// Unique among the supervisor's children.
  std::string id;
  /// Starts the child and returns its pid; runs inside the supervisor (spawn with `sup.spawn` or
  /// `sup.spawn_link`; the supervisor links the child either way). Throwing, or returning an invalid
  /// pid, is a failed start.
  std::function<pid(context& sup)> start;
  restart_type restart = restart_type::permanent;
  shutdown_mode shutdown = shutdown_mode::timeout;
  std::chrono::steady_clock::duration shutdown_timeout = std::chrono::seconds(5);
};

/// Which children a supervisor restarts when one of them exits and must be restarted.
enum class strategy {
  one_for_one,   ///< only that child
  one_for_all,   ///< all of them: the others are stopped in reverse order, then all start in order
  rest_for_one,  ///< that child and those started after it, likewise
};

/// What a supervisor reports as it goes: OTP's supervisor progress and error reports, as values.
struct supervisor_report {
  enum class kind : std::uint8_t {
    started,     ///< a child started (`child`; `restarted` if it replaces one that exited)
    terminated,  ///< a child exited (`child`, `reason`), or a restart failed to start (no `child`;
                 ///< `reason` says why); `restarting` if the strategy starts it again
    gave_up,     ///< more restarts than the intensity allows: the children are stopped next (each
                 ///< reported `terminated`), then the supervisor exits with `shutdown`
  };
  kind what = kind::started;
  std::string id;  ///< the child's id (empty for gave_up)
  pid child;
  exit_reason reason;
  bool restarted = false;
  bool restarting = false;
  std::size_t recent_restarts = 0;  ///< restarts within max_seconds as of this report
};

struct supervisor_flags {
  sluice::strategy strategy = strategy::one_for_one;
  /// More than `max_restarts` restarts within `max_seconds`: the supervisor stops all its children
  /// (in reverse start order) and exits with reason `shutdown`.
  int max_restarts = 3;
  std::chrono::steady_clock::duration max_seconds = std::chrono::seconds(5);
};

/// Hears a supervisor's every report, in order, on the supervisor's process (OTP sends them to its
/// logger; a running pipeline follows its stages with it). Keep it short and non-blocking, e.g. a
/// send; what it throws is ignored.
using supervisor_reporter = std::function<void(const supervisor_report&)>;

/// What `which_children` reports of one child; `child` is invalid while it is not running.
struct child_info {
  std::string id;
  pid child;
};

/// Requests a supervisor answers (send them with `runtime::call` or `context::call`, or use the
/// functions below). Replies: `start_child_reply`, `bool`, `std::vector<child_info>`.
struct start_child_request {
  child_spec spec;
};
struct start_child_reply {
  pid child;          ///< invalid if the start failed
  std::string error;  ///< why it failed (duplicate id, start threw, ...)
};
struct terminate_child_request {
  std::string id;  ///< stops the child and forgets its spec; reply false if there is no such child
};
struct which_children_request {};

/// Spawns a supervisor that starts `children` in order (a failed start stops the ones already
/// started, in reverse order, and the supervisor exits with `{shutdown, failed_to_start_child}`).
/// It traps exits: it stops on an exit signal from its parent (the process that started it with
/// the `context&` overload) or from no process (`runtime::exit(sup, exit_reason::shutdown())`), by
/// stopping its children in reverse order, then exiting with that signal's reason. Exit signals
/// from other processes are ignored, as in Erlang/OTP; `kill` ends it at once (its linked children
/// then get `killed`). Thread-safe.
/// `report`, if any, hears what it does (see supervisor_report).
pid start_supervisor(runtime& rt, supervisor_flags flags, std::vector<child_spec> children,
                     supervisor_reporter report = {});
/// The same, linked to the calling process (its parent: an exit signal from it stops the supervisor).
pid start_supervisor(context& parent, supervisor_flags flags, std::vector<child_spec> children,
                     supervisor_reporter report = {});

/// Adds and starts a child (from a plain thread; blocks up to `timeout`).
call_result<start_child_reply> start_child(runtime& rt, pid sup, child_spec spec,
                                           std::chrono::steady_clock::duration timeout);
/// Stops and removes a child (from a plain thread; blocks up to `timeout`).
call_result<bool> terminate_child(runtime& rt, pid sup, std::string id,
                                  std::chrono::steady_clock::duration timeout);
/// The children in start order (from a plain thread; blocks up to `timeout`).
call_result<std::vector<child_info>> which_children(runtime& rt, pid sup,
                                                    std::chrono::steady_clock::duration timeout);

}  // namespace sluice
