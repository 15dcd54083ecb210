// Running a pipeline: a watcher process starts every stage (monitoring it from birth) and hears
// every exit; the thread that made the running_pipeline wires the subscriptions, releases the
// sources, and waits for the watcher to report the end.
#include <sluice/pipeline/runner.hpp>

#include <condition_variable>
#include <map>
#include <mutex>

#include <sluice/process/context.hpp>
#include <sluice/stage.hpp>

namespace sluice::pipeline {

namespace {

using namespace std::chrono_literals;
constexpr auto wiring_timeout = 30s;

/// Spawns through spawn_monitor, so the watcher sees a stage's exit however early it comes.
class monitoring_spawner final : public spawner {
 public:
  explicit monitoring_spawner(context& self) : self_(self) {}
  pid spawn(std::unique_ptr<behaviour> b, spawn_options o) override { return self_.spawn_monitor(std::move(b), o).first; }

 private:
  context& self_;
};

/// Asks the watcher to start one stage instance.
struct start_request {
  std::string stage;
  bool source;
  std::function<pid(spawner&)> start;
};
struct start_reply {
  pid stage;
  std::string error;
};

std::unique_ptr<dispatcher<json>> make_dispatcher(const dispatcher_spec& d) {
  switch (d.type) {
    case dispatcher_spec::kind::demand:
      return nullptr;  // the default
    case dispatcher_spec::kind::broadcast:
      return std::make_unique<broadcast_dispatcher<json>>();
    case dispatcher_spec::kind::partition: {
      typename partition_dispatcher<json>::options o;
      o.partitions = d.partitions;
      const std::size_t n = d.partitions;
      const json::json_pointer key(d.key);
      // Integers go to (value mod n), so numeric keys partition predictably; anything else by hash.
      o.index = [n, key, whole = d.key.empty()](const json& e) -> std::size_t {
        const json* v = &e;
        if (!whole) v = e.contains(key) ? &e.at(key) : nullptr;
        if (v == nullptr) return 0;
        if (v->is_number_unsigned()) return static_cast<std::size_t>(v->get<std::uint64_t>() % n);
        if (v->is_number_integer()) {
          const auto x = v->get<std::int64_t>();
          const auto m = static_cast<std::int64_t>(n);
          return static_cast<std::size_t>(((x % m) + m) % m);
        }
        return std::hash<json>{}(*v) % n;
      };
      return std::make_unique<partition_dispatcher<json>>(std::move(o));
    }
  }
  return nullptr;
}

}  // namespace

struct running_pipeline::state {
  explicit state(runtime& r) : rt(r) {}

  runtime& rt;
  std::vector<stage_report> reports;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  std::mutex mutex;  // guards everything below
  std::condition_variable ended;
  std::map<pid, std::string> names;  // stage instance -> its stage's name
  std::vector<pid> sources;
  std::size_t alive = 0;
  bool wiring = true;  // exits are counted only once every instance is known
  std::optional<std::string> wiring_failed;  // why wiring stopped: everything was killed
  std::optional<run_outcome> outcome;
  run_outcome pending;  // the first failure, while others still exit
  pid watcher;

  /// A stage instance exited (called by the watcher).
  void on_exit(context& self, pid who, const exit_reason& reason) {
    std::lock_guard lock(mutex);
    auto it = names.find(who);
    if (it == names.end()) return;
    const std::string name = it->second;
    names.erase(it);
    --alive;
    // Once wiring failed, `killed` is our doing; the first other abnormal exit is the real cause.
    const bool ours = wiring_failed && reason == exit_reason::killed();
    if (!reason.is_normal() && !ours && pending.ok) {
      pending.ok = false;
      pending.failed_stage = name;
      pending.reason = reason;
      for (auto& [p, n] : names) self.exit(p, exit_reason::kill());  // the rest cannot finish now
    }
    finish_if_done();
  }

