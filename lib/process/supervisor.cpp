// The supervisor behaviour. Stopping children is asynchronous (monitor, exit signal, wait for the
// down, kill on timeout), so a supervisor never blocks a scheduler thread; while such a "plan" is
// under way every other message is deferred and replayed, in order, once it completes.
#include <sluice/process/supervisor.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <memory>
#include <optional>

#include <sluice/process/context.hpp>
#include <sluice/process/restart_window.hpp>
#include <sluice/process/runtime.hpp>

namespace sluice {

namespace {

using clock = std::chrono::steady_clock;

struct stop_timeout {
  std::uint64_t seq;
};
struct start_failed {
  std::string id;
  std::string why;
};

struct child {
  child_spec spec;
  pid running;
};

/// Children to stop one after the other, then what to do.
struct plan {
  struct step {
    pid target;
    shutdown_mode mode;
    clock::duration timeout;
  };
  std::vector<step> steps;
  std::size_t next = 0;
  monitor_ref watching;
  pid awaiting_exit;  // stopped, gone before it could be monitored: its exit signal is awaited
  timer_ref timer;
  std::uint64_t seq = 0;

  std::vector<std::string> forget_ids;   // forget these specs (terminate_child, temporaries)
  reply_handle reply;                    // then answer this (terminate_child) with true
  std::vector<std::string> start_ids;    // start these in order afterwards
  std::optional<exit_reason> exit_after; // then exit with this
};

class supervisor final : public behaviour {
 public:
  supervisor(supervisor_flags flags, std::vector<child_spec> specs, pid parent, supervisor_reporter report)
      : flags_(flags),
        report_(std::move(report)),
        parent_(parent),
        // A negative allowance allows nothing, as zero does.
        restarts_(static_cast<std::size_t>(std::max(flags.max_restarts, 0)), flags.max_seconds) {
    for (auto& s : specs) children_.push_back({std::move(s), {}});
  }

  void init(context& self) override {
    self.trap_exit(true);
    for (auto& c : children_) {
      std::string why;
      if (!start(self, c, why)) {
        stop_then(self, running_in_reverse(0),
                  [&](plan& p) { p.exit_after = exit_reason::shutdown("failed_to_start_child " + c.spec.id + ": " + why); });
        return;
      }
    }
  }

  void handle(context& self, message& m) override {
    if (plan_) {
      on_plan_message(self, m);
    } else {
      on_message(self, m);
    }
  }

 private:
  // ---- messages --------------------------------------------------------------------------
  void on_message(context& self, message& m) {
    if (auto* sig = m.get_if<exit_signal>()) return on_exit_signal(self, *sig);
    if (auto* f = m.get_if<start_failed>()) {
      child* c = find(f->id);
      if (c != nullptr && !c->running.valid()) on_child_exit(self, f->id, exit_reason::error(f->why));
      return;
    }
    if (auto* r = m.get_if<request<start_child_request>>()) return on_start_child(self, *r);
    if (auto* r = m.get_if<request<terminate_child_request>>()) return on_terminate_child(self, *r);
    if (auto* r = m.get_if<request<which_children_request>>()) {
      std::vector<child_info> out;
      for (auto& c : children_) out.push_back({c.spec.id, c.running});
      r->from.reply(std::move(out));
    }
  }

  void on_exit_signal(context& self, const exit_signal& sig) {
    for (auto& c : children_) {
      if (c.running.valid() && c.running == sig.from) return on_child_exit(self, c.spec.id, sig.reason);
    }
    // From the parent, or from no process (runtime::exit): stop. Anything else is a stale signal
    // from a child already stopped or replaced.
    if (sig.from == parent_ || !sig.from.valid()) shutdown(self, sig.reason);
  }

  void on_start_child(context& self, request<start_child_request>& r) {
    if (find(r.body.spec.id) != nullptr) {
      r.from.reply(start_child_reply{{}, "already_present: " + r.body.spec.id});
      return;
    }
    children_.push_back({std::move(r.body.spec), {}});
    std::string why;
    if (start(self, children_.back(), why)) {
      r.from.reply(start_child_reply{children_.back().running, {}});
    } else {
      children_.pop_back();
      r.from.reply(start_child_reply{{}, why});
    }
  }

  void on_terminate_child(context& self, request<terminate_child_request>& r) {
    child* c = find(r.body.id);
    if (c == nullptr) {
      r.from.reply(false);
      return;
    }
    std::vector<plan::step> steps;
    if (c->running.valid()) steps.push_back(step_for(*c));
    stop_then(self, std::move(steps), [&](plan& p) {
      p.forget_ids.push_back(r.body.id);
      p.reply = std::move(r.from);
    });
  }

