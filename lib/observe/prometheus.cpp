#include "observe/prometheus.hpp"

#include <cmath>
#include <charconv>
#include <functional>

namespace sluice::observe {

namespace {

/// A label value escaped as the format requires (backslash, double quote, newline).
std::string escaped(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

/// The shortest text that reads back as `v` (counters stay integers: 5894, not 5.894e3).
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

class writer {
 public:
  explicit writer(const snapshot& s) : s_(s) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " " +
            std::string(type) + "\n";
  }
  void sample(std::string_view name, const std::string& labels, double value) {
    out_ += std::string(name) + "{" + labels + "} " + number(value) + "\n";
  }
  /// One series per stage.
  void per_stage(std::string_view name, std::string_view type, std::string_view help,
                 const std::function<double(const stage_figures&)>& value) {
    family(name, type, help);
    for (const auto& st : s_.stages) sample(name, pipeline_label() + ",stage=\"" + escaped(st.name) + "\"", value(st));
  }
  /// One series per exact edge.
  void per_edge(std::string_view name, std::string_view type, std::string_view help,
                const std::function<double(const edge_figures&)>& value) {
    family(name, type, help);
    for (const auto& e : s_.edges) {
      if (e.exact) sample(name, pipeline_label() + ",from=\"" + escaped(e.from) + "\",to=\"" + escaped(e.to) + "\"", value(e));
    }
  }
  [[nodiscard]] std::string pipeline_label() const { return "pipeline=\"" + escaped(s_.pipeline) + "\""; }
  std::string take() { return std::move(out_); }

 private:
  const snapshot& s_;
  std::string out_;
};

double d(std::uint64_t v) { return static_cast<double>(v); }
double seconds(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

void pipeline_metrics(writer& w, const snapshot& s, std::string_view version) {
  w.family("sluice_build_info", "gauge", "Always 1; the labels say which sluice runs.");
  w.sample("sluice_build_info", "version=\"" + escaped(version) + "\"", 1);
  w.family("sluice_pipeline_uptime_seconds", "gauge", "Seconds since the pipeline started.");
  w.sample("sluice_pipeline_uptime_seconds", w.pipeline_label(), s.uptime_seconds);
  w.family("sluice_pipeline_ready", "gauge", "1 while every stage has started and the pipeline is not draining (as /readyz).");
  w.sample("sluice_pipeline_ready", w.pipeline_label(), s.ready() ? 1 : 0);
}

void stage_counter_metrics(writer& w) {
  w.per_stage("sluice_stage_events_in_total", "counter", "Events handed to the stage's handle_events (all copies).",
              [](const stage_figures& s) { return d(s.totals.events_in); });
  w.per_stage("sluice_stage_events_out_total", "counter", "Events the stage sent to its consumers.",
              [](const stage_figures& s) { return d(s.totals.events_out); });
  w.per_stage("sluice_stage_events_received_total", "counter", "Events that reached the stage, before any input queue.",
              [](const stage_figures& s) { return d(s.totals.received); });
  w.per_stage("sluice_stage_events_dropped_total", "counter", "Events a full output buffer dropped.",
              [](const stage_figures& s) { return d(s.totals.dropped); });
  w.per_stage("sluice_stage_events_skipped_total", "counter", "Inputs the stage's own code skipped (on_error skip).",
              [](const stage_figures& s) { return d(s.totals.skipped); });
  w.per_stage("sluice_stage_events_acknowledged_total", "counter",
              "Events of this source settled as handled: acknowledged to the server (nats_jetstream).",
              [](const stage_figures& s) { return d(s.totals.acknowledged); });
  w.per_stage("sluice_stage_events_failed_total", "counter",
              "Events of this source settled as failed: negatively acknowledged, so the server redelivers them.",
              [](const stage_figures& s) { return d(s.totals.failed); });
  w.per_stage("sluice_stage_events_redelivered_total", "counter", "Events the server delivered to this source again.",
              [](const stage_figures& s) { return d(s.totals.redelivered); });
  w.per_stage("sluice_stage_events_late_total", "counter", "Late events a window stage handed on as {\"late\": event} (never dropped).",
              [](const stage_figures& s) { return d(s.totals.late); });
  w.per_stage("sluice_stage_open_windows", "gauge", "Windows of a window stage holding state now (all copies).",
              [](const stage_figures& s) { return static_cast<double>(s.totals.open_windows); });
  w.per_stage("sluice_stage_events_retried_total", "counter", "Runs of a failed input again (on_error retry).",
              [](const stage_figures& s) { return d(s.totals.retried); });
  w.per_stage("sluice_stage_events_dead_lettered_total", "counter", "Failed inputs sent to the stage's dead-letter stage (on_error dead_letter).",
              [](const stage_figures& s) { return d(s.totals.dead_lettered); });
  w.per_stage("sluice_stage_restarts_total", "counter", "Instances of the stage replaced after an abnormal exit.",
              [](const stage_figures& s) { return d(s.totals.restarts); });
  w.per_stage("sluice_stage_demand_asked_total", "counter", "Demand (in events) the stage's consumers asked of it.",
              [](const stage_figures& s) { return d(s.totals.demand_asked); });
  w.per_stage("sluice_stage_busy_seconds_total", "counter", "Seconds the stage's instances spent handling messages.",
              [](const stage_figures& s) { return seconds(s.totals.busy_ns); });
  w.per_stage("sluice_stage_idle_seconds_total", "counter", "Seconds the stage's instances waited for events.",
              [](const stage_figures& s) { return seconds(s.totals.idle_ns); });
  w.per_stage("sluice_stage_back_pressured_seconds_total", "counter",
              "Seconds the stage's instances waited for demand downstream while holding events (a source: able to produce).",
              [](const stage_figures& s) { return seconds(s.totals.back_pressured_ns); });
}

void stage_gauge_metrics(writer& w) {
  w.per_stage("sluice_stage_buffered_events", "gauge", "Events in the stage's output buffer now.",
              [](const stage_figures& s) { return d(s.totals.buffered); });
  w.per_stage("sluice_stage_queued_events", "gauge", "Events that reached the stage and wait in its input queue now.",
              [](const stage_figures& s) { return d(s.totals.queued()); });
  w.per_stage("sluice_stage_demand_outstanding_events", "gauge", "Demand its consumers gave the stage, not served yet.",
              [](const stage_figures& s) { return d(s.totals.demand_outstanding); });
  w.per_stage("sluice_stage_copies", "gauge", "Copies of the stage the pipeline file asks for (concurrency).",
              [](const stage_figures& s) { return d(s.copies); });
  w.per_stage("sluice_stage_instances", "gauge", "Instances of the stage alive now.",
              [](const stage_figures& s) { return d(s.totals.instances); });
  w.per_stage("sluice_stage_busy_ratio", "gauge", "Share of the last sampling interval the stage spent busy, per copy (0 to 1).",
              [](const stage_figures& s) { return s.busy_ratio; });
  w.per_stage("sluice_stage_back_pressured_ratio", "gauge", "Share of the last sampling interval the stage waited for demand, per copy (0 to 1).",
              [](const stage_figures& s) { return s.back_pressured_ratio; });
  w.per_stage("sluice_stage_bottleneck", "gauge", "1 if the stage is mostly busy while a producer of it mostly waits for its demand.",
              [](const stage_figures& s) { return s.bottleneck ? 1.0 : 0.0; });
  w.per_stage("sluice_stage_stalled", "gauge", "1 if the stage made no progress for the stall timeout while work waited for it.",
              [](const stage_figures& s) { return s.stalled ? 1.0 : 0.0; });
}

void edge_metrics(writer& w) {
  w.per_edge("sluice_edge_demand_asked_total", "counter", "Demand (in events) the consumer stage asked of the producer stage.",
             [](const edge_figures& e) { return d(e.demand_asked); });
  w.per_edge("sluice_edge_demand_outstanding_events", "gauge", "Demand asked on the edge and not served yet.",
             [](const edge_figures& e) { return d(e.demand_outstanding); });
  w.per_edge("sluice_edge_events_in_flight", "gauge", "Events sent on the edge that have not reached the consumer yet.",
             [](const edge_figures& e) { return d(e.in_flight); });
}

}  // namespace

std::string prometheus_text(const snapshot& s, std::string_view version) {
  writer w(s);
  pipeline_metrics(w, s, version);
  stage_counter_metrics(w);
  stage_gauge_metrics(w);
  edge_metrics(w);
  return w.take();
}

}  // namespace sluice::observe
