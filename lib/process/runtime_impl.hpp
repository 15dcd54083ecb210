// lib/process/runtime_impl.hpp: the machinery behind sluice::runtime.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/exit_reason.hpp>
#include <sluice/process/runtime.hpp>

#include "process/process.hpp"
#include "process/process_table.hpp"
#include "process/registry.hpp"
#include "process/timer_service.hpp"

namespace sluice::detail {

/// What a new process starts with beside its behaviour: a link and/or a monitor, set up before it
/// can run, so that it cannot exit unobserved.
struct spawn_links {
  pid link_to{};
  pid watcher{};
  monitor_ref monitor{};
};

class runtime_impl {
 public:
  runtime_impl(runtime& owner, runtime_options options);
  ~runtime_impl();

  [[nodiscard]] runtime& owner() const noexcept { return owner_; }
  [[nodiscard]] unsigned threads() const noexcept { return threads_; }
  [[nodiscard]] const sluice::logger& log() const noexcept { return log_; }
  [[nodiscard]] std::size_t size_hint() const noexcept { return live_.load(std::memory_order_relaxed); }

  pid spawn(std::unique_ptr<behaviour> b, spawn_options o, const spawn_links& links = {});

  /// Sends a node; on `closed` the node is destroyed.
  send_result send_node(pid to, message_node* n) noexcept;
  /// Sends a node; on `closed` the caller keeps the node.
  internal::push_result try_send_node(pid to, message_node* n) noexcept;

  /// A counted reference to a live process, or an empty one.
  [[nodiscard]] internal::process_table::ref acquire(pid p) noexcept { return table_.acquire(p); }
  /// Pushes onto `target`'s mailbox (held by a reference), scheduling it if this woke it; `guess`
  /// is the head the caller expects (see mailbox::push).
  internal::push_result push(process& target, message_node* n, message_node* guess = nullptr) noexcept;

  /// Sends an exit signal from `from` (invalid pid: no process) to `target`.
  void send_exit_signal(pid target, pid from, exit_reason reason, bool from_link);

  /// Schedules a process whose mailbox this thread just woke.
  void schedule(process* p);
  /// Reschedules a process that spent its budget, behind the others (fair).
  void yield(process* p);
  /// Called by a process at the very end of its exit: it leaves the table (may destroy it).
  void retire(process* p) noexcept;

  bool register_name(const std::string& name, pid p);
  bool unregister_name(const std::string& name) { return registry_.remove(name); }
  std::optional<pid> whereis(const std::string& name) const { return registry_.find(name); }
  void unregister_all(pid p) { registry_.remove_all(p); }

  timer_ref send_after(pid to, message_node* n, std::chrono::steady_clock::duration delay);
  [[nodiscard]] internal::timer_service& timers() noexcept { return timers_; }
  [[nodiscard]] const internal::timer_service& timers() const noexcept { return timers_; }
  [[nodiscard]] bool virtual_time() const noexcept { return virtual_time_; }
  [[nodiscard]] std::chrono::system_clock::time_point virtual_start() const noexcept { return virtual_start_; }
  /// Virtual time: blocks until no process is scheduled or running (see runtime::settle).
  void settle();
  bool cancel_timer(timer_ref ref) { return ref.id != 0 && timers_.cancel(ref.id); }

  /// False from the moment `p` starts exiting, before it sends its DOWNs: whoever learned of the
  /// exit (a DOWN, a stage replaced after it) and asks afterwards sees it gone.
  [[nodiscard]] bool is_alive(pid p) noexcept {
    const internal::process_table::ref r = table_.acquire(p);
    // acquire: pairs with finalize's seq_cst store, made before any DOWN is sent.
    return r && !r->exited.load(std::memory_order_acquire);
  }
  /// Unique ids for monitor and call refs.
  [[nodiscard]] std::uint64_t next_ref() noexcept {
    // relaxed: uniqueness needs only atomicity.
    return next_ref_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  void run_task(process* p);
  /// Runs `p` in a task of its own: spawned on this worker's deque / enqueued on the arena's queue.
  void run_shared(process* p);
  void enqueue_shared(process* p);
  void start_dedicated(process* p);
  void shutdown();
  /// Virtual time: a process was scheduled / went idle or exited (busy_ counts those between).
  void note_scheduled() noexcept {
    // relaxed: settle() reads with acquire after the count reaches 0 through a release below.
    if (virtual_time_) busy_.fetch_add(1, std::memory_order_relaxed);
  }
  void note_unscheduled() noexcept {
    // acq_rel: what the process did happens-before settle()'s acquire load of 0.
    if (virtual_time_ && busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) busy_.notify_all();
  }

  runtime& owner_;
  const bool virtual_time_;
  const std::chrono::system_clock::time_point virtual_start_;
  /// Virtual time only: processes scheduled and not yet idle (or exited). A process that wakes
  /// another is counted while it runs, so the count reaches 0 only when nothing is left to do.
  std::atomic<std::size_t> busy_{0};
  unsigned threads_;
  unsigned budget_;
  sluice::logger log_;
  internal::process_table table_;
  internal::registry registry_;
  internal::timer_service timers_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::uint64_t> next_ref_{1};
  std::atomic<bool> stopping_{false};
  /// Tasks spawned or enqueued and not started yet: whether a worker's chain should make way.
  std::atomic<std::size_t> queued_{0};

  std::mutex threads_mutex_;  // guards dedicated_threads_
  std::vector<std::thread> dedicated_threads_;

  // oneTBB keeps one worker pool per program, sized for a master thread that joins in (cores - 1
  // workers). Nothing joins a runtime's arena, so it asks for `threads` workers while it lives;
  // oneTBB applies the most restrictive of all such requests, so a program's own limit still wins.
  tbb::global_control workers_;
  tbb::task_arena arena_;
  tbb::task_group group_;
};

}  // namespace sluice::detail
