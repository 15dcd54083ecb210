// lib/pipeline/runner_state.hpp: a running pipeline as a supervision tree, and what the thread that
// made it shares with its watcher.
//
//   root supervisor (one_for_one, no restarts; stops everything in reverse start order)
//     stage supervisor "source"    (one_for_one over the stage's copies, the stage's restart window)
//       instance "source"          (registered as "<watcher pid>/source")
//     stage supervisor "transform"
//       instance "transform", "transform#2", ...
//     ...
//
// The supervisors start, link and restart the instances (children are transient with a `restart`
// allowance, temporary without one) and report every start and exit, in order, to the watcher: the
// process that wires what they start and decides what an exit means for the pipeline. A replacement
// re-subscribes by name to every instance of its producers (keeping its partition), and every
// instance of its consumers re-subscribes by name to it; a restarted source is released once all
// of its consumers' subscribe calls have been answered. A replacement may ask a partition
// dispatcher for its partition before the producer has heard of the old instance's exit: the
// producer parks that subscription until the DOWN frees the partition (nothing here polls).
//
// A failure beyond a stage's restarts (its supervisor gives up and stops its other copies), or a
// sink whose reader went away (`output_closed`), winds the pipeline down instead of killing it: the
// sources are drained, the stages whose events can no longer reach a live sink are stopped, and the
// rest finish what they hold, so that every event handled before the failure reaches the sinks
// still running. What has not ended within run_options::wind_down_timeout is killed.
//
// When every instance of a stage has ended (and no restart is on its way), the consumers whose
// producers have all ended are told `producers_done`: a consumer that lost a producer to a crash
// waits for that word instead of finishing while a replacement may still come.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sluice/pipeline/runner.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/supervisor.hpp>

namespace sluice::pipeline {

namespace internal {

using clock = std::chrono::steady_clock;

/// How long a subscription may take to be acknowledged, at start or after a restart.
inline constexpr auto wiring_timeout = std::chrono::seconds(30);

/// One stage of a running pipeline, as its watcher sees it.
struct stage_state {
  const stage_spec* spec = nullptr;
  std::vector<pid> copies;                  ///< the live instance of each copy; none once it ended
  std::size_t alive = 0;                    ///< instances running
  std::vector<std::size_t> producers;       ///< the stages it subscribes to (indices)
  std::vector<std::size_t> consumers;       ///< the stages that subscribe to it (indices)
  pid supervisor;                           ///< its stage supervisor (over its copies)
  std::size_t restarting = 0;               ///< copies its supervisor is about to start again
  std::vector<exit_reason> last_exit;       ///< why each copy's last instance exited
  clock::time_point started;
  clock::time_point ended;
};

/// Which copy of which stage an instance is.
struct instance_id {
  std::size_t stage = 0;
  std::size_t copy = 0;
};

/// A subscribe call the watcher makes for a restart, kept until its answer arrives.
struct restart_call {
  std::size_t consumer_stage = 0;
  std::size_t producer_stage = 0;
  pid consumer;
  std::string producer;  ///< its registered name
  subscription_options options;
  pid source;  ///< a restarted source this answer helps release (none otherwise)
};

/// To the watcher, from a stage supervisor: one of its reports.
struct stage_supervisor_report {
  std::size_t stage = 0;
  supervisor_report report;
};

/// To the watcher, from the thread that made the pipeline: every instance is started and the
/// wiring is over (`failed`: which stage could not be wired, and why). Answered with true.
struct wiring_over {
  std::optional<std::pair<std::string, std::string>> failed;
};

/// To the watcher: a pipeline winding down (after a failure) or draining has had its time; kill
/// the rest.
struct stop_deadline {};

/// The options of a subscription of copy `copy` of `consumer` to `producer` (its partition, and
/// `temporary` instead of `transient`: the watcher, not the subscription, ends a consumer whose
/// producers failed).
subscription_options subscription_for(const stage_spec& consumer, const subscription_spec& sub,
                                      const stage_spec& producer, std::size_t copy);

}  // namespace internal

struct running_pipeline::state {
  state(runtime& r, const pipeline_spec& s);

  runtime& rt;
  const pipeline_spec spec;
  std::vector<stage_report> reports;  ///< their counters are shared with the instances
  internal::clock::time_point started = internal::clock::now();  ///< the run's wall time counts from here
  run_hooks hooks;  ///< set before the watcher starts; constant afterwards
  run_options options;  ///< likewise
  pid watcher;
  std::string names;  ///< the prefix of its instances' registered names ("<watcher pid>/")
  pid root;           ///< the root supervisor, over the stage supervisors

