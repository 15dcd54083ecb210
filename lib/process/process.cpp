#include "process/process.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>

#include <sluice/process/context.hpp>

#include "process/runtime_impl.hpp"

namespace sluice::detail {

namespace {
using kind = message_node::kind;

/// A cheap, monotonic-enough tick count for measuring runs (a hint for the scheduler, so a
/// frequency known only roughly, and a core switch now and then, do no harm).
std::uint64_t cpu_ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

template <class T>
T& payload(message_node* n) noexcept {
  return static_cast<typed_node<T>*>(n)->value;
}

template <class V, class P>
bool erase_first(V& v, P&& pred) {
  auto it = std::find_if(v.begin(), v.end(), std::forward<P>(pred));
  if (it == v.end()) return false;
  v.erase(it);
  return true;
}
}  // namespace

process::process(runtime_impl& rt, std::unique_ptr<behaviour> b, bool dedicated)
    : rt_(rt),
      dedicated_(dedicated ? std::make_unique<std::counting_semaphore<>>(0) : nullptr),
      behaviour_(std::move(b)),
      init_pending_(behaviour_->has_init()),
      mailbox_(/*starts_idle=*/!init_pending_) {}

process::~process() {
  // Normally drained by finalize; a process destroyed unstarted (runtime teardown) frees its queue.
  for (message_node* n = cache_; n != nullptr;) {
    message_node* next = n->next;
    n->destroy();
    n = next;
  }
}

process::extras& process::ext() {
  if (!extras_) extras_ = std::make_unique<extras>();
  return *extras_;
}

bool process::add_link(pid other) {
  auto& links = ext().links;
  if (std::find(links.begin(), links.end(), other) != links.end()) return false;
  links.push_back(other);
  return true;
}

bool process::remove_link(pid other) {
  return extras_ && erase_first(extras_->links, [&](pid p) { return p == other; });
}

void process::request_exit(exit_reason reason) {
  if (!exit_request_) exit_request_ = std::make_unique<exit_reason>(std::move(reason));
}

template <class F>
void process::guarded(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    request_exit(exit_reason::error(e.what()));
  } catch (...) {
    request_exit(exit_reason::error("unknown exception"));
  }
}

run_result process::run(unsigned budget) { return run_messages(budget); }

send_result process::send(pid to, message_node* n) noexcept {
  if (!send_cache_ || send_cache_pid_ != to) {
    send_cache_.reset();
    auto ref = rt_.acquire(to);
    if (!ref) {
      n->destroy();
      return send_result::closed;
    }
    send_cache_.emplace(std::move(ref));
    send_cache_pid_ = to;
    send_guess_ = nullptr;  // a receiver keeping up has an empty mailbox
  }
  if (rt_.push(*send_cache_->get(), n, send_guess_) == internal::push_result::closed) {
    n->destroy();
    return send_result::closed;
  }
  send_guess_ = n;  // the head, unless the receiver takes it first
  return send_result::accepted;
}

void process::note_cost(std::uint64_t run_start) noexcept {
  const std::uint64_t took = (cpu_ticks() - run_start) >> 10;
  const std::uint32_t now = took > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(took);
  // A long run counts at once; short ones wear the estimate down by halves. relaxed: a hint,
  // written only by the thread running the process.
  const std::uint32_t before = cost_.load(std::memory_order_relaxed);
  cost_.store(std::max(now, before / 2), std::memory_order_relaxed);
}

run_result process::run_messages(unsigned budget) {
  // Only every timed_runs-th run is timed (the first included): reading the clock twice per run
  // was 3% of a four-stage pipeline's time, and a process that turns heavy is still seen within a
  // few runs.
  const bool timed = (runs_++ % timed_runs) == 0;
  const std::uint64_t run_start = timed ? cpu_ticks() : 0;
  if (init_pending_) {
    init_pending_ = false;
    context self(*this);
    guarded([&] { behaviour_->init(self); });
  }
  for (;;) {
    if (kill_requested_.load(std::memory_order_relaxed)) {
      finalize(exit_reason::killed());
      return run_result::exited;
    }
    if (exit_request_) {
      const exit_reason reason = std::move(*exit_request_);
      finalize(reason);
      return run_result::exited;
    }
    if (budget == 0) {
      send_cache_.reset();  // before anyone may run this process again
      if (timed) note_cost(run_start);
      return run_result::yielded;
    }
    message_node* n = next_message();
    if (n == nullptr) {
      // Dropped before try_block: once the mailbox is idle, a sender may schedule this process
      // on another thread, which must find nothing of this run's left to touch.
      send_cache_.reset();
      if (timed) note_cost(run_start);
      if (mailbox_.try_block()) return run_result::idle;
      continue;
    }
    --budget;
    dispatch(n);
  }
}

