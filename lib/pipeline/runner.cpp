// Running a pipeline: the thread that made the running_pipeline starts its supervision tree (see
// runner_state.hpp) and wires the subscriptions; the watcher (lib/pipeline/watcher.cpp) hears the
// supervisors' reports, releases the sources and reports the end.
#include <sluice/pipeline/runner.hpp>

#include <sluice/stage.hpp>

#include "pipeline/runner_state.hpp"

namespace sluice::pipeline {

using namespace internal;

std::optional<std::vector<std::vector<pid>>> running_pipeline::state::start_all(const std::shared_ptr<state>& st) {
  runtime& rt = st->rt;
  const auto& stages = st->spec.stages;
  // The root never restarts a stage supervisor: when a stage's ends, the watcher decides.
  st->root = start_supervisor(rt, supervisor_flags{.strategy = strategy::one_for_one, .max_restarts = 0}, {});
  std::vector<std::vector<pid>> instances(stages.size());
  // A start that failed: the start function threw (a start_error naming the stage), or an instance
  // started before already failed, and the watcher stopped the tree (its failure is the outcome).
  auto failed = [&](std::size_t stage, const std::string& why) {
    std::lock_guard lock(st->mutex);
    if (st->killed) return true;
    st->kill_all();
    rt.exit(st->watcher, exit_reason::kill());
    throw start_error(stages[stage].name, why);
  };
  auto why = [](call_result<start_child_reply>& r) {
    return !r ? std::string("could not be started: ") + to_string(r.error()) : r->error;
  };
  for (std::size_t i = 0; i < stages.size(); ++i) {
    auto sup = start_child(rt, st->root, stage_supervisor(st, i), wiring_timeout);
    if ((!sup || !sup->child.valid()) && failed(i, why(sup))) return std::nullopt;
    {
      std::lock_guard lock(st->mutex);
      st->stages[i].supervisor = sup->child;
    }
    for (std::size_t copy = 0; copy < stages[i].concurrency; ++copy) {
      auto r = start_child(rt, sup->child, instance_child(st, {i, copy}), wiring_timeout);
      if ((!r || !r->child.valid()) && failed(i, why(r))) return std::nullopt;
      instances[i].push_back(r->child);
    }
  }
  return instances;
}

std::optional<std::pair<std::string, std::string>> running_pipeline::state::wire(const std::vector<std::vector<pid>>& instances) {
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    const stage_spec& s = spec.stages[i];
    for (std::size_t copy = 0; copy < instances[i].size(); ++copy) {
      for (const subscription_spec& sub : s.subscribe_to) {
        const std::size_t from = index_of(sub.stage);
        const subscription_options opts = subscription_for(s, sub, spec.stages[from], copy);
        for (std::size_t producer = 0; producer < instances[from].size(); ++producer) {
          auto r = subscribe(rt, instances[i][copy], registered_name(from, producer), opts, wiring_timeout);
          // Usually a stage that died in its first instant (a file that cannot be opened): its own
          // exit reason, which the watcher has or will have, is the one to report.
          if (!r) return std::make_pair(s.name, "could not subscribe to \"" + sub.stage + "\": " + r.error.to_string());
        }
      }
    }
  }
  return std::nullopt;
}

running_pipeline::running_pipeline(runtime& rt, const pipeline_spec& spec, run_hooks hooks, run_options options)
    : state_(std::make_shared<state>(rt, spec)) {
  auto st = state_;
  st->hooks = std::move(hooks);  // before the watcher exists: it reads them without the mutex
  st->options = options;
  st->watcher = state::spawn_watcher(st);
  st->names = st->watcher.to_string() + "/";
  const auto instances = state::start_all(st);
  // Every instance's start was reported to the watcher before its start_child returned, so the
  // watcher knows them all when this arrives; it releases the sources (or stops everything).
  internal::wiring_over over;
  if (instances) over.failed = st->wire(*instances);
  else over.failed = std::make_pair(std::string(), std::string("the pipeline failed while starting"));
  rt.call<bool>(st->watcher, std::move(over), wiring_timeout);
}

running_pipeline::~running_pipeline() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;  // the kills below are not restarted
    state_->kill_all();
  }
  state_->rt.exit(state_->watcher, exit_reason::kill());
}

void running_pipeline::drain() {
  std::lock_guard lock(state_->mutex);
  state_->drain_stages();
  if (state_->options.drain_timeout) state_->arm_deadline("the drain began", *state_->options.drain_timeout);
}

std::optional<run_outcome> running_pipeline::wait_for(std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(state_->mutex);
  if (!state_->ended.wait_for(lock, timeout, [&] { return state_->outcome.has_value(); })) return std::nullopt;
  return state_->outcome;
}

std::vector<stage_report> running_pipeline::stages() const {
  std::lock_guard lock(state_->mutex);
  return state_->reports;
}

pid running_pipeline::supervisor() const { return state_->root; }  // set before the constructor returned

run_outcome run_pipeline(runtime& rt, const pipeline_spec& spec) {
  running_pipeline p(rt, spec);
  for (;;) {
    if (auto o = p.wait_for(std::chrono::hours(24))) return *o;
  }
}

}  // namespace sluice::pipeline