  void finish_if_done() {
    if (wiring || alive != 0 || outcome) return;
    outcome = pending;
    if (outcome->ok && wiring_failed) {
      outcome->ok = false;
      outcome->reason = exit_reason::error(*wiring_failed);
    }
    outcome->wall = std::chrono::steady_clock::now() - started;
    ended.notify_all();
  }
};

running_pipeline::running_pipeline(runtime& rt, const pipeline_spec& spec) : state_(std::make_shared<state>(rt)) {
  auto st = state_;
  st->watcher = rt.spawn([st](context& self, message& m) {
    if (auto* r = m.get_if<request<start_request>>()) {
      monitoring_spawner where(self);
      pid started;
      try {
        started = r->body.start(where);
      } catch (const std::exception& e) {
        return r->from.reply(start_reply{{}, e.what()});
      }
      {
        // Recorded here, before this process can handle the new stage's down.
        std::lock_guard lock(st->mutex);
        st->names.emplace(started, r->body.stage);
        ++st->alive;
        if (r->body.source) st->sources.push_back(started);
      }
      r->from.reply(start_reply{started, {}});
    } else if (auto* d = m.get_if<down>()) {
      st->on_exit(self, d->who, d->reason);
    }
  });

  // Start every instance; sources accumulate demand until everything is wired.
  std::map<std::string, std::vector<pid>> instances;
  const auto fail = [&](const std::string& stage, const std::string& why) {
    {
      std::lock_guard lock(st->mutex);
      for (auto& [p, n] : st->names) rt.exit(p, exit_reason::kill());
    }
    rt.exit(st->watcher, exit_reason::kill());
    throw start_error(stage, why);
  };
  for (const stage_spec& s : spec.stages) {
    auto counters = std::make_shared<stage_counters>();
    st->reports.push_back({s.name, s.type, s.role, s.concurrency, counters});
    for (std::size_t copy = 0; copy < s.concurrency; ++copy) {
      stage_instance instance;
      instance.name = copy == 0 ? s.name : s.name + "#" + std::to_string(copy + 1);
      instance.pipeline_file = spec.file;
      instance.engine.buffer_size = s.buffer_size;
      instance.engine.buffer_keep = s.buffer_keep;
      instance.engine.dispatcher = make_dispatcher(s.dispatcher);
      instance.engine.counters = counters;
      instance.stats = counters;
      instance.engine.exit_after_last_producer = true;
      if (s.role == stage_role::source) instance.engine.demand = demand_mode::accumulate;
      auto boxed = std::make_shared<stage_instance>(std::move(instance));
      const stage_type* type = s.type_info;
      const json options = s.options;
      auto start = [type, options, boxed](spawner& where) { return type->start(where, options, std::move(*boxed)); };
      auto r = rt.call<start_reply>(st->watcher, start_request{s.name, s.role == stage_role::source, start}, wiring_timeout);
      if (!r) fail(s.name, std::string("could not be started: ") + to_string(r.error()));
      if (!r->error.empty()) fail(s.name, r->error);
      instances[s.name].push_back(r->stage);
    }
  }

  // Wire: every copy of a consumer subscribes to every copy of each of its producers.
  std::optional<std::pair<std::string, std::string>> wiring_error;
  for (const stage_spec& s : spec.stages) {
    const auto& consumers = instances[s.name];
    for (std::size_t copy = 0; copy < consumers.size(); ++copy) {
      for (const subscription_spec& sub : s.subscribe_to) {
        const stage_spec* producer = spec.find(sub.stage);
        subscription_options opts = sub.options;
        if (producer->dispatcher.type == dispatcher_spec::kind::partition && !opts.partition) {
          opts.partition = partition_id{copy};  // one copy per partition
        }
        for (pid p : instances[sub.stage]) {
          if (wiring_error) break;
          auto r = subscribe(rt, consumers[copy], p, opts, wiring_timeout);
          // Usually a stage that died in its first instant (a file that cannot be opened): its own
          // exit reason, which the watcher has or will have, is the one to report.
          if (!r) wiring_error = std::make_pair(s.name, "could not subscribe to \"" + sub.stage + "\": " + r.error.to_string());
        }
      }
    }
  }
  std::vector<pid> sources;
  {
    std::lock_guard lock(st->mutex);
    st->wiring = false;
    st->started = std::chrono::steady_clock::now();
    sources = st->sources;
    if (wiring_error) {
      st->wiring_failed = wiring_error->second;
      st->pending.failed_stage = st->pending.ok ? wiring_error->first : st->pending.failed_stage;
      for (auto& [p, n] : st->names) rt.exit(p, exit_reason::kill());
      sources.clear();
    }
    st->finish_if_done();
  }
  for (pid p : sources) demand(rt, p, demand_mode::forward);
}

running_pipeline::~running_pipeline() {
  std::vector<pid> left;
  {
    std::lock_guard lock(state_->mutex);
    for (auto& [p, n] : state_->names) left.push_back(p);
  }
  for (pid p : left) state_->rt.exit(p, exit_reason::kill());
  state_->rt.exit(state_->watcher, exit_reason::kill());
}

void running_pipeline::drain() {
  std::vector<pid> sources;
  {
    std::lock_guard lock(state_->mutex);
    sources = state_->sources;
  }
  for (pid p : sources) sluice::drain(state_->rt, p);
}

std::optional<run_outcome> running_pipeline::wait_for(std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(state_->mutex);
  if (!state_->ended.wait_for(lock, timeout, [&] { return state_->outcome.has_value(); })) return std::nullopt;
  return state_->outcome;
}

const std::vector<stage_report>& running_pipeline::stages() const noexcept { return state_->reports; }

run_outcome run_pipeline(runtime& rt, const pipeline_spec& spec) {
  running_pipeline p(rt, spec);
  for (;;) {
    if (auto o = p.wait_for(std::chrono::hours(24))) return *o;
  }
}

}  // namespace sluice::pipeline
