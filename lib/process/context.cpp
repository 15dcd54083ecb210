#include <sluice/process/context.hpp>

#include <algorithm>
#include <atomic>

#include "process/process.hpp"
#include "process/runtime_impl.hpp"

namespace sluice {

namespace {
using detail::make_node;
using kind = detail::message_node::kind;

/// Where a process's call reply goes: a call_reply message to the caller. First answer wins.
class process_sink final : public detail::reply_sink {
 public:
  process_sink(detail::runtime_impl& rt, pid caller, call_ref ref) : rt_(rt), caller_(caller), ref_(ref) {}
  void deliver(message reply) noexcept override { settle(call_result<message>(std::move(reply))); }
  void fail(call_error e) noexcept override { settle(call_result<message>(e)); }

 private:
  void settle(call_result<message> r) noexcept {
    // acq_rel: exactly one settle proceeds; nothing else is published through this flag.
    if (done_.exchange(true, std::memory_order_acq_rel)) return;
    rt_.send_node(caller_, make_node<call_reply>(kind::call_reply, ref_, std::move(r)));
  }
  detail::runtime_impl& rt_;
  pid caller_;
  call_ref ref_;
  std::atomic<bool> done_{false};
};
}  // namespace

pid context::self() const noexcept { return p_->self(); }
runtime& context::rt() const noexcept { return p_->rt().owner(); }

send_result context::send_message(pid to, message msg) { return p_->send(to, msg.release()); }

pid context::spawn(std::unique_ptr<behaviour> b, spawn_options o) { return p_->rt().spawn(std::move(b), o); }

pid context::spawn_link(std::unique_ptr<behaviour> b, spawn_options o) {
  const pid child = p_->rt().spawn(std::move(b), o, {.link_to = self()});
  p_->add_link(child);
  return child;
}

std::pair<pid, monitor_ref> context::spawn_monitor(std::unique_ptr<behaviour> b, spawn_options o) {
  const monitor_ref ref{p_->rt().next_ref()};
  const pid child = p_->rt().spawn(std::move(b), o, {.watcher = self(), .monitor = ref});
  p_->ext().monitoring.emplace_back(ref, child);
  return {child, ref};
}

void context::link(pid other) {
  // Already linked (spawn_link): nothing to do. Asking again could only race the link's own exit
  // signal with a second one saying `noproc`, and the first to arrive wins.
  if (other == self() || !p_->add_link(other)) return;
  auto* n = make_node<detail::link_payload>(kind::link, self());
  if (p_->rt().try_send_node(other, n) == internal::push_result::closed) {
    n->destroy();
    p_->rt().send_exit_signal(self(), other, exit_reason::noproc(), /*from_link=*/true);
  }
}

void context::unlink(pid other) {
  if (p_->remove_link(other)) p_->rt().send_node(other, make_node<detail::link_payload>(kind::unlink, self()));
}

monitor_ref context::monitor(pid other) {
  const monitor_ref ref{p_->rt().next_ref()};
  p_->ext().monitoring.emplace_back(ref, other);
  auto* n = make_node<detail::monitor_payload>(kind::monitor, ref, self());
  if (p_->rt().try_send_node(other, n) == internal::push_result::closed) {
    n->destroy();
    p_->rt().send_node(self(), make_node<down>(kind::down, ref, other, exit_reason::noproc()));
  }
  return ref;
}

bool context::demonitor(monitor_ref ref) {
  auto& mons = p_->ext().monitoring;
  auto it = std::find_if(mons.begin(), mons.end(), [&](auto& m) { return m.first == ref; });
  if (it == mons.end()) return false;
  const pid target = it->second;
  mons.erase(it);
  p_->rt().send_node(target, make_node<monitor_ref>(kind::demonitor, ref));
  return true;
}

void context::trap_exit(bool on) noexcept { p_->set_trap_exit(on); }
bool context::trapping_exits() const noexcept { return p_->trap_exit(); }

void context::exit(exit_reason reason) { p_->request_exit(std::move(reason)); }

void context::exit(pid target, exit_reason reason) {
  p_->rt().send_exit_signal(target, self(), std::move(reason), /*from_link=*/false);
}

bool context::register_name(std::string name) { return p_->rt().register_name(name, self()); }

timer_ref context::send_after_message(pid to, message msg, duration delay) {
  return p_->rt().send_after(to, msg.release(), delay);
}

bool context::cancel_timer(timer_ref ref) { return p_->rt().cancel_timer(ref); }

std::pair<call_ref, std::shared_ptr<detail::reply_sink>> context::prepare_call() {
  const call_ref ref{p_->rt().next_ref()};
  return {ref, std::make_shared<process_sink>(p_->rt(), self(), ref)};
}

void context::send_call(pid to, message req, call_ref ref, const std::shared_ptr<detail::reply_sink>& sink,
                        duration timeout) {
  auto* timeout_node = make_node<call_reply>(kind::call_reply, ref, call_result<message>(call_error::timeout));
  const timer_ref timer = p_->rt().send_after(self(), timeout_node, timeout);
  p_->ext().pending_calls.emplace_back(ref, timer);
  detail::message_node* n = req.release();
  if (p_->rt().try_send_node(to, n) == internal::push_result::closed) {
    sink->fail(call_error::noproc);  // first answer wins: the dropped request's no_reply is ignored
    n->destroy();
  }
}

}  // namespace sluice
