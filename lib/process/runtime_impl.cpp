#include "process/runtime_impl.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sluice::detail {

namespace {
using kind = message_node::kind;

/// The runtime whose arena the current thread is working for, if any: lets a process that wakes
/// another spawn it into this worker's own deque (runs next here, stealable by idle workers).
[[gnu::tls_model("initial-exec")]] thread_local runtime_impl* tl_worker_of = nullptr;

/// The processes this worker runs after the current one, in wake order: the light processes the
/// running ones wake (Go's runnext, widened to a small FIFO). A producer and its consumers then hand
/// batches over on one core, in cache, instead of moving to another core with every batch
/// (measured on 2 cores: a fan-out to 4 consumers ran 2.5x faster with all five on one core than
/// spread by stealing). Heavy processes (long runs, see process::heavy) and wakes beyond the
/// capacity go to the worker's stealable deque instead, so work that is worth a core spreads out.
struct local_queue {
  static constexpr unsigned capacity = 16;
  process* slots[capacity];
  unsigned head = 0;
  unsigned size = 0;

  bool push(process* p) noexcept {
    if (size == capacity) return false;
    slots[(head + size++) % capacity] = p;
    return true;
  }
  process* pop() noexcept {
    if (size == 0) return nullptr;
    process* p = slots[head];
    head = (head + 1) % capacity;
    --size;
    return p;
  }
};
[[gnu::tls_model("initial-exec")]] thread_local local_queue* tl_local = nullptr;
/// The process this worker is running (while it runs), whose wakes schedule() is placing.
[[gnu::tls_model("initial-exec")]] thread_local process* tl_current = nullptr;

/// How many processes one task may run from its local queue before the rest go back to the
/// shared queues (so tasks waiting there get their turn).
constexpr int local_chain = 64;

unsigned pick_threads(unsigned requested) {
  if (requested != 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}
}  // namespace

runtime_impl::runtime_impl(runtime& owner, runtime_options options)
    : owner_(owner),
      virtual_time_(options.virtual_time),
      virtual_start_(options.virtual_start),
      threads_(pick_threads(options.threads)),
      budget_(std::max(1u, options.budget)),
      log_(options.log_level, std::move(options.log_sink)),
      table_(options.max_processes),
      timers_([this](pid to, message_node* n) { send_node(to, n); }, options.virtual_time),
      workers_(tbb::global_control::max_allowed_parallelism, threads_ + 1),
      // No slot reserved for the creating thread: every thread of the arena is a worker, and an
      // external thread only ever enqueues.
      arena_(static_cast<int>(threads_), 0) {}

runtime_impl::~runtime_impl() { shutdown(); }

pid runtime_impl::spawn(std::unique_ptr<behaviour> b, spawn_options o, const spawn_links& links) {
  if (!b) throw std::invalid_argument("sluice: spawn needs a behaviour");
  pid id;
  if (!table_.reserve(id)) throw std::runtime_error("sluice: process table full");
  const bool needs_run = b->has_init();
  auto* p = new process(*this, std::move(b), o.dedicated_thread);
  p->set_self(id);
  if (links.link_to.valid()) p->add_link(links.link_to);
  if (links.watcher.valid()) p->ext().watchers.emplace_back(links.monitor, links.watcher);
  // relaxed: a counter; shutdown waits for it with acquire loads after the table is quiet.
  live_.fetch_add(1, std::memory_order_relaxed);
  if (stopping_.load(std::memory_order_acquire)) p->request_kill();
  if (o.dedicated_thread) start_dedicated(p);
  table_.publish(id, p);
  if (needs_run) schedule(p);
  else if (stopping_.load(std::memory_order_acquire)) send_exit_signal(id, {}, exit_reason::kill(), false);
  return id;
}

internal::push_result runtime_impl::try_send_node(pid to, message_node* n) noexcept {
  auto ref = table_.acquire(to);
  if (!ref) return internal::push_result::closed;
  return push(*ref.get(), n);
}

internal::push_result runtime_impl::push(process& target, message_node* n, message_node* guess) noexcept {
  const auto r = target.mailbox().push(n, guess);
  if (r == internal::push_result::accepted_woke_reader) schedule(&target);
  return r;
}

send_result runtime_impl::send_node(pid to, message_node* n) noexcept {
  if (try_send_node(to, n) == internal::push_result::closed) {
    n->destroy();
    return send_result::closed;
  }
  return send_result::accepted;
}

void runtime_impl::send_exit_signal(pid target, pid from, exit_reason reason, bool from_link) {
  if (!from_link && reason.what() == exit_reason::kind::kill) {
    if (auto ref = table_.acquire(target)) ref->request_kill();
  }
  send_node(target, make_node<exit_signal_payload>(kind::exit_signal, from, std::move(reason), from_link));
}

void runtime_impl::schedule(process* p) {
  note_scheduled();
  if (p->dedicated()) {
    p->wake_dedicated();
  } else if (tl_worker_of == this) {
    // Local only if both are light: a heavy wakee is worth another core, and behind a heavy waker
    // (say a sender in a long burst) the wakee would wait for a whole long run.
    const bool light = !p->heavy() && (tl_current == nullptr || !tl_current->heavy());
    if (light && tl_local != nullptr && tl_local->push(p)) return;
    run_shared(p);
  } else {
    enqueue_shared(p);
  }
}

void runtime_impl::yield(process* p) { enqueue_shared(p); }

void runtime_impl::run_shared(process* p) {
  // relaxed: a hint for run_task's spill decision; a stale value delays or hastens one spill.
  queued_.fetch_add(1, std::memory_order_relaxed);
  group_.run([this, p] { run_task(p); });
}

void runtime_impl::enqueue_shared(process* p) {
  queued_.fetch_add(1, std::memory_order_relaxed);  // relaxed: as in run_shared
  arena_.enqueue(group_.defer([this, p] { run_task(p); }));
}

void runtime_impl::run_task(process* p) {
  runtime_impl* const outer = tl_worker_of;
  local_queue* const outer_local = tl_local;
  process* const outer_current = tl_current;
  queued_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as in run_shared
  local_queue local;
  tl_worker_of = this;
  tl_local = &local;
  for (int chain = 0; p != nullptr; ++chain) {
    tl_current = p;
    const run_result r = p->run(budget_);
    tl_current = nullptr;  // p may be gone already
    if (r == run_result::yielded) yield(p);
    else note_unscheduled();
    p = local.pop();
    // Let the shared queues have their turn, if anything waits there: a spill with nothing
    // waiting only hands this chain to an idle worker, one process at a time, so that its
    // processes pass their batches between cores for a while.
    if (p != nullptr && chain >= local_chain && queued_.load(std::memory_order_relaxed) != 0) {
      // Behind what waits, in the arena's FIFO: spawned on this worker's deque instead, the
      // chain ran again before any enqueued task (a process woken by a plain thread starved
      // while a producer and its consumer fed each other on the only worker).
      tl_local = nullptr;  // so that nothing is queued locally while spilling
      for (; p != nullptr; p = local.pop()) enqueue_shared(p);
    }
  }
  tl_worker_of = outer;
  tl_local = outer_local;
  tl_current = outer_current;
}

void runtime_impl::start_dedicated(process* p) {
  std::lock_guard lock(threads_mutex_);
  dedicated_threads_.emplace_back([this, p] {
    // The process is published after this thread starts, but runs only once woken.
    for (;;) {
      p->wait_dedicated();
      run_result r;
      while ((r = p->run(budget_)) == run_result::yielded) {
      }
      note_unscheduled();
      if (r == run_result::exited) return;
    }
  });
}

void runtime_impl::retire(process* p) noexcept {
  table_.retire(p->self());
  // release: everything the process did happens-before shutdown's acquire of the count.
  if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) live_.notify_all();
}

