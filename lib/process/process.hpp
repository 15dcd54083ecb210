// lib/process/process.hpp: one lightweight process: a pid, a mailbox and a behaviour.
//
// A process is a passive object: it runs only when the scheduler gives it a thread (a task on the
// runtime's arena, or its dedicated thread), never on two threads at once, and handles at most a
// budget of messages per run. Everything below "reader side" is touched only by the thread that
// runs it; other threads reach a process only through its mailbox (and the kill flag).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <semaphore>
#include <utility>
#include <vector>

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/signals.hpp>

#include "process/mailbox.hpp"
#include "process/process_table.hpp"

namespace sluice::detail {

class runtime_impl;

/// Payloads of the system message kinds (message_node::kind).
struct exit_signal_payload {
  pid from;
  exit_reason reason;
  bool from_link;  // sent because `from` was linked and exited (vs an explicit exit/2)
};
struct link_payload {
  pid from;
};
struct monitor_payload {
  monitor_ref ref;
  pid watcher;
};

/// How a run ended.
enum class run_result : std::uint8_t { idle, yielded, exited };

class process {
 public:
  process(runtime_impl& rt, std::unique_ptr<behaviour> b, bool dedicated);
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  [[nodiscard]] pid self() const noexcept { return self_; }
  [[nodiscard]] runtime_impl& rt() const noexcept { return rt_; }
  [[nodiscard]] internal::mailbox& mailbox() noexcept { return mailbox_; }
  [[nodiscard]] bool dedicated() const noexcept { return dedicated_ != nullptr; }

  /// Set once by the runtime before the process is published.
  void set_self(pid p) noexcept { self_ = p; }

  /// Runs the process until its mailbox is empty (idle), its budget is spent (yielded: the caller
  /// must reschedule it) or it exits (exited: `this` may already be destroyed).
  run_result run(unsigned budget);

  /// Sends from inside this process. The last target's table reference is kept until this run
  /// ends, so a burst of sends to one process costs one reference count, not one per message; a
  /// dead target is still detected (its mailbox is closed).
  send_result send(pid to, message_node* n) noexcept;

  /// Any thread: asks the process to die with `killed` at its next message boundary.
  void request_kill() noexcept { kill_requested_.store(true, std::memory_order_relaxed); }

  /// Any thread (a hint, racy by design): whether the process's recent runs took long enough that
  /// running it on another core beats keeping it, and the data it is handed, on the waker's core.
  [[nodiscard]] bool heavy() const noexcept {
    // relaxed: a scheduling hint; a stale value only places one run less well.
    return cost_.load(std::memory_order_relaxed) >= heavy_cost;
  }

  /// Dedicated-thread processes: wake the thread / block until woken.
  void wake_dedicated() noexcept { dedicated_->release(); }
  void wait_dedicated() noexcept { dedicated_->acquire(); }

  // --- registry handshake (see runtime_impl::register_name) ---
  std::atomic<bool> registered{false};
  std::atomic<bool> exited{false};

  // --- reader side: only the running thread ---
  struct extras {
    std::vector<pid> links;
    std::vector<std::pair<monitor_ref, pid>> watchers;     // who monitors this process
    std::vector<std::pair<monitor_ref, pid>> monitoring;   // monitors this process holds
    std::vector<std::pair<call_ref, timer_ref>> pending_calls;
  };
  extras& ext();
  /// True if it was not linked to `other` yet.
  bool add_link(pid other);
  bool remove_link(pid other);
  void request_exit(exit_reason reason);
  [[nodiscard]] bool trap_exit() const noexcept { return trap_exit_; }
  void set_trap_exit(bool on) noexcept { trap_exit_ = on; }

 private:
  run_result run_messages(unsigned budget);
  message_node* next_message() noexcept;
  void dispatch(message_node* n);
  void deliver(message_node* n);
  void on_exit_signal(message_node* n);
  void on_down(message_node* n);
  void on_call_reply(message_node* n);
  template <class F>
  void guarded(F&& f);
  void finalize(const exit_reason& reason);
  void drain(message_node* list, const exit_reason& reason);

  /// Records how long the current run has taken so far (before the process becomes runnable
  /// elsewhere: after try_block or a yield it may already be running on another thread).
  void note_cost(std::uint64_t run_start) noexcept;

  /// A run's cost in cpu_ticks() >> 10 (about 0.3-0.5 us); heavy from about 30 us.
  static constexpr std::uint32_t heavy_cost = 80;
  /// One run in this many is timed for note_cost.
  static constexpr std::uint8_t timed_runs = 8;

  runtime_impl& rt_;
  pid self_;
  std::atomic<bool> kill_requested_{false};
  std::atomic<std::uint32_t> cost_{0};  // decaying maximum of recent run costs (see note_cost)
  std::unique_ptr<std::counting_semaphore<>> dedicated_;

  message_node* cache_ = nullptr;  // taken from the mailbox, not yet handled, oldest first
  std::unique_ptr<behaviour> behaviour_;
  std::unique_ptr<extras> extras_;
  std::unique_ptr<exit_reason> exit_request_;  // set by context::exit or a failing callback
  std::optional<internal::process_table::ref> send_cache_;  // see send()
  pid send_cache_pid_;
  message_node* send_guess_ = nullptr;  // the node last pushed to send_cache_pid_: a guess, never read
  std::uint8_t runs_ = 0;  // counts runs, wrapping, to pick the timed ones
  bool init_pending_;
  bool trap_exit_ = false;

  // Last, at least a cache line away from the fields the reader loads per message (the kill flag
  // first): every sender writes the head (a CAS per message), and while it shared a line with the
  // kill flag, that load was 85% of run_messages' samples on send_1to1 (36M vs 30M messages/s
  // once apart). Not alignas(64): that would add ~200 bytes to every process.
  internal::mailbox mailbox_;
};

}  // namespace sluice::detail
