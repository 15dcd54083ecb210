// lib/observe/figures.hpp: what the observability views show of a running pipeline, at one moment.
//
// Read from the stages' shared counters (stage_counters: relaxed atomics the stages bump), so a
// snapshot costs the event path nothing. Counters are per stage, summed over its copies and its
// restarts. Edge figures are exact only where the producer feeds that one consumer stage and the
// consumer reads from that one producer stage (`exact`); elsewhere the counters cannot tell the
// edges apart, and the edge carries no figures.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sluice/pipeline/model.hpp>
#include <sluice/pipeline/runner.hpp>

namespace sluice::observe {

/// One stage's counters, read once.
struct stage_totals {
  std::uint64_t events_in = 0, events_out = 0, received = 0, dropped = 0, skipped = 0, restarts = 0;
  std::uint64_t retried = 0, dead_lettered = 0;
  std::uint64_t buffered = 0, demand_outstanding = 0, demand_asked = 0;
  std::uint64_t acknowledged = 0, failed = 0, redelivered = 0, late = 0;
  std::int64_t open_windows = 0;
  std::uint64_t busy_ns = 0, idle_ns = 0, back_pressured_ns = 0;
  std::uint32_t instances = 0, handling = 0;
  bool waiting_back_pressured = false;

  /// Events that reached the stage and were not handled yet (a transform's input queue).
  [[nodiscard]] std::uint64_t queued() const noexcept { return received > events_in ? received - events_in : 0; }
  /// Progress: anything the stage did with events.
  [[nodiscard]] std::uint64_t progress() const noexcept { return events_in + events_out + dropped + skipped + retried + dead_lettered; }
};

/// Reads `c` (racy by design: each counter is read once, relaxed).
stage_totals read_totals(const stage_counters& c) noexcept;

/// What a stage was doing over the last interval (the largest share), or `stopped` once its
/// instances have all exited.
enum class stage_state : std::uint8_t { busy, idle, back_pressured, stopped };
std::string_view to_string(stage_state s) noexcept;

struct stage_figures {
  std::string name, type;
  pipeline::stage_role role = pipeline::stage_role::transform;
  std::size_t copies = 1;
  stage_totals totals;
  double in_per_second = 0, out_per_second = 0;  ///< over the last interval
  /// Shares of the last interval (per copy: each in 0..1, together about 1).
  double busy_ratio = 0, idle_ratio = 0, back_pressured_ratio = 0;
  stage_state state = stage_state::idle;
  bool stalled = false;
  bool bottleneck = false;  ///< busy while a producer of it waits for its demand
};

struct edge_figures {
  std::string from, to;
  bool exact = false;              ///< false: fan-in or fan-out, no per-edge figures
  std::uint64_t demand_asked = 0;  ///< demand `to` asked of `from` so far
  std::uint64_t demand_outstanding = 0;  ///< asked, not yet served by `from`
  std::uint64_t in_flight = 0;     ///< sent by `from`, not yet reached `to`
};

/// A stage that made no progress for the stall timeout while work waited for it.
struct stall {
  std::string stage;
  std::optional<std::string> edge_from, edge_to;  ///< the edge where the work waits
  double seconds = 0;  ///< since its last progress
  std::string why;
};

struct snapshot {
  std::string pipeline;
  double uptime_seconds = 0;
  double interval_seconds = 0;  ///< what the rates and shares were measured over
  bool started = false, draining = false, ended = false;
  std::vector<stage_figures> stages;
  std::vector<edge_figures> edges;
  std::vector<stall> stalls;

  /// Ready: every stage started, and neither draining nor ended.
  [[nodiscard]] bool ready() const noexcept { return started && !draining && !ended; }
};

/// The edges of `spec` (one per subscription, in file order) and whether each is exact.
std::vector<edge_figures> edges_of(const pipeline::pipeline_spec& spec);

/// Fills the edges' figures from the stages' totals (by name).
void fill_edges(std::vector<edge_figures>& edges, const std::vector<stage_figures>& stages);

/// Rates, shares and state of `now` against `before`, `seconds` apart.
void fill_rates(stage_figures& now, const stage_totals& before, double seconds);

/// Marks the bottleneck stages: mostly busy while a producer of theirs is mostly back-pressured.
void mark_bottlenecks(std::vector<stage_figures>& stages, const std::vector<edge_figures>& edges);

}  // namespace sluice::observe
