// lib/observe/monitor.hpp: samples a running pipeline's counters, keeps the latest snapshot, and
// runs the stall detector.
//
// One thread wakes every interval (a condition variable's timed wait: nothing spins), reads every
// stage's counters, computes rates and time shares over the interval, finds stalls and logs each
// one once when it begins (and once when it ends). Readers (the HTTP endpoint, from its own
// threads) copy the latest snapshot under a mutex the event path never takes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sluice/process/log.hpp>

#include "observe/figures.hpp"
#include "observe/stall_detector.hpp"

namespace sluice::observe {

struct monitor_options {
  /// When the pipeline began starting (uptime counts from it).
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  /// A stage with work waiting and no progress for this long is stalled.
  std::chrono::milliseconds stall_timeout{30000};
  /// How often the counters are sampled: at most a second, and a quarter of the stall timeout.
  [[nodiscard]] std::chrono::milliseconds interval() const {
    return std::clamp(stall_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  }
};

/// Where the monitor's lines go: (level, stage, message). Thread-safe.
using monitor_log = std::function<void(log_level, const std::string&, const std::string&)>;

class monitor {
 public:
  /// `stages`: the running pipeline's (their counters are shared: they outlive the pipeline).
  monitor(const pipeline::pipeline_spec& spec, std::vector<pipeline::stage_report> stages, monitor_options options,
          monitor_log log);
  ~monitor();
  monitor(const monitor&) = delete;
  monitor& operator=(const monitor&) = delete;

  /// The latest sample, with the counters read again now (for a scrape). Thread-safe.
  [[nodiscard]] snapshot current() const;
  /// The pipeline is draining (not ready any more). Thread-safe.
  void set_draining();
  /// The pipeline has ended. Thread-safe.
  void set_ended();

 private:
  void loop();
  void sample();
  std::vector<stage_figures> read_stages() const;

  std::vector<pipeline::stage_report> reports_;
  monitor_options options_;
  monitor_log log_;
  stall_detector stalls_;  // the sampler thread's only
  std::vector<stage_totals> last_totals_;  // the sampler thread's only
  std::chrono::steady_clock::time_point last_time_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;  // guards latest_ and done_
  std::condition_variable wake_;
  snapshot latest_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace sluice::observe
