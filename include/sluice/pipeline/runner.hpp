// sluice/pipeline/runner.hpp: starts a validated pipeline, runs it, drains it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/pipeline/model.hpp>
#include <sluice/process/runtime.hpp>

namespace sluice::pipeline {

/// One stage of a running pipeline, for statistics.
struct stage_report {
  std::string name;
  std::string type;
  stage_role role = stage_role::transform;
  std::size_t copies = 1;
  std::shared_ptr<stage_counters> counters;  ///< shared by its copies and their restarts
  /// From the stage's start to its last instance's exit; set once the pipeline has ended.
  std::chrono::steady_clock::duration wall{};
};

/// How a pipeline run ended.
struct run_outcome {
  bool ok = true;
  std::string failed_stage;  ///< the first stage that exited abnormally (beyond its restarts)
  exit_reason reason;        ///< why
  bool restarts_exhausted = false;  ///< the stage had a `restart` and used it up
  /// A sink whose reader went away (it exited with `{shutdown, output_closed}`, e.g. standard
  /// output piped into `head`): the pipeline was wound down, which is not a failure. Its name.
  std::optional<std::string> output_closed;
  /// Stages still running when a wind-down's or a drain's time was up: they were killed, and the
  /// events they held were lost. The run ended then, without waiting for them to exit: one stuck in
  /// a blocking call may still be there (a program that wants to exit should not wait for it).
  std::vector<std::string> killed_at_deadline;
  std::chrono::steady_clock::duration wall{};
};

/// A stage instance exited abnormally and was replaced (see running_pipeline).
struct restart_notice {
  std::string stage;
  std::size_t copy = 0;    ///< which copy (0 without `concurrency`)
  exit_reason reason;      ///< why the replaced instance exited
  std::size_t recent = 0;  ///< the stage's restarts within its max_seconds, this one included
};

/// Callbacks a running pipeline makes as it goes. They run on the pipeline's watcher process: keep
/// them short, never block on the pipeline, and make them thread-safe; what they throw is ignored.
struct run_hooks {
  std::function<void(const restart_notice&)> on_restart;
};

/// How a running pipeline behaves (beyond its file).
struct run_options {
  /// After a failure (or a closed output) the stages that can still deliver get this long to finish
  /// what they hold before they are killed.
  std::chrono::milliseconds wind_down_timeout{10000};
  /// After drain(): what has not ended this long after is killed and named, and the run fails (an
  /// operator's deadline, e.g. a container's grace period). None: a drain may take as long as it
  /// needs.
  std::optional<std::chrono::milliseconds> drain_timeout;
};

/// The exit reason of a sink whose output was closed by its reader (EPIPE): not a failure.
inline exit_reason output_closed_reason() { return exit_reason::shutdown("output_closed"); }

/// A stage could not be started (its start function threw).
class start_error : public std::runtime_error {
 public:
  start_error(std::string stage, const std::string& what)
      : std::runtime_error("stage \"" + stage + "\": " + what), stage_(std::move(stage)) {}
  [[nodiscard]] const std::string& stage() const noexcept { return stage_; }

 private:
  std::string stage_;
};

/// A pipeline running on a runtime. Construction starts every stage (sources held back until all
/// subscriptions are in place, so a broadcast's first consumer gets no head start), then lets the
/// sources go. It ends when every stage has exited: all normally (finite sources exhausted and
/// every event through to the sinks, or after drain()), or after one exits abnormally beyond its
/// `restart` allowance. Such a failure (or a sink exiting with output_closed_reason()) winds the
/// pipeline down: its sources are drained, the stages that can no longer reach a live sink are
/// killed, and the others deliver what they hold (within run_options::wind_down_timeout), so the
/// events handled before a failure are not lost. The destructor stops what is still running.
///
/// A running pipeline is a supervision tree: a root supervisor, one supervisor per stage over its
/// copies (one_for_one, the stage's restart window), each instance registered under its pipeline
/// name. Restarts: an instance of a stage with `restart.max_restarts > 0` that exits abnormally once
/// the pipeline is running is replaced by its stage supervisor with a fresh one (same options, same
/// counters), which subscribes by name to every instance of its producers (keeping its partition)
/// and to which every instance of its consumers subscribes by name, as long as the stage has had no
/// more than max_restarts restarts within max_seconds (then its supervisor stops its other copies).
/// The events the old instance held are lost (at most once); a restarted source starts from
/// scratch. The registry the spec was loaded with must outlive the running_pipeline.
class running_pipeline {
 public:
  /// Throws start_error if a stage cannot be started.
  running_pipeline(runtime& rt, const pipeline_spec& spec, run_hooks hooks = {}, run_options options = {});
  ~running_pipeline();
  running_pipeline(const running_pipeline&) = delete;
  running_pipeline& operator=(const running_pipeline&) = delete;

  /// Stops the sources; what is in flight still reaches the sinks, then everything exits normally.
  /// Thread-safe; idempotent.
  void drain();
  /// Blocks until the pipeline has ended, or `timeout`; the outcome once ended.
  std::optional<run_outcome> wait_for(std::chrono::steady_clock::duration timeout);
  /// Its stages, in file order (counters are live while it runs): a copy taken under the
  /// pipeline's lock, as the runner writes a stage's wall time when it ends.
  [[nodiscard]] std::vector<stage_report> stages() const;
  /// The root of its supervision tree (a supervisor: `which_children` lists one supervisor per
  /// stage, in file order, each over the stage's instances "name", "name#2", ...).
  [[nodiscard]] pid supervisor() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

/// Runs `spec` to its end (a convenience over running_pipeline).
run_outcome run_pipeline(runtime& rt, const pipeline_spec& spec);

}  // namespace sluice::pipeline
