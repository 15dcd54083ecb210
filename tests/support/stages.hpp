// tests/support/stages.hpp: small instrumented stages for the stage tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <sluice/sluice.hpp>

namespace sluice::testing {

/// What a recording_consumer saw in one handle_events call.
struct batch_seen {
  subscription_ref from;
  std::vector<int> events;
};

/// What a counting_producer was asked for.
struct demand_seen {
  std::size_t demand;
};

/// Emits 0, 1, 2, ... on demand, exactly as much as asked (up to `limit`, then stops after
/// dispatch); reports every handle_demand amount to `report` (if valid).
class counting_producer final : public producer<int> {
 public:
  explicit counting_producer(pid report = {}, std::optional<int> limit = std::nullopt) : report_(report), limit_(limit) {}
  void handle_demand(std::size_t demand, stage_context<int>& ctx) override {
    if (report_.valid()) ctx.process().send(report_, demand_seen{demand});
    for (std::size_t i = 0; i < demand && (!limit_ || next_ < *limit_); ++i) ctx.emit(next_++);
    if (limit_ && next_ == *limit_) ctx.stop_after_dispatch();
  }

 private:
  pid report_;
  std::optional<int> limit_;
  int next_ = 0;
};

/// Reports every batch it handles to `report`; optionally manual demand.
class recording_consumer final : public consumer<int> {
 public:
  explicit recording_consumer(pid report, demand_kind kind = demand_kind::automatic) : report_(report), kind_(kind) {}
  demand_kind handle_subscribe(peer_kind, const subscription_options&, subscription_ref,
                               stage_context<no_events>&) override {
    return kind_;
  }
  void handle_events(std::span<int> events, subscription_ref from, stage_context<no_events>& ctx) override {
    ctx.process().send(report_, batch_seen{from, std::vector<int>(events.begin(), events.end())});
  }

 private:
  pid report_;
  demand_kind kind_;
};

/// Subscription options with the given demand bounds.
inline subscription_options demand_bounds(std::size_t max, std::optional<std::size_t> min = std::nullopt) {
  subscription_options o;
  o.max_demand = max;
  o.min_demand = min;
  return o;
}

/// The same options with cancel mode temporary: the consumer outlives the subscription.
inline subscription_options temporary(subscription_options o) {
  o.cancel = cancel_mode::temporary;
  return o;
}

}  // namespace sluice::testing
