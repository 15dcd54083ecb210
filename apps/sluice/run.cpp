// `sluice run FILE`: run a pipeline until it ends; SIGINT/SIGTERM drain it (or, before it has
// started, stop it from starting), a second one stops at once (exit 130).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <sluice/pipeline/runner.hpp>

#include "commands.hpp"
#include "observe/http_endpoint.hpp"
#include "observe/json_log.hpp"
#include "observe/monitor.hpp"
#include "observe_flags.hpp"
#include "options.hpp"
#include "usage.hpp"

namespace sluice::app {

namespace {

using namespace std::chrono_literals;

/// The signals that stop a run, blocked from main's first instruction on (block_stop_signals) so
/// that every thread inherits the mask, none dies of them, and only stop_watch takes them. SIGUSR1
/// tells stop_watch's thread that the run is over.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

/// Takes SIGINT/SIGTERM for `sluice run` from before the pipeline is loaded to the end of the run,
/// in one thread that waits for them (sigwait), so no handler runs in a random thread and nothing
/// polls. The first signal drains the pipeline, at once if it runs, else as soon as it exists
/// (attach), or stops a run that has not started (requested); the second stops at once (exit 130).
class stop_watch {
 public:
  explicit stop_watch(std::ostream& err) : err_(err) { thread_ = std::thread([this] { loop(); }); }
  ~stop_watch() {
    ::pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  stop_watch(const stop_watch&) = delete;
  stop_watch& operator=(const stop_watch&) = delete;

  /// True once a signal came (the run should not start).
  [[nodiscard]] bool requested() const {
    std::lock_guard lock(mutex_);
    return requested_;
  }

  /// While it lives, a signal drains `p`; one that came before drains it at once.
  class attachment {
   public:
    /// `on_drain`: told when the drain begins (the monitor stops being ready).
    attachment(stop_watch& w, pipeline::running_pipeline& p, std::function<void()> on_drain = {}) : watch_(w) {
      std::lock_guard lock(watch_.mutex_);
      watch_.pipeline_ = &p;
      watch_.on_drain_ = std::move(on_drain);
      if (watch_.requested_) watch_.drain();
    }
    ~attachment() {
      std::lock_guard lock(watch_.mutex_);
      watch_.pipeline_ = nullptr;
      watch_.on_drain_ = nullptr;
    }
    attachment(const attachment&) = delete;
    attachment& operator=(const attachment&) = delete;

   private:
    stop_watch& watch_;
  };

 private:
  void loop() {
    const sigset_t set = stop_signals();
    for (;;) {
      int sig = 0;
      if (::sigwait(&set, &sig) != 0 || sig == SIGUSR1) return;
      std::lock_guard lock(mutex_);
      if (requested_) {
        err_ << "sluice: stopped at once" << std::endl;
        std::_Exit(130);
      }
      requested_ = true;
      err_ << "sluice: " << (sig == SIGINT ? "interrupted" : "terminated")
           << ": draining (send the signal again to stop at once)" << std::endl;
      if (pipeline_ != nullptr) drain();
    }
  }
  void drain() {  // under mutex_
    if (on_drain_) on_drain_();
    pipeline_->drain();
  }
  std::ostream& err_;
  mutable std::mutex mutex_;  // guards requested_ and pipeline_ (the main thread attaches, this one drains)
  bool requested_ = false;
  pipeline::running_pipeline* pipeline_ = nullptr;
  std::function<void()> on_drain_;
  std::thread thread_;
};

/// --stats: a line per second with each stage's rate, outstanding demand and buffer.
class stats_printer {
 public:
  stats_printer(const std::vector<pipeline::stage_report>& stages, std::ostream& err) : stages_(stages), err_(err) {
    thread_ = std::thread([this] { loop(); });
  }
  ~stats_printer() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    std::vector<std::uint64_t> last(stages_.size(), 0);
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, 1s, [&] { return done_; })) {
      std::ostringstream line;
      line << "stats:";
      for (std::size_t i = 0; i < stages_.size(); ++i) {
        auto& c = *stages_[i].counters;
        const std::uint64_t moved = stages_[i].role == pipeline::stage_role::sink ? c.events_in.load() : c.events_out.load();
        line << "  " << stages_[i].name << " " << (moved - last[i]) << "/s";
        if (stages_[i].role != pipeline::stage_role::sink) line << " demand " << c.outstanding.load() << " buffered " << c.buffered.load();
        last[i] = moved;
      }
      err_ << line.str() << std::endl;
    }
  }
  const std::vector<pipeline::stage_report>& stages_;
  std::ostream& err_;
  std::mutex mutex_;  // guards done_
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

void print_summary(const std::vector<pipeline::stage_report>& stages, std::chrono::steady_clock::duration wall,
                   std::ostream& err) {
  err << std::left << std::setw(18) << "stage" << std::setw(12) << "type" << std::right << std::setw(12) << "in"
      << std::setw(12) << "out" << std::setw(10) << "dropped" << std::setw(10) << "skipped" << std::setw(10) << "retried"
      << std::setw(14) << "dead_letters" << std::setw(10) << "restarts"
      << std::setw(10) << "wall" << "\n";
  for (auto& s : stages) {
    auto& c = *s.counters;
    std::string name = s.name + (s.copies > 1 ? " x" + std::to_string(s.copies) : "");
    std::ostringstream seconds;
    seconds << std::fixed << std::setprecision(3) << std::chrono::duration<double>(s.wall).count() << "s";
    err << std::left << std::setw(18) << name << std::setw(12) << s.type << std::right << std::setw(12)
        << (s.role == pipeline::stage_role::source ? std::string("-") : std::to_string(c.events_in.load())) << std::setw(12)
        << (s.role == pipeline::stage_role::sink ? std::string("-") : std::to_string(c.events_out.load())) << std::setw(10)
        << c.dropped.load() << std::setw(10) << c.skipped.load() << std::setw(10) << c.retried.load() << std::setw(14)
        << c.dead_lettered.load() << std::setw(10) << c.restarts.load() << std::setw(10)
        << seconds.str() << "\n";
  }
  for (auto& s : stages) {  // what only some stage types count
    if (const auto late = s.counters->late.load(); late > 0) {
      err << "stage \"" << s.name << "\": " << late << " late events (handed on as {\"late\": event})\n";
    }
  }
  err << "wall time: " << std::fixed << std::setprecision(3) << std::chrono::duration<double>(wall).count() << " s\n";
}

/// Why the run failed, naming the stage (and its restart allowance when it used it up).
void print_failure(const pipeline::run_outcome& outcome, const pipeline::pipeline_spec& spec, std::ostream& err) {
  err << "sluice: stage \"" << outcome.failed_stage << "\" failed";
  const pipeline::stage_spec* s = spec.find(outcome.failed_stage);
  if (outcome.restarts_exhausted && s != nullptr) {
    std::ostringstream window;  // 5, 0.5: the seconds as written, whatever the stream's format
    window << s->restart.max_seconds;
    err << ", restarts exhausted (more than " << s->restart.max_restarts << " within " << window.str() << " s); last";
  }
  err << pipeline::prefix_lines(outcome.reason.to_string(), ": ", "sluice: stage \"" + outcome.failed_stage + "\": ") << "\n";
}

/// The stages a wind-down or a drain had to kill, with what they held: they were still running when
/// its time was up.
void print_killed(const pipeline::run_outcome& outcome, const std::vector<pipeline::stage_report>& reports,
                  std::ostream& err) {
  if (outcome.killed_at_deadline.empty()) return;
  err << "sluice: still running when the time was up, stopped (what they held is lost):";
  for (const auto& stage : outcome.killed_at_deadline) {
    err << " \"" << stage << "\"";
    for (const auto& r : reports) {
      if (r.name == stage && r.counters->buffered.load() != 0) err << " (holding " << r.counters->buffered.load() << " events)";
    }
  }
  err << "\n";
}

/// One line per restart, as it happens: which stage, how much of its allowance it has used, why.
void report_restart(const pipeline::restart_notice& n, const pipeline::pipeline_spec& spec, std::ostream& err) {
  std::ostringstream line;
  line << "sluice: stage \"" << n.stage << "\"";
  const pipeline::stage_spec* s = spec.find(n.stage);
  if (s != nullptr && s->concurrency > 1) line << " (copy " << n.copy + 1 << " of " << s->concurrency << ")";
  line << " restarted";
  if (s != nullptr) line << " (" << n.recent << " of " << s->restart.max_restarts << " within " << s->restart.max_seconds << " s)";
  line << pipeline::prefix_lines(n.reason.to_string(), " after: ", "sluice: stage \"" + n.stage + "\": ") << "\n";
  err << line.str() << std::flush;  // one write: the watcher's thread, beside the others' lines
}

/// --http: listening before the pipeline starts (a port in use fails the run before anything ran);
/// null without --http, or after saying why it cannot listen (`failed`).
std::unique_ptr<observe::http_endpoint> listen_http(const observe_options& obs, const pipeline::pipeline_spec& spec,
                                                    std::ostream& err, bool& failed) {
  std::unique_ptr<observe::http_endpoint> http;
  if (!obs.http) return http;
  const observe::listen_address where = observe::parse_listen_address(*obs.http);
  try {
    http = std::make_unique<observe::http_endpoint>(where, spec.name, SLUICE_VERSION);
  } catch (const std::exception& e) {
    err << "sluice: --http: " << e.what() << "\n";
    failed = true;
    return http;
  }
  const bool v6 = where.host.find(':') != std::string::npos;
  err << "sluice: http: listening on http://" << (v6 ? "[" + where.host + "]" : where.host) << ":" << http->port() << "/" << std::endl;
  return http;
}

/// The monitor's lines go to the runtime's logger (text or JSON, as the other records).
observe::monitor_log monitor_log_to(runtime& rt) {
  return [&rt](log_level level, const std::string& stage, const std::string& message) { rt.log().log(level, message, stage); };
}

}  // namespace

