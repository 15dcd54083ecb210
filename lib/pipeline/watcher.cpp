// The watcher of a running pipeline (see runner_state.hpp): it hears its stage supervisors' reports
// of every start and exit, wires what they restart, winds the pipeline down after a failure, and
// tells consumers when all their producers have ended.
#include "pipeline/runner_state.hpp"
#include "pipeline/dead_letter_dispatcher.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string_view>

#include <sluice/pipeline/event_parser.hpp>
#include <sluice/stage.hpp>
#include <sluice/stage/refusal.hpp>

namespace sluice::pipeline {

using namespace internal;

namespace {


/// `seconds` as a clock duration, saturated at a century (the loader bounds max_seconds anyway).
clock::duration clock_seconds(double seconds) {
  constexpr double century = 100.0 * 365 * 24 * 3600;
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(std::clamp(seconds, 0.0, century)));
}

/// Spawns through spawn_link from a stage supervisor, so it hears an instance's exit (with its real
/// reason) however early it comes.
class linking_spawner final : public spawner {
 public:
  explicit linking_spawner(context& sup) : sup_(sup) {}
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o) override { return sup_.spawn_link(std::move(b), o); }

 private:
  context& sup_;
};

/// A stage's `restart.max_restarts` as a supervisor's int.
int max_restarts_of(const restart_spec& r) {
  return static_cast<int>(std::min<std::size_t>(r.max_restarts, static_cast<std::size_t>(std::numeric_limits<int>::max())));
}

/// The partition number of a key (compact JSON text) among `n`: integers go to (value mod n), so
/// numeric keys partition predictably; anything else (a missing key is "null") by hash.
std::size_t partition_of_key(std::string_view key, std::size_t n) {
  std::int64_t i = 0;
  if (auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), i); ec == std::errc() && end == key.data() + key.size()) {
    const auto m = static_cast<std::int64_t>(n);
    return static_cast<std::size_t>(((i % m) + m) % m);
  }
  std::uint64_t u = 0;
  if (auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), u); ec == std::errc() && end == key.data() + key.size()) {
    return static_cast<std::size_t>(u % n);
  }
  return std::hash<std::string_view>{}(key) % n;
}

/// Partitions events by the value at a JSON pointer; without one, by the key an event carries (a
/// jq stage's `key` option sets it), else by the whole event. One per dispatcher: its parser
/// belongs to the producer's process.
class partition_key {
 public:
  partition_key(std::string pointer, std::size_t n) : pointer_(std::move(pointer)), n_(n) {}
  std::size_t operator()(const event& e) {
    if (auto key = e.key(); key && pointer_.empty()) return partition_of_key(*key, n_);
    const std::optional<std::string> key = parser_->key_of(e, pointer_);
    return partition_of_key(key ? std::string_view(*key) : std::string_view("null"), n_);
  }

 private:
  std::string pointer_;
  std::size_t n_;
  std::shared_ptr<event_parser> parser_ = std::make_shared<event_parser>();  // copyable, as std::function wants
};

std::unique_ptr<dispatcher<event>> make_dispatcher(const dispatcher_spec& d) {
  switch (d.type) {
    case dispatcher_spec::kind::demand:
      if (!d.shuffle_demands_on_first_dispatch) return nullptr;  // the default
      return std::make_unique<demand_dispatcher<event>>(
          demand_dispatcher<event>::options{.shuffle_demands_on_first_dispatch = true});
    case dispatcher_spec::kind::broadcast:
      return std::make_unique<broadcast_dispatcher<event>>();
    case dispatcher_spec::kind::partition: {
      typename partition_dispatcher<event>::options o;
      o.partitions = d.partitions;
      if (d.max_queued) o.max_queued = *d.max_queued;
      o.index = partition_key(d.key, d.partitions);
      return std::make_unique<partition_dispatcher<event>>(std::move(o));
    }
  }
  return nullptr;
}

}  // namespace

subscription_options internal::subscription_for(const stage_spec&, const subscription_spec& sub,
                                                const stage_spec& producer, std::size_t copy) {
  subscription_options opts = sub.options;
  if (sub.dead_letters) {
    opts.custom[dead_letters_option] = true;  // the producer's dead_letter_dispatcher sends only dead letters here
  } else if (producer.dispatcher.type == dispatcher_spec::kind::partition && !opts.partition) {
    opts.partition = partition_id{copy};  // one copy per partition
  }
  // A crash must not end the other side at once: the watcher restarts the crashed stage, or winds
  // the pipeline down, and then tells the consumers whose producers have all ended, which first
  // pass on what they hold (a transient consumer would exit at once and lose it).
  if (opts.cancel == cancel_mode::transient) opts.cancel = cancel_mode::temporary;
  return opts;
}

