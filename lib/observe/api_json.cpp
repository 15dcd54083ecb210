#include "observe/api_json.hpp"

namespace sluice::observe {

namespace {

nlohmann::json stage_json(const stage_figures& s) {
  const stage_totals& t = s.totals;
  return {{"name", s.name}, {"type", s.type}, {"role", pipeline::to_string(s.role)}, {"copies", s.copies},
          {"instances", t.instances}, {"state", to_string(s.state)}, {"stalled", s.stalled}, {"bottleneck", s.bottleneck},
          {"events_in", t.events_in}, {"events_out", t.events_out}, {"received", t.received}, {"dropped", t.dropped},
          {"skipped", t.skipped}, {"retried", t.retried}, {"dead_lettered", t.dead_lettered}, {"acknowledged", t.acknowledged},
          {"failed", t.failed}, {"redelivered", t.redelivered}, {"late", t.late}, {"open_windows", t.open_windows},
          {"restarts", t.restarts}, {"buffered", t.buffered}, {"queued", t.queued()},
          {"demand_asked", t.demand_asked}, {"demand_outstanding", t.demand_outstanding},
          {"in_per_second", s.in_per_second}, {"out_per_second", s.out_per_second}, {"busy_ratio", s.busy_ratio},
          {"idle_ratio", s.idle_ratio}, {"back_pressured_ratio", s.back_pressured_ratio}};
}

nlohmann::json edge_json(const edge_figures& e) {
  nlohmann::json j{{"from", e.from}, {"to", e.to}, {"exact", e.exact}, {"demand_asked", nullptr},
                   {"demand_outstanding", nullptr}, {"in_flight", nullptr}};
  if (e.exact) {
    j["demand_asked"] = e.demand_asked;
    j["demand_outstanding"] = e.demand_outstanding;
    j["in_flight"] = e.in_flight;
  }
  return j;
}

nlohmann::json stall_json(const stall& s) {
  nlohmann::json edge = nullptr;
  if (s.edge_from) edge = {{"from", *s.edge_from}, {"to", *s.edge_to}};
  return {{"stage", s.stage}, {"edge", edge}, {"seconds", s.seconds}, {"why", s.why}};
}

}  // namespace

nlohmann::json api_json(const snapshot& s) {
  nlohmann::json stages = nlohmann::json::array(), edges = nlohmann::json::array(), stalls = nlohmann::json::array();
  for (const auto& st : s.stages) stages.push_back(stage_json(st));
  for (const auto& e : s.edges) edges.push_back(edge_json(e));
  for (const auto& st : s.stalls) stalls.push_back(stall_json(st));
  return {{"pipeline", s.pipeline}, {"uptime_seconds", s.uptime_seconds}, {"interval_seconds", s.interval_seconds},
          {"ready", s.ready()}, {"draining", s.draining}, {"ended", s.ended}, {"stages", stages}, {"edges", edges},
          {"stalled", stalls}};
}

}  // namespace sluice::observe