message_node* process::next_message() noexcept {
  if (cache_ == nullptr) cache_ = mailbox_.take_all();
  message_node* n = cache_;
  if (n != nullptr) {
    cache_ = n->next;
    n->next = nullptr;
  }
  return n;
}

void process::dispatch(message_node* n) {
  switch (n->tag) {
    case kind::user:
    case kind::request:
      deliver(n);
      return;
    case kind::exit_signal:
      on_exit_signal(n);
      return;
    case kind::link:
      add_link(payload<link_payload>(n).from);
      break;
    case kind::unlink:
      remove_link(payload<link_payload>(n).from);
      break;
    case kind::monitor: {
      auto& m = payload<monitor_payload>(n);
      ext().watchers.emplace_back(m.ref, m.watcher);
      break;
    }
    case kind::demonitor: {
      const monitor_ref ref = payload<monitor_ref>(n);
      if (extras_) erase_first(extras_->watchers, [&](auto& w) { return w.first == ref; });
      break;
    }
    case kind::down:
      on_down(n);
      return;
    case kind::call_reply:
      on_call_reply(n);
      return;
  }
  n->destroy();
}

void process::deliver(message_node* n) {
  message msg = message::adopt(n);
  context self(*this);
  guarded([&] { behaviour_->handle(self, msg); });
}

void process::on_exit_signal(message_node* n) {
  message msg = message::adopt(n);
  auto& sig = msg.get<exit_signal_payload>();
  if (sig.reason.what() == exit_reason::kind::kill && !sig.from_link) {
    request_exit(exit_reason::killed());
    return;
  }
  // An exit signal through a link that was removed meanwhile is ignored, as in Erlang.
  if (sig.from_link && !remove_link(sig.from)) return;
  if (trap_exit_) {
    deliver(make_node<exit_signal>(kind::user, sig.from, std::move(sig.reason)));
  } else if (!sig.reason.is_normal()) {
    request_exit(std::move(sig.reason));
  }
}

void process::on_down(message_node* n) {
  const monitor_ref ref = payload<down>(n).ref;
  if (extras_ && erase_first(extras_->monitoring, [&](auto& m) { return m.first == ref; })) {
    n->tag = kind::user;
    deliver(n);
  } else {
    n->destroy();  // demonitored meanwhile
  }
}

void process::on_call_reply(message_node* n) {
  const call_ref ref = payload<call_reply>(n).ref;
  timer_ref timer;
  if (extras_ && erase_first(extras_->pending_calls, [&](auto& c) {
        if (c.first != ref) return false;
        timer = c.second;
        return true;
      })) {
    rt_.cancel_timer(timer);
    n->tag = kind::user;
    deliver(n);
  } else {
    n->destroy();  // a late reply after a timeout
  }
}

void process::finalize(const exit_reason& reason) {
  send_cache_.reset();
  exited.store(true, std::memory_order_seq_cst);  // registry handshake, see register_name
  if (behaviour_ && reason.what() != exit_reason::kind::killed) {
    context self(*this);
    try {
      behaviour_->terminate(self, reason);
    } catch (...) {  // terminate cannot change the exit reason; the process is leaving anyway
    }
  }
  behaviour_.reset();
  // The name goes first, so that whoever learns of the exit finds it free.
  if (registered.load(std::memory_order_seq_cst)) rt_.unregister_all(self_);
  message_node* queued = cache_;
  cache_ = nullptr;
  drain(queued, reason);
  drain(mailbox_.close(), reason);

  if (extras_) {
    for (pid l : extras_->links) rt_.send_exit_signal(l, self_, reason, /*from_link=*/true);
    for (auto& [ref, watcher] : extras_->watchers) {
      rt_.send_node(watcher, make_node<down>(kind::down, ref, self_, reason));
    }
    for (auto& [ref, target] : extras_->monitoring) {
      rt_.send_node(target, make_node<monitor_ref>(kind::demonitor, ref));
    }
    for (auto& [ref, timer] : extras_->pending_calls) rt_.cancel_timer(timer);
    extras_.reset();
  }
  rt_.retire(this);  // last: may destroy this
}

void process::drain(message_node* list, const exit_reason& reason) {
  while (list != nullptr) {
    message_node* n = list;
    list = n->next;
    n->next = nullptr;
    // Link and monitor requests that reached the mailbox were made while this process was alive:
    // answer them as if handled, with the real exit reason. Everything else is dropped; a dropped
    // request's reply_handle answers its caller with no_reply.
    if (n->tag == kind::link) {
      rt_.send_exit_signal(payload<link_payload>(n).from, self_, reason, /*from_link=*/true);
    } else if (n->tag == kind::monitor) {
      auto& m = payload<monitor_payload>(n);
      rt_.send_node(m.watcher, make_node<down>(kind::down, m.ref, self_, reason));
    }
    n->destroy();
  }
}

}  // namespace sluice::detail
