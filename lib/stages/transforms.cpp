// Built-in transforms: jq, batch, rate_limit.
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <sluice/stages/jq_program.hpp>

#include "stages/builtin.hpp"

namespace sluice::stages {

namespace {

using namespace std::chrono_literals;

struct flush_due {
  std::uint64_t batch;
};

/// `batch`: collects events into arrays of `size`; a partial batch goes out after `timeout_ms`
/// (from its first event) and when the input ends.
class batch_stage final : public producer_consumer<json, json> {
 public:
  batch_stage(const json& o, const stage_instance&)
      : size_(static_cast<std::size_t>(int_option(o, "size", 100))), timeout_(std::chrono::milliseconds(int_option(o, "timeout_ms", 0))) {}

  void handle_events(std::span<json> events, subscription_ref, stage_context<json>& ctx) override {
    for (json& e : events) {
      if (current_.empty() && timeout_.count() > 0) {
        ctx.process().send_after(ctx.self(), flush_due{batch_no_}, timeout_);
      }
      current_.push_back(std::move(e));
      if (current_.size() == size_) flush(ctx);
    }
  }
  void handle_info(message& m, stage_context<json>& ctx) override {
    if (auto* f = m.get_if<flush_due>(); f != nullptr && f->batch == batch_no_ && !current_.empty()) flush(ctx);
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref, stage_context<json>& ctx) override {
    if (!current_.empty()) flush(ctx);  // the input ended: what is collected goes out
  }

 private:
  void flush(stage_context<json>& ctx) {
    ctx.emit(json(std::move(current_)));
    current_ = json::array_t{};
    ++batch_no_;
  }
  std::size_t size_;
  std::chrono::milliseconds timeout_;
  json::array_t current_;
  std::uint64_t batch_no_ = 0;
};

struct refill {};

/// `rate_limit`: passes events on at most `per_second`, by asking its producers for no more than
/// that (manual demand, refilled ten times a second). Nothing is dropped and nothing piles up:
/// what is not asked for is not produced.
class rate_limit_stage final : public producer_consumer<json, json> {
 public:
  rate_limit_stage(const json& o, const stage_instance&) : per_second_(o.value("per_second", 1.0)) {}

  demand_kind handle_subscribe(peer_kind peer, const subscription_options& opts, subscription_ref from,
                               stage_context<json>& ctx) override {
    if (peer == peer_kind::producer) {
      producers_.push_back({from, opts.max_demand, 0});
      if (!armed_) arm(ctx);
      return demand_kind::manual;
    }
    return demand_kind::automatic;
  }
  void handle_cancel(cancel_kind, const exit_reason&, subscription_ref from, stage_context<json>&) override {
    std::erase_if(producers_, [&](const upstream& u) { return u.from == from; });
  }
  void handle_events(std::span<json> events, subscription_ref from, stage_context<json>& ctx) override {
    for (auto& u : producers_) {
      if (u.from == from) u.in_flight -= std::min(u.in_flight, events.size());
    }
    ctx.emit_in_place(events);  // passed on as they came: the batch itself goes on
  }
  void handle_info(message& m, stage_context<json>& ctx) override {
    if (!m.is<refill>()) return;
    armed_ = false;
    credit_ = std::min(credit_ + per_second_ / 10.0, std::max(per_second_, 1.0));
    for (auto& u : producers_) {
      const auto room = u.max - std::min(u.max, u.in_flight);
      const auto n = std::min<std::size_t>(room, static_cast<std::size_t>(std::floor(credit_)));
      if (n == 0) continue;
      ctx.ask(u.from, n);
      u.in_flight += n;
      credit_ -= static_cast<double>(n);
    }
    if (!producers_.empty()) arm(ctx);
  }

 private:
  struct upstream {
    subscription_ref from;
    std::size_t max;
    std::size_t in_flight;
  };
  void arm(stage_context<json>& ctx) {
    armed_ = true;
    ctx.process().send_after(ctx.self(), refill{}, 100ms);
  }
  double per_second_;
  double credit_ = 0;
  bool armed_ = false;
  std::vector<upstream> producers_;
};

/// `jq`: runs a jq program on each event; each input gives 0..n outputs.
class jq_stage final : public producer_consumer<json, json> {
 public:
  jq_stage(const json& o, const stage_instance& instance)
      : program_(std::get<jq_program>(jq_program::compile(o.at("filter").get<std::string>()))),
        skip_errors_(string_option(o, "on_error", "fail") == "skip"),
        counters_(instance.stats) {}

  void handle_events(std::span<json> events, subscription_ref, stage_context<json>& ctx) override {
    out_.clear();
    for (const json& e : events) {
      try {
        (void)program_.run(e, out_);
      } catch (const jq_error& err) {
        if (!skip_errors_) throw;
        if (counters_) counters_->skipped.fetch_add(1, std::memory_order_relaxed);
      }
    }
    ctx.emit(std::move(out_));
    out_ = {};
  }

 private:
  jq_program program_;
  bool skip_errors_;
  std::shared_ptr<stage_counters> counters_;
  std::vector<json> out_;
};

}  // namespace

void register_transforms(pipeline::registry& r) {
  {
    auto on_error = opt("on_error", option_type::string, "a jq runtime error: fail the stage, or skip that event (counted)", false, "fail");
    on_error.one_of = {"fail", "skip"};
    auto t = describe("jq", stage_role::transform,
                    "Runs a jq program on each event; 0..n outputs each (maps, filters, flattens).",
                    {opt("filter", option_type::string, "the jq program", true), on_error}, start_json_stage<jq_stage>);
    t.check = [](const json& o) {
      std::vector<pipeline::option_problem> p;
      if (!o.contains("filter") || !o["filter"].is_string()) return p;
      auto compiled = jq_program::compile(o["filter"].get<std::string>());
      if (auto* why = std::get_if<std::string>(&compiled)) p.push_back({"filter", "jq program does not compile: " + *why, "a valid jq program"});
      return p;
    };
    r.add(std::move(t));
  }
  {
    auto size = opt("size", option_type::integer, "events per array", true);
    size.minimum = 1;
    auto timeout = opt("timeout_ms", option_type::integer, "flush a partial array this long after its first event (0: only when full or at the end)", false, 0);
    timeout.minimum = 0;
    r.add(describe("batch", stage_role::transform,
                    "Collects events into arrays of `size`; a partial array goes out after `timeout_ms` and at the end.",
                    {size, timeout}, start_json_stage<batch_stage>));
  }
  {
    auto per_second = opt("per_second", option_type::number, "events per second", true);
    per_second.minimum = 0.001;
    r.add(describe("rate_limit", stage_role::transform,
                    "Passes at most `per_second` events a second on, by holding demand back (never dropping).",
                    {per_second}, start_json_stage<rate_limit_stage>));
  }
}

}  // namespace sluice::stages