running_pipeline::state::state(runtime& r, const pipeline_spec& s) : rt(r), spec(s), stages(s.stages.size()) {
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    const stage_spec& stage = spec.stages[i];
    reports.push_back({stage.name, stage.type, stage.role, stage.concurrency, std::make_shared<stage_counters>()});
    stages[i].spec = &stage;
    stages[i].copies.resize(stage.concurrency);
    stages[i].last_exit.resize(stage.concurrency);
    for (const subscription_spec& sub : stage.subscribe_to) {
      const std::size_t from = index_of(sub.stage);
      stages[i].producers.push_back(from);
      auto& consumers = stages[from].consumers;
      if (std::find(consumers.begin(), consumers.end(), i) == consumers.end()) consumers.push_back(i);
    }
  }
}

std::size_t running_pipeline::state::index_of(const std::string& stage) const {
  return static_cast<std::size_t>(spec.find(stage) - spec.stages.data());
}

std::string running_pipeline::state::instance_name(std::size_t stage, std::size_t copy) const {
  const std::string& name = spec.stages[stage].name;
  return copy == 0 ? name : name + "#" + std::to_string(copy + 1);
}

pid running_pipeline::state::spawn_watcher(const std::shared_ptr<state>& st) {
  return st->rt.spawn([st](context& self, message& m) {
    std::lock_guard lock(st->mutex);
    if (auto* r = m.get_if<stage_supervisor_report>()) {
      st->on_report(self, r->stage, r->report);
    } else if (auto* w = m.get_if<request<wiring_over>>()) {
      st->on_wiring_over(w->body);
      w->from.reply(true);
    } else if (auto* c = m.get_if<call_reply>()) {
      st->on_call_reply(self, *c);
    } else if (m.is<stop_deadline>()) {
      st->on_stop_deadline();
    }
  });
}

child_spec running_pipeline::state::stage_supervisor(const std::shared_ptr<state>& st, std::size_t stage) {
  const restart_spec& r = st->spec.stages[stage].restart;
  supervisor_flags flags;
  flags.strategy = strategy::one_for_one;  // a stage's copies are independent of each other
  flags.max_restarts = r.allowed() ? max_restarts_of(r) : 0;
  flags.max_seconds = clock_seconds(r.max_seconds);
  supervisor_reporter report = [rt = &st->rt, watcher = st->watcher, stage](const supervisor_report& what) {
    rt->send(watcher, stage_supervisor_report{stage, what});
  };
  child_spec c;
  c.id = st->spec.stages[stage].name;
  c.restart = restart_type::temporary;  // the watcher, not the root, decides what a stage's end means
  c.shutdown = shutdown_mode::infinity;  // a supervisor: it stops its own children
  c.start = [flags, report = std::move(report)](context& root) { return start_supervisor(root, flags, {}, report); };
  return c;
}

child_spec running_pipeline::state::instance_child(const std::shared_ptr<state>& st, instance_id id) {
  const stage_spec& s = st->spec.stages[id.stage];
  child_spec c;
  c.id = st->instance_name(id.stage, id.copy);
  // Restarted after an abnormal exit within the stage's allowance; never without one.
  c.restart = s.restart.allowed() ? restart_type::transient : restart_type::temporary;
  c.shutdown = shutdown_mode::brutal_kill;  // what a stopped pipeline's instances held is lost either way
  c.start = [st, id, first = std::make_shared<bool>(true)](context& sup) {
    const stage_spec& s = st->spec.stages[id.stage];
    stage_instance instance;
    instance.restarted = !std::exchange(*first, false);  // only ever called on the supervisor's process
    instance.name = st->instance_name(id.stage, id.copy);
    instance.pipeline_file = st->spec.file;
    instance.engine.name = instance.name;
    instance.engine.buffer_size = s.buffer_size;
    instance.engine.buffer_keep = s.buffer_keep;
    instance.engine.dispatcher = make_dispatcher(s.dispatcher);
    instance.on_error = s.on_error;
    if (s.on_error && s.on_error->then == error_policy::action::dead_letter) {
      instance.dead_letter_origin = make_origin(s.name, "dead_letter");
      instance.engine.dispatcher =
          std::make_unique<dead_letter_dispatcher>(std::move(instance.engine.dispatcher), instance.dead_letter_origin);
    }
    instance.engine.counters = st->reports[id.stage].counters;
    instance.stats = st->reports[id.stage].counters;
    instance.engine.exit_after_last_producer = true;
    if (s.role == stage_role::source) instance.engine.demand = demand_mode::accumulate;
    linking_spawner where(sup);
    const pid p = s.type_info->start(where, s.options, std::move(instance));
    // Registered before anyone learns of it, so that subscriptions by name find it (an instance that
    // already exited keeps no name; its exit is reported as any other).
    sup.rt().register_name(st->registered_name(id.stage, id.copy), p);
    return p;
  };
  return c;
}

