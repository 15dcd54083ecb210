#include "observe/figures.hpp"

#include <algorithm>
#include <map>

namespace sluice::observe {

namespace {

// relaxed: statistics; each counter is a value of its own, no ordering between them is promised.
template <class T>
T load(const std::atomic<T>& a) noexcept {
  return a.load(std::memory_order_relaxed);
}

std::uint64_t minus(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : 0; }

const stage_figures* find(const std::vector<stage_figures>& stages, const std::string& name) {
  auto it = std::find_if(stages.begin(), stages.end(), [&](const stage_figures& s) { return s.name == name; });
  return it == stages.end() ? nullptr : &*it;
}

}  // namespace

stage_totals read_totals(const stage_counters& c) noexcept {
  stage_totals t;
  t.events_in = load(c.events_in);
  t.events_out = load(c.events_out);
  t.received = load(c.received);
  t.dropped = load(c.dropped);
  t.skipped = load(c.skipped);
  t.acknowledged = load(c.acknowledged);
  t.failed = load(c.failed);
  t.redelivered = load(c.redelivered);
  t.late = load(c.late);
  t.open_windows = c.open_windows.load(std::memory_order_relaxed);
  t.retried = load(c.retried);
  t.dead_lettered = load(c.dead_lettered);
  t.restarts = load(c.restarts);
  t.buffered = load(c.buffered);
  t.demand_outstanding = load(c.outstanding);
  t.demand_asked = load(c.demand_asked);
  t.busy_ns = load(c.busy_ns);
  t.idle_ns = load(c.idle_ns);
  t.back_pressured_ns = load(c.back_pressured_ns);
  t.instances = load(c.instances);
  t.handling = load(c.handling);
  t.waiting_back_pressured = load(c.waiting_back_pressured) != 0;
  return t;
}

std::string_view to_string(stage_state s) noexcept {
  switch (s) {
    case stage_state::busy: return "busy";
    case stage_state::idle: return "idle";
    case stage_state::back_pressured: return "back_pressured";
    case stage_state::stopped: return "stopped";
  }
  return "idle";
}

std::vector<edge_figures> edges_of(const pipeline::pipeline_spec& spec) {
  std::map<std::string, std::size_t> consumers_of, producers_of;
  for (const auto& s : spec.stages) {
    for (const auto& sub : s.subscribe_to) {
      ++consumers_of[sub.stage];
      ++producers_of[s.name];
    }
  }
  std::vector<edge_figures> edges;
  for (const auto& s : spec.stages) {
    for (const auto& sub : s.subscribe_to) {
      edge_figures e;
      e.from = sub.stage;
      e.to = s.name;
      e.exact = consumers_of[sub.stage] == 1 && producers_of[s.name] == 1;
      edges.push_back(std::move(e));
    }
  }
  return edges;
}

void fill_edges(std::vector<edge_figures>& edges, const std::vector<stage_figures>& stages) {
  for (auto& e : edges) {
    const stage_figures* from = find(stages, e.from);
    const stage_figures* to = find(stages, e.to);
    if (!e.exact || from == nullptr || to == nullptr) continue;
    e.demand_asked = from->totals.demand_asked;
    e.demand_outstanding = from->totals.demand_outstanding;
    e.in_flight = minus(from->totals.events_out, to->totals.received);
  }
}

void fill_rates(stage_figures& now, const stage_totals& before, double seconds) {
  const stage_totals& t = now.totals;
  if (seconds > 0) {
    now.in_per_second = static_cast<double>(minus(t.events_in, before.events_in)) / seconds;
    now.out_per_second = static_cast<double>(minus(t.events_out, before.events_out)) / seconds;
  }
  const double span_ns = seconds * 1e9 * static_cast<double>(std::max<std::size_t>(now.copies, 1));
  auto share = [&](std::uint64_t a, std::uint64_t b) { return span_ns > 0 ? std::min(1.0, static_cast<double>(minus(a, b)) / span_ns) : 0.0; };
  now.busy_ratio = share(t.busy_ns, before.busy_ns);
  now.idle_ratio = share(t.idle_ns, before.idle_ns);
  now.back_pressured_ratio = share(t.back_pressured_ns, before.back_pressured_ns);
  // The booked time may overrun the interval a little (a gap booked now began in the interval
  // before): scale the shares to sum to at most 1.
  if (const double sum = now.busy_ratio + now.idle_ratio + now.back_pressured_ratio; sum > 1) {
    now.busy_ratio /= sum;
    now.idle_ratio /= sum;
    now.back_pressured_ratio /= sum;
  }
  // A gap still open is not booked yet (stage_activity): what the instances are doing now fills it.
  const double open = std::max(0.0, 1.0 - now.busy_ratio - now.idle_ratio - now.back_pressured_ratio);
  if (t.handling > 0) {
    now.busy_ratio += open;
  } else if (t.waiting_back_pressured) {
    now.back_pressured_ratio += open;
  } else {
    now.idle_ratio += open;
  }
  if (t.instances == 0 && t.handling == 0) {
    now.state = stage_state::stopped;
  } else if (now.busy_ratio >= now.idle_ratio && now.busy_ratio >= now.back_pressured_ratio) {
    now.state = stage_state::busy;
  } else {
    now.state = now.back_pressured_ratio > now.idle_ratio ? stage_state::back_pressured : stage_state::idle;
  }
}

void mark_bottlenecks(std::vector<stage_figures>& stages, const std::vector<edge_figures>& edges) {
  constexpr double mostly = 0.5;
  for (auto& s : stages) {
    if (s.busy_ratio < mostly && !s.stalled) continue;
    s.bottleneck = std::any_of(edges.begin(), edges.end(), [&](const edge_figures& e) {
      const stage_figures* from = e.to == s.name ? find(stages, e.from) : nullptr;
      return from != nullptr && from->back_pressured_ratio >= mostly;
    });
  }
}

}  // namespace sluice::observe