  // ---- restarts --------------------------------------------------------------------------
  void on_child_exit(context& self, const std::string& id, const exit_reason& reason) {
    child* c = find(id);
    const pid who = c->running;
    c->running = {};
    const auto restart = c->spec.restart;
    if (restart == restart_type::temporary || (restart == restart_type::transient && reason.is_transient())) {
      report_terminated(id, who, reason, false);
      if (restart == restart_type::temporary) forget(id);
      return;
    }
    if (!record_restart()) {
      report_terminated(id, who, reason, false);
      report({supervisor_report::kind::gave_up, {}, {}, exit_reason::shutdown()});
      return shutdown(self, exit_reason::shutdown());
    }
    report_terminated(id, who, reason, true);
    const std::size_t at = index_of(id);
    switch (flags_.strategy) {
      case strategy::one_for_one:
        return start_all(self, {id});
      case strategy::one_for_all:
        return restart_from(self, 0);
      case strategy::rest_for_one:
        return restart_from(self, at);
    }
  }

  /// Stops the running children from index `from` on (reverse order), then starts them all again
  /// in order; temporary ones are stopped and forgotten.
  void restart_from(context& self, std::size_t from) {
    std::vector<std::string> start, forget;
    for (std::size_t i = from; i < children_.size(); ++i) {
      auto& id = children_[i].spec.id;
      (children_[i].spec.restart == restart_type::temporary ? forget : start).push_back(id);
    }
    stop_then(self, running_in_reverse(from), [&](plan& p) {
      p.start_ids = std::move(start);
      p.forget_ids = std::move(forget);
    });
  }

  bool record_restart() { return restarts_.try_restart(); }

  void report(supervisor_report r) {
    if (!report_) return;
    r.recent_restarts = restarts_.recent();
    try {
      report_(r);
    } catch (...) {  // a report's failure must not take the supervisor down
    }
  }
  void report_terminated(const std::string& id, pid who, const exit_reason& reason, bool restarting) {
    report({supervisor_report::kind::terminated, id, who, reason, false, restarting});
  }

  void shutdown(context& self, exit_reason reason) {
    stop_then(self, running_in_reverse(0), [&](plan& p) { p.exit_after = std::move(reason); });
  }

  // ---- starting ----------------------------------------------------------------------------
  bool start(context& self, child& c, std::string& why, bool restarted = false) {
    try {
      const pid p = c.spec.start(self);
      if (!p.valid()) {
        why = "start returned no pid";
        return false;
      }
      self.link(p);
      c.running = p;
      report({supervisor_report::kind::started, c.spec.id, p, {}, restarted});
      return true;
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "unknown exception";
    }
    return false;
  }

  /// Starts the named children in order; a failed (re)start comes back as a message, and is then
  /// treated as that child exiting (so restart intensity bounds a child that cannot start).
  void start_all(context& self, const std::vector<std::string>& ids) {
    for (auto& id : ids) {
      child* c = find(id);
      std::string why;
      if (c != nullptr && !c->running.valid() && !start(self, *c, why, true)) self.send(self.self(), start_failed{id, why});
    }
  }

  // ---- stopping ----------------------------------------------------------------------------
  plan::step step_for(const child& c) const { return {c.running, c.spec.shutdown, c.spec.shutdown_timeout}; }

  std::vector<plan::step> running_in_reverse(std::size_t from) const {
    std::vector<plan::step> steps;
    for (std::size_t i = children_.size(); i-- > from;) {
      if (children_[i].running.valid()) steps.push_back(step_for(children_[i]));
    }
    return steps;
  }

  template <class Then>
  void stop_then(context& self, std::vector<plan::step> steps, Then&& then) {
    plan_.emplace();
    plan_->steps = std::move(steps);
    then(*plan_);
    stop_next(self);
  }

  void stop_next(context& self) {
    if (plan_->next == plan_->steps.size()) return finish_plan(self);
    const plan::step& s = plan_->steps[plan_->next];
    // Monitored, and still linked: should it be gone already, its exit signal tells why (see
    // on_plan_message); one that comes after its down is stale and ignored.
    plan_->watching = self.monitor(s.target);
    plan_->seq = ++stop_seq_;
    if (s.mode == shutdown_mode::brutal_kill) {
      self.exit(s.target, exit_reason::kill());
    } else {
      self.exit(s.target, exit_reason::shutdown());
      if (s.mode == shutdown_mode::timeout) {
        plan_->timer = self.send_after(self.self(), stop_timeout{plan_->seq}, s.timeout);
      }
    }
  }