void running_pipeline::state::on_report(context& self, std::size_t stage, const supervisor_report& r) {
  switch (r.what) {
    case supervisor_report::kind::started:
      return on_started(self, stage, r);
    case supervisor_report::kind::terminated:
      return on_terminated(stage, r);
    case supervisor_report::kind::gave_up:
      return;  // the report of the exit that used the allowance up came first, saying no restart follows
  }
}

void running_pipeline::state::on_started(context& self, std::size_t stage, const supervisor_report& r) {
  stage_state& s = stages[stage];
  std::size_t copy = 0;  // the child's id is the copy's instance name
  while (copy + 1 < s.copies.size() && instance_name(stage, copy) != r.id) ++copy;
  const instance_id id{stage, copy};
  if (s.started == clock::time_point{}) s.started = clock::now();
  s.copies[copy] = r.child;
  ++s.alive;
  ++alive;
  instances.emplace(r.child, id);
  if (!r.restarted) return;
  if (s.restarting > 0) --s.restarting;
  if (killed || wiring) return;  // everything is being stopped (a crash while wiring fails the run)
  reports[stage].counters->restarts.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  wire_replacement(self, id, r.child);
  if (!hooks.on_restart) return;
  try {
    hooks.on_restart(restart_notice{s.spec->name, copy, s.last_exit[copy], r.recent_restarts});
  } catch (...) {  // a report's failure must not take the pipeline down
  }
}

void running_pipeline::state::on_terminated(std::size_t stage, const supervisor_report& r) {
  stage_state& s = stages[stage];
  exit_reason reason = r.reason;
  if (auto it = instances.find(r.child); r.child.valid() && it != instances.end()) {
    s.last_exit[it->second.copy] = reason;
    s.copies[it->second.copy] = pid{};
    instances.erase(it);
    --s.alive;
    --alive;
  } else if (!r.child.valid()) {  // a restart that could not start
    if (s.restarting > 0) --s.restarting;
    reason = exit_reason::error("could not be restarted: " + r.reason.detail());
  }
  if (r.restarting) ++s.restarting;
  // Once everything is being stopped, or the pipeline winds down, `killed` is our doing; the first
  // other abnormal exit is the real cause.
  const bool ours = (killed || wiring_failed || winding_down) && reason == exit_reason::killed();
  if (reason == output_closed_reason() && s.spec->role == stage_role::sink) {
    if (!pending.output_closed) pending.output_closed = s.spec->name;
    wind_down();
  } else if (!reason.is_normal() && !ours && pending.ok && (wiring || !r.restarting)) {
    // A failure while starting is never restarted; otherwise the stage's supervisor either starts a
    // replacement or has used the stage's allowance up.
    fail(stage, std::move(reason), s.spec->restart.allowed() && !wiring && !stopping);
  }
  if (stage_over(stage)) stage_ended(stage);
  finish_if_done();
}

void running_pipeline::state::wire_replacement(context& self, instance_id id, pid p) {
  const bool source = spec.stages[id.stage].role == stage_role::source;
  if (draining && spec.stages[id.stage].role != stage_role::sink) sluice::drain(rt, p);  // as drain_stages
  subscribe_to_producers(self, id, p);
  const std::size_t asked = subscribe_consumers(self, id, p);
  if (source) {
    // Held in accumulate mode until every consumer has subscribed, as at start.
    if (asked == 0) sluice::demand(rt, p, demand_mode::forward);
    else unreleased[p] = asked;
  } else if (producers_ended(id.stage)) {
    sluice::producers_done(rt, p);  // nothing will feed it: it ends at once
  }
}