bool runtime_impl::register_name(const std::string& name, pid p) {
  auto ref = table_.acquire(p);
  if (!ref) return false;
  if (!registry_.add(name, p)) return false;
  // seq_cst pairs with process::finalize (store exited, then load registered): at least one of the
  // two sees the other, so a name never outlives its process.
  ref->registered.store(true, std::memory_order_seq_cst);
  if (ref->exited.load(std::memory_order_seq_cst)) {
    registry_.remove_all(p);
    return false;
  }
  return true;
}

void runtime_impl::settle() {
  std::size_t n = busy_.load(std::memory_order_acquire);
  while (n != 0) {
    busy_.wait(n, std::memory_order_acquire);
    n = busy_.load(std::memory_order_acquire);
  }
}

timer_ref runtime_impl::send_after(pid to, message_node* n, std::chrono::steady_clock::duration delay) {
  return timer_ref{timers_.start(to, n, delay)};
}

void runtime_impl::shutdown() {
  stopping_.store(true, std::memory_order_release);
  timers_.stop();
  // Kill what is alive; repeat, since a dying process may spawn (its spawns are killed at birth).
  while (live_.load(std::memory_order_acquire) != 0) {
    table_.for_each_alive([&](pid p) { send_exit_signal(p, {}, exit_reason::kill(), false); });
    std::size_t n = live_.load(std::memory_order_acquire);
    while (n != 0) {
      live_.wait(n, std::memory_order_acquire);
      n = live_.load(std::memory_order_acquire);
    }
  }
  arena_.execute([this] { group_.wait(); });
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(threads_mutex_);
    threads.swap(dedicated_threads_);
  }
  for (auto& t : threads) t.join();
}

}  // namespace sluice::detail
