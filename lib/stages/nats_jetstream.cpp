// The `nats_jetstream` source stage: opens the link, runs the fetch thread, emits its batches.
#include "stages/nats_jetstream.hpp"

#include <optional>

#include "stages/nats_jetstream_fetcher.hpp"
#include "stages/nats_jetstream_link.hpp"

namespace sluice::stages {

namespace {

constexpr std::int64_t default_max_depth = 512;
constexpr std::int64_t default_max_line_bytes = std::int64_t{16} << 20;

class jetstream_source final : public producer<pipeline::event> {
 public:
  jetstream_source(jetstream_settings s, std::string name, std::shared_ptr<stage_counters> stats,
                   std::shared_ptr<jetstream_counters> counters)
      : settings_(std::move(s)), name_(std::move(name)), stats_(std::move(stats)), counters_(std::move(counters)) {
    if (!counters_) counters_ = std::make_shared<jetstream_counters>();
  }

  void init(stage_context<pipeline::event>& ctx) override {
    auto opened = open_jetstream(settings_, name_, counters_, stats_);
    for (auto& note : opened.created) ctx.process().rt().log().warning(note, name_);  // never silently
    if (!opened.link) return ctx.stop(exit_reason::error(opened.error));
    fetcher_.emplace(settings_, name_, std::move(opened.link), stats_);
    fetcher_->start(ctx.process().rt(), ctx.self());
  }

  void handle_demand(std::size_t demand, stage_context<pipeline::event>&) override {
    if (fetcher_) fetcher_->add_credit(demand);
  }

  void handle_info(message& m, stage_context<pipeline::event>& ctx) override {
    auto* batch = m.get_if<jetstream_batch>();
    if (batch == nullptr) return;
    std::string error = std::move(batch->error);
    ctx.emit(std::move(batch->events));
    if (!error.empty()) ctx.stop_after_dispatch(exit_reason::error("stage \"" + name_ + "\": " + error));
  }

  void terminate(const exit_reason&, stage_context<pipeline::event>& ctx) override {
    fetcher_.reset();
    // Relaxed: the advisory callback's count, read once at the end.
    if (const auto n = counters_->max_deliveries.load(std::memory_order_relaxed); n > 0) {
      ctx.process().rt().log().warning(std::to_string(n) + " message(s) of consumer \"" + settings_.durable +
                                           "\" exceeded max_deliver: JetStream will not deliver them again",
                                       name_);
    }
  }

 private:
  jetstream_settings settings_;
  std::string name_;
  std::shared_ptr<stage_counters> stats_;
  std::shared_ptr<jetstream_counters> counters_;
  std::optional<jetstream_fetcher> fetcher_;  // stopped (joined) when the stage object goes
};

}  // namespace

jetstream_settings jetstream_settings_from(const json& o, const std::string& stage_name) {
  jetstream_settings s;
  s.connection = nats_settings_from(o, stage_name);
  s.stream = string_option(o, "stream", "");
  s.durable = string_option(o, "durable", "");
  s.subject = string_option(o, "subject", "");
  s.ack_wait_ms = int_option(o, "ack_wait_ms", s.ack_wait_ms);
  s.max_deliver = int_option(o, "max_deliver", s.max_deliver);
  s.max_ack_pending = int_option(o, "max_ack_pending", s.max_ack_pending);
  s.nak_delay_ms = int_option(o, "nak_delay_ms", s.nak_delay_ms);
  s.create = o.value("create", false);
  s.skip_errors = string_option(o, "on_error", "fail") == "skip";
  s.limits.max_depth = static_cast<std::size_t>(int_option(o, "max_depth", default_max_depth));
  s.limits.max_bytes = static_cast<std::size_t>(int_option(o, "max_line_bytes", default_max_line_bytes));
  s.max_batch = static_cast<std::size_t>(int_option(o, "max_batch", static_cast<std::int64_t>(s.max_batch)));
  s.pull_expires_ms = int_option(o, "pull_expires_ms", s.pull_expires_ms);
  return s;
}

std::unique_ptr<producer<pipeline::event>> make_jetstream_source(jetstream_settings settings, std::string stage_name,
                                                                 std::shared_ptr<stage_counters> stats,
                                                                 std::shared_ptr<jetstream_counters> counters) {
  return std::make_unique<jetstream_source>(std::move(settings), std::move(stage_name), std::move(stats), std::move(counters));
}

namespace {

pid start_jetstream_source(pipeline::spawner& where, const json& o, stage_instance instance) {
  // Opening the link blocks (connect, stream and consumer look-ups): not on a scheduler thread.
  instance.engine.spawn.dedicated_thread = true;
  auto s = make_jetstream_source(jetstream_settings_from(o, instance.name), instance.name, instance.stats);
  return start(where, std::move(s), std::move(instance.engine));
}

}  // namespace

void register_nats_jetstream(pipeline::registry& r) {
  auto t = describe("nats_jetstream", stage_role::source,
                    "Consumes a JetStream stream through a durable pull consumer (pulls follow demand) and emits each "
                    "message parsed as JSON; acknowledges a message once every event derived from it is handled, "
                    "negatively (redelivered after nak_delay_ms) when one failed: at least once. Endless (a drain ends it).",
                    jetstream_source_options(), start_jetstream_source);
  t.check = check_jetstream_source;
  r.add(std::move(t));
}

}  // namespace sluice::stages