void running_pipeline::state::subscribe_to_producers(context& self, instance_id id, pid instance) {
  const stage_spec& s = spec.stages[id.stage];
  for (const subscription_spec& sub : s.subscribe_to) {
    const std::size_t from = index_of(sub.stage);
    const subscription_options opts = subscription_for(s, sub, spec.stages[from], id.copy);
    for (std::size_t copy = 0; copy < stages[from].copies.size(); ++copy) {
      if (stages[from].copies[copy].valid()) call_subscribe(self, {id.stage, from, instance, registered_name(from, copy), opts, pid{}});
    }
  }
}

std::size_t running_pipeline::state::subscribe_consumers(context& self, instance_id id, pid instance) {
  const stage_spec& producer = spec.stages[id.stage];
  const pid source = producer.role == stage_role::source ? instance : pid{};
  std::size_t asked = 0;
  for (std::size_t c : stages[id.stage].consumers) {
    for (const subscription_spec& sub : spec.stages[c].subscribe_to) {
      if (sub.stage != producer.name) continue;
      for (std::size_t copy = 0; copy < stages[c].copies.size(); ++copy) {
        const pid consumer = stages[c].copies[copy];
        if (!consumer.valid()) continue;
        call_subscribe(self, {c, id.stage, consumer, registered_name(id.stage, id.copy),
                              subscription_for(spec.stages[c], sub, producer, copy), source});
        ++asked;
      }
    }
  }
  return asked;
}

void running_pipeline::state::call_subscribe(context& self, restart_call call) {
  const call_ref ref = subscribe(self, call.consumer, call.producer, call.options, wiring_timeout);  // by name
  calls.emplace(ref.id, std::move(call));
}

void running_pipeline::state::on_call_reply(context& /*self*/, call_reply& reply) {
  auto it = calls.find(reply.ref.id);
  if (it == calls.end()) return;
  restart_call call = std::move(it->second);
  calls.erase(it);
  const auto* r = reply.result ? reply.result->get_if<subscribe_result>() : nullptr;
  answered(call);
  // A replacement that asks for the partition of the instance it replaces, before the producer has
  // handled that instance's DOWN, is parked by the producer until then: not refused. Other
  // refusals cannot happen (the loader checked event types and partitions), and a side that died
  // meanwhile reports its own exit. What is left is a subscription that never came, or a
  // partition a live consumer holds.
  const bool timeout = !reply.result && reply.result.error() == call_error::timeout;
  const bool taken = r != nullptr && !*r && refusal_of(r->error) == refusal::partition_taken;
  if (!pending.ok || (!timeout && !taken)) return;
  fail(call.consumer_stage,
       exit_reason::error("could not subscribe to \"" + spec.stages[call.producer_stage].name + "\" after a restart: " +
                          (timeout ? std::string("timeout") : r->error.to_string())),
       false);
}

/// A restarted source is released once every subscribe call to it has been answered.
void running_pipeline::state::answered(const restart_call& call) {
  auto u = unreleased.find(call.source);
  if (u == unreleased.end() || --u->second != 0) return;
  unreleased.erase(u);
  sluice::demand(rt, call.source, demand_mode::forward);
}

void running_pipeline::state::fail(std::size_t stage, exit_reason reason, bool exhausted) {
  pending.ok = false;
  pending.failed_stage = spec.stages[stage].name;
  pending.reason = std::move(reason);
  pending.restarts_exhausted = exhausted;
  if (wiring) return kill_all();  // nothing has flowed yet, and the wiring must not wait
  wind_down();
}

void running_pipeline::state::wind_down() {
  if (winding_down) return;
  winding_down = true;
  const std::vector<bool> reaching = reaching_a_sink();
  for (std::size_t i = 0; i < stages.size(); ++i) {
    // Its events have nowhere to go: its supervisor stops its copies (reporting each) and exits.
    if (!reaching[i] && stages[i].supervisor.valid()) rt.exit(stages[i].supervisor, exit_reason::shutdown());
  }
  drain_stages();
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stage_over(i)) tell_consumers(i);
  }
  arm_deadline(pending.output_closed ? "the output of \"" + *pending.output_closed + "\" closed" : "the failure",
               options.wind_down_timeout);
}

void running_pipeline::state::arm_deadline(std::string cause, std::chrono::milliseconds timeout) {
  if (deadline_cause) return;
  deadline_cause = std::to_string(timeout.count()) + " ms after " + cause;
  rt.send_after(watcher, stop_deadline{}, timeout);
}

