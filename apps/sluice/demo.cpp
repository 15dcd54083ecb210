// The demo starts a supervisor with two workers, sends them jobs, lets one crash on a poisoned job,
// shows the supervisor restarting it, then shuts everything down in reverse start order.
#include "demo.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>

#include <sluice/sluice.hpp>

namespace sluice::app {

namespace {

using namespace std::chrono_literals;

/// Lines the processes report, printed in order; the main thread can wait for one to appear.
class narration {
 public:
  explicit narration(std::ostream& out) : out_(out) {}
  void say(const std::string& line) {
    {
      std::lock_guard lock(mutex_);
      out_ << line << '\n';
      seen_.push_back(line);
    }
    changed_.notify_all();
  }
  /// Waits until `line` has been said `times` times; false after 5 s.
  bool await(const std::string& line, int times) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] {
      int n = 0;
      for (auto& s : seen_) n += (s == line) ? 1 : 0;
      return n >= times;
    });
  }

 private:
  std::ostream& out_;
  std::mutex mutex_;  // guards out_ and seen_
  std::condition_variable changed_;
  std::deque<std::string> seen_;
};

struct job {
  int n;
};

class worker final : public behaviour {
 public:
  worker(std::string name, narration& log) : name_(std::move(name)), log_(log) {}
  void init(context& self) override {
    self.register_name(name_);
    log_.say(name_ + " started");
  }
  void handle(context& self, message& m) override {
    if (auto* r = m.get_if<request<job>>()) {
      if (r->body.n == 13) throw std::runtime_error("job 13 is poisoned");
      r->from.reply(name_ + " " + self.self().to_string() + " did job " + std::to_string(r->body.n));
    }
  }
  void terminate(context&, const exit_reason& why) override { log_.say(name_ + " stopping: " + why.to_string()); }

 private:
  std::string name_;
  narration& log_;
};

child_spec worker_spec(const std::string& name, narration& log) {
  return {.id = name, .start = [name, &log](context& sup) { return sup.spawn(std::make_unique<worker>(name, log)); }};
}

void send_job(runtime& rt, narration& log, const std::string& to, int n) {
  const auto p = rt.whereis(to);
  auto reply = rt.call<std::string>(p.value_or(pid{}), job{n}, 2s);
  log.say(reply ? "reply: " + *reply : "job " + std::to_string(n) + " to " + to + ": " + to_string(reply.error()));
}

}  // namespace

int run_demo(std::ostream& out) {
  narration log(out);
  runtime rt;
  log.say("runtime up with " + std::to_string(rt.threads()) + " scheduler threads");
  const pid sup = start_supervisor(rt, {.strategy = strategy::one_for_one, .max_restarts = 3},
                                   {worker_spec("worker-a", log), worker_spec("worker-b", log)});
  if (!log.await("worker-a started", 1) || !log.await("worker-b started", 1)) return 1;

  send_job(rt, log, "worker-a", 1);
  send_job(rt, log, "worker-b", 2);
  send_job(rt, log, "worker-a", 13);
  if (!log.await("worker-a started", 2)) return 1;
  log.say("supervisor restarted worker-a");
  send_job(rt, log, "worker-a", 3);

  rt.exit(sup, exit_reason::shutdown());
  const auto sup_exit = rt.await_exit(sup, 10s);
  log.say("supervisor exited: " + (sup_exit ? sup_exit->to_string() : "timeout"));
  return sup_exit ? 0 : 1;
}

}  // namespace sluice::app
