#include "observe/monitor.hpp"

#include <algorithm>
#include <cmath>

namespace sluice::observe {

namespace {

/// "1.2 s"-style text: tenths of a second.
std::string seconds_text(double s) {
  const long long tenths = std::llround(s * 10);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

}  // namespace

monitor::monitor(const pipeline::pipeline_spec& spec, std::vector<pipeline::stage_report> stages, monitor_options options,
                 monitor_log log)
    : reports_(std::move(stages)), options_(options), log_(std::move(log)), stalls_(options.stall_timeout) {
  latest_.pipeline = spec.name;
  latest_.started = true;
  latest_.edges = edges_of(spec);
  latest_.stages = read_stages();
  for (const auto& s : latest_.stages) last_totals_.push_back(s.totals);
  fill_edges(latest_.edges, latest_.stages);
  thread_ = std::thread([this] { loop(); });
}

monitor::~monitor() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::vector<stage_figures> monitor::read_stages() const {
  std::vector<stage_figures> out;
  out.reserve(reports_.size());
  for (const auto& r : reports_) {
    stage_figures f;
    f.name = r.name;
    f.type = r.type;
    f.role = r.role;
    f.copies = r.copies;
    f.totals = read_totals(*r.counters);
    out.push_back(std::move(f));
  }
  return out;
}

snapshot monitor::current() const {
  std::vector<stage_figures> fresh = read_stages();
  std::lock_guard lock(mutex_);
  snapshot s = latest_;
  for (std::size_t i = 0; i < s.stages.size() && i < fresh.size(); ++i) s.stages[i].totals = fresh[i].totals;
  fill_edges(s.edges, s.stages);
  s.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - options_.started).count();
  return s;
}

void monitor::set_draining() {
  std::lock_guard lock(mutex_);
  latest_.draining = true;
}

void monitor::set_ended() {
  std::lock_guard lock(mutex_);
  latest_.ended = true;
}

void monitor::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, options_.interval(), [&] { return done_; })) {
    lock.unlock();
    sample();
    lock.lock();
  }
}

void monitor::sample() {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_time_).count();
  std::vector<stage_figures> stages = read_stages();
  for (std::size_t i = 0; i < stages.size(); ++i) fill_rates(stages[i], last_totals_[i], seconds);
  std::vector<edge_figures> edges;
  {
    std::lock_guard lock(mutex_);
    edges = latest_.edges;
  }
  fill_edges(edges, stages);
  std::vector<stall> stalls = stalls_.update(now, stages, edges);
  mark_bottlenecks(stages, edges);
  for (const stall& s : stalls_.began()) {
    std::string edge = s.edge_from ? " on edge \"" + *s.edge_from + "\" -> \"" + *s.edge_to + "\"" : "";
    log_(log_level::warning, s.stage, "stalled: no progress for " + seconds_text(s.seconds) +
                                          " s while work waits" + edge + ": " + s.why);
  }
  for (const std::string& stage : stalls_.resumed()) log_(log_level::info, stage, "progressing again after a stall");
  last_totals_.clear();
  for (const auto& s : stages) last_totals_.push_back(s.totals);
  last_time_ = now;
  std::lock_guard lock(mutex_);
  latest_.stages = std::move(stages);
  latest_.edges = std::move(edges);
  latest_.stalls = std::move(stalls);
  latest_.interval_seconds = seconds;
}

}  // namespace sluice::observe