  void on_plan_message(context& self, message& m) {
    if (auto* d = m.get_if<down>(); d != nullptr && d->ref == plan_->watching) {
      self.cancel_timer(plan_->timer);
      if (d->reason != exit_reason::noproc()) return child_stopped(self, d->who, d->reason);
      // It exited before the monitor could reach it: the real reason is in its link's exit signal,
      // among the deferred messages already or on its way (the link stays until the child is
      // accounted for, as OTP's supervisor reads the 'EXIT' message then).
      if (auto reason = exit_of(d->who)) return child_stopped(self, d->who, *reason);
      plan_->awaiting_exit = d->who;
      return;
    }
    if (auto* sig = m.get_if<exit_signal>(); sig != nullptr && plan_->awaiting_exit.valid() && sig->from == plan_->awaiting_exit) {
      return child_stopped(self, sig->from, sig->reason);
    }
    if (auto* t = m.get_if<stop_timeout>(); t != nullptr) {
      if (t->seq == plan_->seq) self.exit(plan_->steps[plan_->next].target, exit_reason::kill());
      return;
    }
    deferred_.push_back(std::move(m));
  }

  /// A child the plan stops is gone, with `reason`: on to the next.
  void child_stopped(context& self, pid who, const exit_reason& reason) {
    plan_->awaiting_exit = {};
    for (auto& c : children_) {
      if (c.running != who) continue;
      c.running = {};
      const auto& again = plan_->start_ids;
      report_terminated(c.spec.id, who, reason, std::find(again.begin(), again.end(), c.spec.id) != again.end());
    }
    ++plan_->next;
    stop_next(self);
  }

  /// The exit signal of a child that exited before the plan could monitor it (its down says
  /// noproc), if it already came and waits among the deferred messages. Taken out: the child is
  /// accounted for.
  std::optional<exit_reason> exit_of(pid who) {
    auto it = std::find_if(deferred_.begin(), deferred_.end(), [&](message& m) {
      auto* sig = m.get_if<exit_signal>();
      return sig != nullptr && sig->from == who;
    });
    if (it == deferred_.end()) return std::nullopt;
    exit_reason reason = it->get_if<exit_signal>()->reason;
    deferred_.erase(it);
    return reason;
  }

  void finish_plan(context& self) {
    plan done = std::move(*plan_);
    plan_.reset();
    for (auto& id : done.forget_ids) forget(id);
    if (done.reply.pending()) done.reply.reply(true);
    start_all(self, done.start_ids);
    if (done.exit_after) {
      self.exit(*done.exit_after);
      return;
    }
    while (!plan_ && !deferred_.empty()) {
      message m = std::move(deferred_.front());
      deferred_.pop_front();
      on_message(self, m);
    }
  }

  // ---- children ----------------------------------------------------------------------------
  child* find(const std::string& id) {
    auto it = std::find_if(children_.begin(), children_.end(), [&](auto& c) { return c.spec.id == id; });
    return it == children_.end() ? nullptr : &*it;
  }
  std::size_t index_of(const std::string& id) const {
    auto it = std::find_if(children_.begin(), children_.end(), [&](auto& c) { return c.spec.id == id; });
    return static_cast<std::size_t>(it - children_.begin());
  }
  void forget(const std::string& id) {
    std::erase_if(children_, [&](auto& c) { return c.spec.id == id; });
  }

  supervisor_flags flags_;
  supervisor_reporter report_;
  pid parent_;
  std::vector<child> children_;
  restart_window restarts_;
  std::optional<plan> plan_;
  std::deque<message> deferred_;
  std::uint64_t stop_seq_ = 0;
};

}  // namespace

pid start_supervisor(runtime& rt, supervisor_flags flags, std::vector<child_spec> children, supervisor_reporter report) {
  return rt.spawn(std::make_unique<supervisor>(flags, std::move(children), pid{}, std::move(report)));
}

pid start_supervisor(context& parent, supervisor_flags flags, std::vector<child_spec> children,
                     supervisor_reporter report) {
  return parent.spawn_link(std::make_unique<supervisor>(flags, std::move(children), parent.self(), std::move(report)));
}

call_result<start_child_reply> start_child(runtime& rt, pid sup, child_spec spec, clock::duration timeout) {
  return rt.call<start_child_reply>(sup, start_child_request{std::move(spec)}, timeout);
}

call_result<bool> terminate_child(runtime& rt, pid sup, std::string id, clock::duration timeout) {
  return rt.call<bool>(sup, terminate_child_request{std::move(id)}, timeout);
}

call_result<std::vector<child_info>> which_children(runtime& rt, pid sup, clock::duration timeout) {
  return rt.call<std::vector<child_info>>(sup, which_children_request{}, timeout);
}

}  // namespace sluice