void block_stop_signals() noexcept {
  const sigset_t set = stop_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void unblock_stop_signals() noexcept {
  const sigset_t set = stop_signals();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int run_command(const std::vector<std::string>& given, std::ostream& out, std::ostream& text_err) {
  std::vector<std::string> args = given;
  const auto obs = take_observe_options(args, text_err);
  if (!obs) return exit_usage;
  auto o = parse_options("run", args, true, {"--set", "--plugin", "--stats", "--threads", "--drain-timeout"}, text_err);
  if (!o) return exit_usage;
  if (o->help) return print_help("run", out);
  // --log-format json: the run's own lines become JSON records too (usage and load errors, which
  // come before anything runs, stay text: a person reads those).
  observe::json_line_stream json_err(text_err);
  std::ostream& err = obs->json_logs ? json_err : text_err;
  stop_watch stop(err);  // main blocked the signals: one that came since is pending, and taken now
  pipeline::registry types;
  if (!fill_registry(types, o->plugins, text_err)) return exit_usage;
  auto spec = load_or_report(*o, types, text_err);
  if (!spec) return exit_usage;
  json_err.set_pipeline(spec->name);
  observe_options settings = *obs;
  if (!settings.http && spec->http) {  // the file's `http`, weakest of the three
    try {
      (void)observe::parse_listen_address(*spec->http);
    } catch (const std::invalid_argument& e) {
      text_err << "sluice: " << spec->file << ": /http: " << e.what() << "\n";
      return exit_usage;
    }
    settings.http = spec->http;
  }
  if (stop.requested()) {
    err << "sluice: stopped before the pipeline started: nothing ran\n";
    return exit_ok;
  }

  runtime_options rt_options{.threads = o->threads};
  if (obs->json_logs) rt_options.log_sink = observe::json_log_sink(spec->name);
  runtime rt(rt_options);
  bool http_failed = false;
  auto http = listen_http(settings, *spec, err, http_failed);  // after rt: it goes first, with the monitor logging to rt
  if (http_failed) return exit_failure;
  std::optional<pipeline::run_outcome> outcome;
  std::vector<pipeline::stage_report> reports;
  try {
    pipeline::run_options options;
    if (o->drain_timeout_s > 0) options.drain_timeout = std::chrono::seconds(o->drain_timeout_s);
    const auto started = std::chrono::steady_clock::now();
    pipeline::running_pipeline running(rt, *spec,
                                       {.on_restart = [&](const pipeline::restart_notice& n) { report_restart(n, *spec, err); }},
                                       options);
    const std::vector<pipeline::stage_report> live = running.stages();  // names and live counters
    auto monitor = std::make_shared<observe::monitor>(*spec, live, observe::monitor_options{started, obs->stall_timeout},
                                                      monitor_log_to(rt));
    if (http) http->attach(monitor);
    stop_watch::attachment drains(stop, running, [&monitor] { monitor->set_draining(); });
    std::optional<stats_printer> stats;
    if (o->stats) stats.emplace(live, err);
    while (!(outcome = running.wait_for(24h))) {
    }
    reports = running.stages();
    monitor->set_ended();
  } catch (const pipeline::start_error& e) {
    err << "sluice: " << e.what() << "\n";
    return exit_failure;
  }
  print_summary(reports, outcome->wall, err);
  if (outcome->output_closed) {
    err << "sluice: the reader of stage \"" << *outcome->output_closed
        << "\"'s output went away: the sources were stopped and what was in flight drained\n";
  }
  if (!outcome->ok) {
    print_failure(*outcome, *spec, err);
    print_killed(*outcome, reports, err);
    // A stage killed at a deadline may be stuck in a blocking call (a write nobody reads) and never
    // exit: leave without waiting for it (the runtime's destructor would).
    if (!outcome->killed_at_deadline.empty()) {
      err << std::flush;
      std::_Exit(exit_failure);
    }
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace sluice::app