/// Whether each stage is alive and has a path of live stages to a live sink.
std::vector<bool> running_pipeline::state::reaching_a_sink() const {
  std::vector<bool> reaching(stages.size(), false);
  std::vector<bool> known(stages.size(), false);
  std::function<bool(std::size_t)> reaches = [&](std::size_t i) -> bool {
    if (known[i]) return reaching[i];
    known[i] = true;  // a pipeline has no cycles: this is never read before it is set below
    bool r = !stage_over(i) &&
             (spec.stages[i].role == stage_role::sink ||
              std::any_of(stages[i].consumers.begin(), stages[i].consumers.end(), reaches));
    reaching[i] = r;
    return r;
  };
  for (std::size_t i = 0; i < stages.size(); ++i) reaches(i);
  return reaching;
}

void running_pipeline::state::on_stop_deadline() {
  if (outcome || alive == 0 || wiring) return;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].alive > 0) pending.killed_at_deadline.push_back(spec.stages[i].name);
  }
  if (pending.ok) {  // a drain or a closed output that did not finish in time
    pending.ok = false;
    pending.failed_stage = pending.killed_at_deadline.front();
    pending.reason = exit_reason::error("still running " + deadline_cause.value_or("the deadline"));
  }
  kill_all();
  // The run ends now: a stage stuck in a blocking call (a write to a pipe nobody reads) may never
  // get to hear of the kill, and waiting for it is what the deadline is there to avoid.
  finish();
}

void running_pipeline::state::drain_stages() {
  draining = true;  // a source restarted later is drained by restart()
  for (std::size_t i = 0; i < stages.size(); ++i) {
    // Transforms too: one making output on its own (a long jq run) stops making more.
    if (spec.stages[i].role == stage_role::sink) continue;
    for (pid p : stages[i].copies) {
      if (p.valid()) sluice::drain(rt, p);
    }
  }
}

void running_pipeline::state::kill_all() {
  killed = true;
  // The root first, so that no supervisor restarts what is killed; then each instance at once, so
  // that none waits for its supervisor to stop the ones before it.
  rt.exit(root, exit_reason::kill());
  for (auto& [p, id] : instances) rt.exit(p, exit_reason::kill());
}

void running_pipeline::state::stage_ended(std::size_t stage) {
  stages[stage].ended = clock::now();
  tell_consumers(stage);
}

/// Its consumers whose producers have all ended will get no new producer.
void running_pipeline::state::tell_consumers(std::size_t stage) {
  if (wiring) return;
  for (std::size_t c : stages[stage].consumers) {
    if (!producers_ended(c)) continue;
    for (pid p : stages[c].copies) {
      if (p.valid()) sluice::producers_done(rt, p);
    }
  }
}

bool running_pipeline::state::producers_ended(std::size_t stage) const {
  return std::all_of(stages[stage].producers.begin(), stages[stage].producers.end(),
                     [&](std::size_t p) { return stage_over(p); });
}

void running_pipeline::state::on_wiring_over(const wiring_over& w) {
  wiring = false;
  if (w.failed) {
    wiring_failed = w.failed->second;
    if (pending.ok) pending.failed_stage = w.failed->first;
    kill_all();
  } else {
    for (std::size_t i = 0; i < stages.size(); ++i) {
      if (stage_over(i)) tell_consumers(i);
    }
    // Every subscription is in place: the sources may go.
    for (std::size_t i = 0; i < stages.size() && !killed; ++i) {
      if (spec.stages[i].role != stage_role::source) continue;
      for (pid p : stages[i].copies) {
        if (p.valid()) sluice::demand(rt, p, demand_mode::forward);
      }
    }
  }
  finish_if_done();
}

void running_pipeline::state::finish_if_done() {
  if (wiring || alive != 0 || outcome) return;
  finish();
}

void running_pipeline::state::finish() {
  outcome = pending;
  if (outcome->ok && wiring_failed) {
    outcome->ok = false;
    outcome->reason = exit_reason::error(*wiring_failed);
  }
  const auto now = clock::now();
  outcome->wall = now - started;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const stage_state& s = stages[i];
    if (s.started != clock::time_point{}) reports[i].wall = (s.alive == 0 ? s.ended : now) - s.started;
  }
  ended.notify_all();
}

}  // namespace sluice::pipeline
