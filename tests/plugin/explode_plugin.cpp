// A test plugin for `sluice --plugin`: registers user stage types exactly as a real plugin would.
//
// `explode` is a transform that passes events through and throws a std::runtime_error on its
// `at`-th event: user code that fails, for the runtime to turn into an exit reason naming the stage.
// `flaky` does the same, but only `crashes` times in all for a stage (over its copies and restarts):
// a stage that fails and then, restarted, works.
// `fragile` is an event_transform (one event at a time) that passes events on and throws on the
// event whose JSON is `at`, its first `failures` times: the stage's on_error applies to that event.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/event_transform.hpp>
#include <sluice/pipeline/registry.hpp>
#include <sluice/stage.hpp>

namespace {

using sluice::json;
using sluice::pipeline::event;
using sluice::pipeline::option_spec;
using sluice::pipeline::option_type;

class explode_stage final : public sluice::producer_consumer<event, event> {
 public:
  explicit explode_stage(const json& options)
      : at_(options.at("at").get<std::uint64_t>()), message_(options.at("message").get<std::string>()) {}

  void handle_events(std::span<event> events, sluice::subscription_ref, sluice::stage_context<event>& ctx) override {
    std::vector<event> out;
    out.reserve(events.size());
    for (event& e : events) {
      if (++seen_ == at_) throw std::runtime_error(message_ + " (event " + std::to_string(seen_) + ")");
      out.push_back(std::move(e));
    }
    ctx.emit(std::move(out));
  }

 private:
  std::uint64_t at_;
  std::string message_;
  std::uint64_t seen_ = 0;
};

/// How many more times each `flaky` stage (by its pipeline name) may crash.
class crash_budget {
 public:
  /// True if `stage` may crash now (and counts it); `crashes` is its budget at its first crash.
  bool take(const std::string& stage, std::uint64_t crashes) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = left_.emplace(stage, crashes);
    if (it->second == 0) return false;
    --it->second;
    return true;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::uint64_t> left_;
};

crash_budget& budget() {
  static crash_budget b;
  return b;
}

class flaky_stage final : public sluice::producer_consumer<event, event> {
 public:
  flaky_stage(const json& options, const std::string& instance)
      : at_(options.at("at").get<std::uint64_t>()),
        crashes_(options.at("crashes").get<std::uint64_t>()),
        stage_(instance.substr(0, instance.find('#'))) {}

  void handle_events(std::span<event> events, sluice::subscription_ref, sluice::stage_context<event>& ctx) override {
    std::vector<event> out;
    out.reserve(events.size());
    for (event& e : events) {
      if (++seen_ == at_ && budget().take(stage_, crashes_)) {
        throw std::runtime_error("flaky: crashed on event " + std::to_string(seen_));
      }
      out.push_back(std::move(e));
    }
    ctx.emit(std::move(out));
  }

 private:
  std::uint64_t at_;
  std::uint64_t crashes_;
  std::string stage_;
  std::uint64_t seen_ = 0;
};

option_spec option(std::string name, option_type type, std::string description, json default_value) {
  option_spec o;
  o.name = std::move(name);
  o.type = type;
  o.description = std::move(description);
  o.default_value = std::move(default_value);
  return o;
}

}  // namespace

/// The entry point `sluice --plugin` looks up (apps/sluice/options.cpp).
extern "C" void sluice_register_stages(sluice::pipeline::registry& r) {
  sluice::pipeline::stage_type t;
  t.name = "explode";
  t.role = sluice::pipeline::stage_role::transform;
  t.description = "Passes events on and throws on the `at`-th one (a test plugin).";
  auto at = option("at", option_type::integer, "which event (1-based) to throw on", 10);
  at.minimum = 1;
  t.options = {at, option("message", option_type::string, "the exception's message", "explode: boom")};
  t.start = [](sluice::pipeline::spawner& where, const json& options, sluice::pipeline::stage_instance instance) {
    return sluice::start(where, std::make_unique<explode_stage>(options), std::move(instance.engine));
  };
  r.add(std::move(t));

  sluice::pipeline::stage_type f;
  f.name = "flaky";
  f.role = sluice::pipeline::stage_role::transform;
  f.description = "Passes events on; an instance throws on its `at`-th event, `crashes` times in all (a test plugin).";
  auto flaky_at = option("at", option_type::integer, "which event of an instance (1-based) to throw on", 10);
  flaky_at.minimum = 1;
  auto crashes = option("crashes", option_type::integer, "how many times the stage crashes, over its copies and restarts", 1);
  crashes.minimum = 0;
  f.options = {flaky_at, crashes};
  f.start = [](sluice::pipeline::spawner& where, const json& options, sluice::pipeline::stage_instance instance) {
    return sluice::start(where, std::make_unique<flaky_stage>(options, instance.name), std::move(instance.engine));
  };
  r.add(std::move(f));

  auto fragile_at = option("at", option_type::string, "the event (as compact JSON) to throw on", "10");
  auto failures = option("failures", option_type::integer, "how many times to throw on it (per instance)", 1000000);
  failures.minimum = 0;
  r.add(sluice::pipeline::event_transform(
      "fragile", "Passes events on; throws on the event `at`, its first `failures` times (a test plugin).", {fragile_at, failures},
      [](const json& options) -> sluice::pipeline::event_function {
        auto left = std::make_shared<std::int64_t>(options.at("failures").get<std::int64_t>());
        return [at = options.at("at").get<std::string>(), left](const event& in, std::vector<event>& out) {
          if (in.json() == at && *left > 0) {
            --*left;
            throw std::runtime_error("fragile: cannot take " + at);
          }
          out.push_back(event::from_text_unchecked(in.json()));
        };
      }));
}
