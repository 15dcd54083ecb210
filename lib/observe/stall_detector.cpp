#include "observe/stall_detector.hpp"

#include <algorithm>

namespace sluice::observe {

namespace {

/// The edge into `s` where work waits (events in flight first), else its first input edge, else (a
/// source) its first output edge.
const edge_figures* waiting_edge(const stage_figures& s, const std::vector<edge_figures>& edges) {
  const edge_figures* first = nullptr;
  const edge_figures* out = nullptr;
  for (const auto& e : edges) {
    if (e.from == s.name && out == nullptr) out = &e;
    if (e.to != s.name) continue;
    if (e.exact && e.in_flight > 0) return &e;
    if (first == nullptr) first = &e;
  }
  return first != nullptr ? first : out;
}

/// A producer of `s` holding events it waits to hand on (none if no such producer).
const stage_figures* holding_producer(const stage_figures& s, const std::vector<stage_figures>& stages,
                                      const std::vector<edge_figures>& edges) {
  for (const auto& e : edges) {
    if (e.to != s.name) continue;
    for (const auto& p : stages) {
      if (p.name == e.from && p.totals.waiting_back_pressured && p.totals.buffered > 0) return &p;
    }
  }
  return nullptr;
}

/// Why `s` has work waiting for it ("" if none).
std::string waiting_work(const stage_figures& s, const edge_figures* edge, const std::vector<stage_figures>& stages,
                         const std::vector<edge_figures>& edges) {
  if (s.totals.handling > 0) return "inside a handler (a callback that does not return)";
  if (s.totals.waiting_back_pressured) return "";  // waiting for demand downstream: not its fault
  if (s.totals.queued() > 0) return std::to_string(s.totals.queued()) + " events queued at its input";
  if (edge != nullptr && edge->exact && edge->in_flight > 0) return std::to_string(edge->in_flight) + " events in flight to it";
  // It stopped emitting: its consumers wait on it while a producer of it holds events it does not ask for.
  if (s.totals.demand_outstanding > 0) {
    if (const stage_figures* p = holding_producer(s, stages, edges)) {
      return "its consumers wait for " + std::to_string(s.totals.demand_outstanding) + " events while \"" + p->name + "\" holds " +
             std::to_string(p->totals.buffered) + " it does not ask for";
    }
  }
  return "";
}

}  // namespace

stall_detector::track& stall_detector::tracked(const stage_figures& s, clock::time_point now) {
  auto it = std::find_if(tracks_.begin(), tracks_.end(), [&](const track& t) { return t.stage == s.name; });
  if (it != tracks_.end()) return *it;
  tracks_.push_back({s.name, s.totals.progress(), now, false});
  return tracks_.back();
}

std::vector<stall> stall_detector::update(clock::time_point now, std::vector<stage_figures>& stages,
                                          const std::vector<edge_figures>& edges) {
  began_.clear();
  resumed_.clear();
  std::vector<stall> stalls;
  for (auto& s : stages) {
    track& t = tracked(s, now);
    const edge_figures* edge = waiting_edge(s, edges);
    const std::string why = waiting_work(s, edge, stages, edges);
    if (s.totals.progress() != t.progress || why.empty()) {
      if (t.stalled) resumed_.push_back(s.name);
      t = {s.name, s.totals.progress(), now, false};
      continue;
    }
    if (now - t.since < timeout_) continue;
    stall found{s.name, std::nullopt, std::nullopt, std::chrono::duration<double>(now - t.since).count(), why};
    if (edge != nullptr) {
      found.edge_from = edge->from;
      found.edge_to = edge->to;
    }
    if (!t.stalled) began_.push_back(found);
    t.stalled = true;
    s.stalled = true;
    stalls.push_back(std::move(found));
  }
  return stalls;
}

}  // namespace sluice::observe
