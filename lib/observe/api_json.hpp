// lib/observe/api_json.hpp: a snapshot as the JSON of GET /api/pipeline.
#pragma once

#include <nlohmann/json.hpp>

#include "observe/figures.hpp"

namespace sluice::observe {

/// {"pipeline", "uptime_seconds", "interval_seconds", "ready", "draining", "ended",
///  "stages": [{name, type, role, copies, instances, state, stalled, bottleneck, events_in, events_out,
///              received, dropped, skipped, retried, dead_lettered, restarts, buffered, queued, demand_asked,
///              demand_outstanding, in_per_second, out_per_second, busy_ratio, idle_ratio,
///              back_pressured_ratio}],
///  "edges": [{from, to, exact, demand_asked, demand_outstanding, in_flight (null unless exact)}],
///  "stalled": [{stage, edge: {from, to} | null, seconds, why}]}
nlohmann::json api_json(const snapshot& s);

}  // namespace sluice::observe
