// Transforms from a function of one event (see sluice/pipeline/event_transform.hpp).
#include <sluice/pipeline/event_transform.hpp>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <sluice/pipeline/dead_letter.hpp>
#include <sluice/stage.hpp>

namespace sluice::pipeline {

namespace {

/// What was thrown, as text.
std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

/// Runs the function on each input, in order. Demand upstream is manual, as in the jq stage: an
/// input waiting for a retry keeps its unit of its subscription's demand until its last run, so at
/// most max_demand inputs per subscription wait here.
class event_transform_stage final : public producer_consumer<event, event> {
 public:
  event_transform_stage(event_function f, const stage_instance& instance)
      : f_(std::move(f)),
        policy_(instance.on_error.value_or(error_policy{})),
        name_(instance.name),
        dead_letter_origin_(instance.dead_letter_origin),
        counters_(instance.stats) {}

  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<event>& ctx) override {
    if (peer != peer_kind::producer) return demand_kind::automatic;
    producers_.push_back({from, opts.max_demand, opts.effective_min_demand(), opts.max_demand});
    ctx.ask(from, opts.max_demand);
    return demand_kind::manual;
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, stage_context<event>&) override {
    std::erase_if(producers_, [&](const upstream& u) { return u.from == from; });
  }

  void handle_events(std::span<event> events, subscription_ref from, stage_context<event>& ctx) override {
    if (failed_) return;
    std::vector<event> out;
    std::size_t kept = 0;  // inputs now waiting for a retry
    for (event& e : events) {
      if (!run(e, 1, ++position_, from.id, out, ctx)) ++kept;
      if (failed_) break;
    }
    if (!out.empty()) ctx.emit(std::move(out));
    if (!failed_) give_back(from.id, events.size() - kept, ctx);
  }

  void handle_info(message& m, stage_context<event>& ctx) override {
    auto* due = m.get_if<retry_due>();
    if (due == nullptr) return;
    auto it = retries_.find(due->id);
    if (it == retries_.end()) return;
    waiting w = std::move(it->second);
    retries_.erase(it);
    if (failed_) return;  // its holder fails as it is destroyed
    if (counters_) counters_->retried.fetch_add(1, std::memory_order_relaxed);
    std::vector<event> out;
    const bool ended = run(w.input, w.runs + 1, w.position, w.from, out, ctx);
    if (!out.empty()) ctx.emit(std::move(out));
    if (ended && !failed_) give_back(w.from, 1, ctx);
    if (input_ended_ && retries_.empty() && !failed_) ctx.stop_after_dispatch();
  }

  bool handle_input_end(stage_context<event>&) override {
    input_ended_ = true;
    return retries_.empty() || failed_;  // else the last retry finishes
  }

 private:
  struct upstream {
    subscription_ref from;
    std::size_t max;
    std::size_t min;
    std::size_t outstanding;
  };
  struct waiting {
    event input;
    std::size_t runs;  // so far
    std::uint64_t position;
    std::uint64_t from;
  };
  struct retry_due {
    std::uint64_t id;
  };

  /// Runs `input` (its `runs`-th run); false when it waits for a retry (it is moved there).
  bool run(event& input, std::size_t runs, std::uint64_t position, std::uint64_t from, std::vector<event>& out,
           stage_context<event>& ctx) {
    const std::size_t before = out.size();
    std::exception_ptr error;
    try {
      f_(input, out);
    } catch (...) {
      error = std::current_exception();
    }
    if (!error) {
      for (std::size_t i = before; i < out.size(); ++i) out[i].set_metadata_from(input);
      input.ack().done();
      return true;
    }
    out.resize(before);  // what the failed call made is dropped (a retry makes it again)
    const std::string why = what_of(error);
    using action = error_policy::action;
    if (runs <= policy_.max_retries) {
      const std::uint64_t id = next_retry_++;
      retries_.emplace(id, waiting{std::move(input), runs, position, from});
      ctx.process().send_after(ctx.self(), retry_due{id}, policy_.backoff_before(runs));
      return false;
    }
    if (policy_.then == action::skip) {
      if (counters_) counters_->skipped.fetch_add(1, std::memory_order_relaxed);
      input.ack().done();
    } else if (policy_.then == action::dead_letter) {
      if (counters_) counters_->dead_lettered.fetch_add(1, std::memory_order_relaxed);
      out.push_back(make_dead_letter(std::move(input), name_, why, runs, dead_letter_origin_, ctx.process().rt().system_now()));
    } else {
      failed_ = true;
      retries_.clear();
      if (out.size() > 0) ctx.emit(std::move(out));  // the outputs of the events before go first
      out.clear();
      const std::string tries = runs > 1 ? " (after " + std::to_string(runs) + " attempts)" : "";
      ctx.stop_after_dispatch(exit_reason::error("failed on event " + std::to_string(position) + " of its input" + tries + ": " + why));
    }
    return true;
  }

  /// `n` inputs of subscription `from` are done with: ask again at min_demand.
  void give_back(std::uint64_t from, std::size_t n, stage_context<event>& ctx) {
    for (upstream& u : producers_) {
      if (u.from.id != from) continue;
      u.outstanding -= std::min(u.outstanding, n);
      if (u.outstanding > u.min) return;
      ctx.ask(u.from, u.max - u.outstanding);
      u.outstanding = u.max;
    }
  }

  event_function f_;
  error_policy policy_;
  std::string name_;
  origin_ref dead_letter_origin_;
  std::shared_ptr<stage_counters> counters_;
  std::vector<upstream> producers_;
  std::map<std::uint64_t, waiting> retries_;
  std::uint64_t next_retry_ = 0;
  std::uint64_t position_ = 0;
  bool input_ended_ = false;
  bool failed_ = false;
};

}  // namespace

stage_type event_transform(std::string name, std::string description, std::vector<option_spec> options,
                           std::function<event_function(const json& options)> make) {
  stage_type t;
  t.name = std::move(name);
  t.role = stage_role::transform;
  t.description = std::move(description);
  t.options = std::move(options);
  t.routes_failures = true;
  t.start = [make = std::move(make)](spawner& where, const json& o, stage_instance instance) {
    auto stage = std::make_unique<event_transform_stage>(make(o), instance);
    return start(where, std::move(stage), std::move(instance.engine));
  };
  return t;
}

}  // namespace sluice::pipeline
