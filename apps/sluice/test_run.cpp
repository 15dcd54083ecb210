// Running a `sluice test` case (see test_run.hpp): the test endpoints and the virtual-time driver.
#include "test_run.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <sluice/pipeline/runner.hpp>
#include <sluice/stage.hpp>

namespace sluice::app {

namespace {

using pipeline::event;

/// To a feed source: events to emit, in order, as demand allows.
struct feed_events {
  std::vector<event> events;
};
/// To a feed source: no more events; it ends once it has emitted what it holds.
struct end_of_input {};

/// A source fed by the test's steps.
class feed_source final : public producer<event> {
 public:
  void handle_demand(std::size_t demand, stage_context<event>& ctx) override {
    wanted_ += demand;
    pump(ctx);
  }
  void handle_info(message& m, stage_context<event>& ctx) override {
    if (auto* f = m.get_if<feed_events>()) {
      for (event& e : f->events) queue_.push_back(std::move(e));
    } else if (m.is<end_of_input>()) {
      ended_ = true;
    }
    pump(ctx);
  }

 private:
  void pump(stage_context<event>& ctx) {
    std::vector<event> batch;
    while (wanted_ > 0 && !queue_.empty()) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      --wanted_;
    }
    if (!batch.empty()) ctx.emit(std::move(batch));
    if (ended_ && queue_.empty() && !stopping_) {
      stopping_ = true;
      ctx.stop_after_dispatch();
    }
  }
  std::deque<event> queue_;
  std::size_t wanted_ = 0;
  bool ended_ = false;
  bool stopping_ = false;
};

/// What one sink received, in order (its copies together).
struct capture {
  std::mutex mutex;  // guards events: the sink's thread adds, the driver reads between steps
  std::vector<std::string> events;
};

/// A sink that keeps what it receives.
class capture_sink final : public consumer<event> {
 public:
  explicit capture_sink(std::shared_ptr<capture> c) : capture_(std::move(c)) {}
  void handle_events(std::span<event> events, subscription_ref, stage_context<no_events>&) override {
    std::lock_guard lock(capture_->mutex);
    for (event& e : events) {
      capture_->events.push_back(e.json());
      e.ack().done();
    }
  }

 private:
  std::shared_ptr<capture> capture_;
};

/// A sink's engine options from the loader's (a consumer has no producer side).
stage_options<no_events> sink_options(stage_options<event>&& e) {
  stage_options<no_events> o;
  o.name = std::move(e.name);
  o.subscribe_to = std::move(e.subscribe_to);
  o.exit_after_last_producer = e.exit_after_last_producer;
  o.counters = std::move(e.counters);
  return o;
}

/// Pids by stage name, as the stages start (and restart): the start functions run on the
/// pipeline's watcher.
struct started_stages {
  std::mutex mutex;
  std::map<std::string, std::vector<pid>> pids;
  void add(const std::string& stage, pid p) {
    std::lock_guard lock(mutex);
    pids[stage].push_back(p);
  }
  std::vector<pid> of(const std::string& stage) {
    std::lock_guard lock(mutex);
    return pids[stage];
  }
};

/// Most timers the end of a case fires while waiting for the pipeline to end (an endless timer
/// would wait forever).
constexpr std::size_t max_end_timers = 1'000'000;

/// The case's pipeline with its test endpoints; the stage types it points to live here.
class case_run {
 public:
  explicit case_run(const test_case& tc) : tc_(tc), spec_(tc.spec) {
    for (auto& s : spec_.stages) {
      if (s.role == pipeline::stage_role::sink) {
        captures_[s.name] = std::make_shared<capture>();
        s.type_info = &own(capture_type(s.name));
        s.options = json::object();
      } else if (s.role == pipeline::stage_role::source) {
        const bool fed = std::find(tc.fed.begin(), tc.fed.end(), s.name) != tc.fed.end();
        if (fed || s.type == "stdin") {
          s.type_info = &own(feed_type(s.name));
          s.options = json::object();
          s.concurrency = 1;
          feeds_.push_back(s.name);
        } else {
          s.type_info = &own(kept_type(*s.type_info, s.name));
          kept_.push_back(s.name);
        }
      }
    }
  }