  std::mutex mutex;  // guards everything below
  std::condition_variable ended;
  std::vector<internal::stage_state> stages;  // in file order, as spec.stages and reports
  std::map<pid, internal::instance_id> instances;
  std::size_t alive = 0;
  bool wiring = true;     // no restarts until every instance is started and subscribed
  bool draining = false;  // drain() was called: a restarted source is drained at once
  bool stopping = false;  // the destructor runs: nothing is restarted any more
  bool killed = false;    // kill_all ran: every exit from now on is expected
  bool winding_down = false;  // after a failure or a closed output: sources drained, dead ends killed
  std::optional<std::string> deadline_cause;  // a stop_deadline is armed: after what
  std::optional<std::string> wiring_failed;  // why wiring stopped: everything was killed
  std::optional<run_outcome> outcome;
  run_outcome pending;  // the first failure, while others still exit
  std::map<std::uint64_t, internal::restart_call> calls;  // by call_ref id
  std::map<pid, std::size_t> unreleased;  // a restarted source -> subscribe answers still to come

  // The side of the thread that makes the pipeline (lib/pipeline/runner.cpp), without `mutex`.
  /// Starts the tree: the root, a supervisor per stage, every instance; their pids by stage and
  /// copy. Throws start_error (after stopping what was started) if a start function throws; none
  /// if an instance already started failed meanwhile (the watcher stopped the tree; that failure
  /// is the outcome).
  static std::optional<std::vector<std::vector<pid>>> start_all(const std::shared_ptr<state>& st);
  /// Subscribes every instance to every instance of its producers; the first failure, if any, as
  /// (stage, why).
  std::optional<std::pair<std::string, std::string>> wire(const std::vector<std::vector<pid>>& instances);

  /// Spawns the watcher of `st` (lib/pipeline/watcher.cpp).
  static pid spawn_watcher(const std::shared_ptr<state>& st);
  /// The child spec of stage `stage`'s supervisor, a child of the root.
  static child_spec stage_supervisor(const std::shared_ptr<state>& st, std::size_t stage);
  /// The child spec of copy `id` of a stage, a child of its stage supervisor.
  static child_spec instance_child(const std::shared_ptr<state>& st, internal::instance_id id);

  /// The name of copy `copy` of stage `stage` ("name", "name#2", ...) and its registered name.
  [[nodiscard]] std::string instance_name(std::size_t stage, std::size_t copy) const;
  [[nodiscard]] std::string registered_name(std::size_t stage, std::size_t copy) const {
    return names + instance_name(stage, copy);
  }

  // The watcher's side (lib/pipeline/watcher.cpp), each with `mutex` held. Messages go out through
  // `rt`; `self` (the watcher) only calls.
  /// A stage supervisor reported.
  void on_report(context& self, std::size_t stage, const supervisor_report& r);
  /// The thread that made the pipeline is done starting and wiring it.
  void on_wiring_over(const internal::wiring_over& w);
  /// A subscribe call made for a restart was answered.
  void on_call_reply(context& self, call_reply& reply);
  /// Ends the run once every instance has exited.
  void finish_if_done();
  /// Ends the run now: the outcome is `pending`, the wall times are taken.
  void finish();
  /// Drains every instance but the sinks': sources stop, transforms stop making output on their own.
  void drain_stages();
  /// Kills every instance, through the root (the pipeline failed while wiring, or is being
  /// destroyed).
  void kill_all();
  /// Kills what still runs `timeout` after `cause` (the first deadline armed holds).
  void arm_deadline(std::string cause, std::chrono::milliseconds timeout);
  /// A wind-down's or a drain's time is up: kills what still runs, naming it in the outcome.
  void on_stop_deadline();
  /// The index of the stage called `stage` (which exists).
  [[nodiscard]] std::size_t index_of(const std::string& stage) const;

 private:
  void on_started(context& self, std::size_t stage, const supervisor_report& r);
  void on_terminated(std::size_t stage, const supervisor_report& r);
  void wire_replacement(context& self, internal::instance_id id, pid instance);
  void fail(std::size_t stage, exit_reason reason, bool exhausted);
  void wind_down();
  [[nodiscard]] std::vector<bool> reaching_a_sink() const;
  void call_subscribe(context& self, internal::restart_call call);
  void answered(const internal::restart_call& call);
  void subscribe_to_producers(context& self, internal::instance_id id, pid instance);
  std::size_t subscribe_consumers(context& self, internal::instance_id id, pid instance);
  void stage_ended(std::size_t stage);
  void tell_consumers(std::size_t stage);
  [[nodiscard]] bool producers_ended(std::size_t stage) const;
  [[nodiscard]] bool stage_over(std::size_t stage) const { return stages[stage].alive == 0 && stages[stage].restarting == 0; }
};

}  // namespace sluice::pipeline
