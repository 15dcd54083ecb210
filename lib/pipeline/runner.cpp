// Running a pipeline: the watcher (lib/pipeline/watcher.cpp) starts every stage instance,
// monitoring it from birth, and hears every exit; the thread that made the running_pipeline wires
// the subscriptions, releases the sources, and waits for the watcher to report the end.
#include <sluice/pipeline/runner.hpp>

#include <sluice/stage.hpp>

#include "pipeline/runner_state.hpp"

namespace sluice::pipeline {

using namespace internal;

std::vector<std::vector<pid>> running_pipeline::state::start_all() {
  std::vector<std::vector<pid>> instances(spec.stages.size());
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    for (std::size_t copy = 0; copy < spec.stages[i].concurrency; ++copy) {
      auto r = rt.call<start_reply>(watcher, start_request{{i, copy}}, wiring_timeout);
      std::string error = !r ? std::string("could not be started: ") + to_string(r.error()) : r->error;
      if (!error.empty()) {
        {
          std::lock_guard lock(mutex);
          kill_all();
        }
        rt.exit(watcher, exit_reason::kill());
        throw start_error(spec.stages[i].name, error);
      }
      instances[i].push_back(r->stage);
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
        for (pid p : instances[from]) {
          auto r = subscribe(rt, instances[i][copy], p, opts, wiring_timeout);
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
  const auto instances = st->start_all();
  const auto wiring_error = st->wire(instances);
  std::vector<pid> sources;
  {
    std::lock_guard lock(st->mutex);
    if (wiring_error) {
      st->wiring = false;
      st->wiring_failed = wiring_error->second;
      st->pending.failed_stage = st->pending.ok ? wiring_error->first : st->pending.failed_stage;
      st->kill_all();
    } else {
      st->wiring_done();
      for (std::size_t i = 0; i < spec.stages.size(); ++i) {
        if (spec.stages[i].role == stage_role::source) sources.insert(sources.end(), instances[i].begin(), instances[i].end());
      }
    }
    st->finish_if_done();
  }
  for (pid p : sources) demand(rt, p, demand_mode::forward);
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

run_outcome run_pipeline(runtime& rt, const pipeline_spec& spec) {
  running_pipeline p(rt, spec);
  for (;;) {
    if (auto o = p.wait_for(std::chrono::hours(24))) return *o;
  }
}

}  // namespace sluice::pipeline