  case_report run() {
    runtime rt({.threads = 1, .virtual_time = true, .virtual_start = tc_.start});
    case_report report;
    try {
      pipeline::running_pipeline running(rt, spec_);
      rt.settle();
      for (const test_step& step : tc_.steps) play(rt, step, report);
      for (const std::string& f : feeds_) {
        for (pid p : started_.of(f)) rt.send(p, end_of_input{});
      }
      for (const std::string& k : kept_) {
        for (pid p : started_.of(k)) sluice::drain(rt, p);
      }
      rt.settle();
      std::optional<pipeline::run_outcome> outcome;
      for (std::size_t fired = 0; !(outcome = running.wait_for(std::chrono::seconds(0))); ++fired) {
        const auto next = rt.next_timer();
        if (!next || fired == max_end_timers) {
          fail(report, "  the pipeline did not end after its input did: " +
                           std::string(next ? "timers still fire after " + std::to_string(fired) + " of them"
                                            : "every stage waits, and no timer is left") + "\n");
          return report;
        }
        rt.advance(*next);
      }
      if (!outcome->ok) {
        fail(report, "  stage \"" + outcome->failed_stage + "\" failed" +
                         pipeline::prefix_lines(outcome->reason.to_string(), ": ", "    ") + "\n");
      }
    } catch (const pipeline::start_error& e) {
      fail(report, std::string("  ") + e.what() + "\n");
      return report;
    }
    check(tc_.expect, "at the end", report);
    return report;
  }

 private:
  const pipeline::stage_type& own(pipeline::stage_type t) { return types_.emplace_back(std::move(t)); }

  pipeline::stage_type capture_type(const std::string& name) {
    pipeline::stage_type t;
    t.name = "test capture";
    t.role = pipeline::stage_role::sink;
    auto c = captures_[name];
    t.start = [c](pipeline::spawner& where, const json&, pipeline::stage_instance instance) {
      return start(where, std::make_unique<capture_sink>(c), sink_options(std::move(instance.engine)));
    };
    return t;
  }

  pipeline::stage_type feed_type(const std::string& name) {
    pipeline::stage_type t;
    t.name = "test input";
    t.role = pipeline::stage_role::source;
    t.start = [this, name](pipeline::spawner& where, const json&, pipeline::stage_instance instance) {
      const pid p = start(where, std::make_unique<feed_source>(), std::move(instance.engine));
      started_.add(name, p);
      return p;
    };
    return t;
  }

  /// The source's own type, its pids noted (to drain it when the steps are done).
  pipeline::stage_type kept_type(const pipeline::stage_type& original, const std::string& name) {
    pipeline::stage_type t = original;
    t.start = [this, name, inner = original.start](pipeline::spawner& where, const json& options, pipeline::stage_instance instance) {
      const pid p = inner(where, options, std::move(instance));
      started_.add(name, p);
      return p;
    };
    return t;
  }

  void play(runtime& rt, const test_step& step, case_report& report) {
    switch (step.what) {
      case test_step::kind::feed: {
        feed_events f;
        for (const fed_event& fe : step.events) {
          event& e = f.events.emplace_back(event::from_text_unchecked(fe.json));
          e.set_time_ns(fe.time_ns ? *fe.time_ns
                                   : std::chrono::duration_cast<std::chrono::nanoseconds>(rt.system_now().time_since_epoch()).count());
          if (fe.key) e.set_key(*fe.key);
        }
        const auto pids = started_.of(step.source);
        if (!pids.empty()) rt.send(pids.back(), std::move(f));
        break;
      }
      case test_step::kind::advance:
        rt.advance(step.advance);
        break;
      case test_step::kind::expect:
        rt.settle();
        check(step.expect, "at step " + step.pointer.substr(step.pointer.rfind('/') + 1) + " (" + step.pointer + ")", report);
        break;
    }
    rt.settle();
  }

  void check(const std::vector<sink_expectation>& expect, const std::string& when, case_report& report) {
    std::string found;
    for (const sink_expectation& x : expect) {
      std::vector<std::string> got;
      {
        std::lock_guard lock(captures_[x.sink]->mutex);
        got = captures_[x.sink]->events;
      }
      found += check_sink(x, got);
    }
    if (!found.empty()) fail(report, "  " + when + ":\n" + found);
  }

  static void fail(case_report& report, const std::string& text) {
    report.passed = false;
    report.details += text;
  }

  const test_case& tc_;
  pipeline::pipeline_spec spec_;
  std::deque<pipeline::stage_type> types_;  // stable addresses: the spec points into it
  std::map<std::string, std::shared_ptr<capture>> captures_;
  std::vector<std::string> feeds_;
  std::vector<std::string> kept_;
  started_stages started_;
};

}  // namespace

case_report run_test_case(const test_case& tc) { return case_run(tc).run(); }

}  // namespace sluice::app
