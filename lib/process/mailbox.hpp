// lib/process/mailbox.hpp: the lock-free MPSC mailbox of a process.
//
// Guarantees: any number of threads may push; one reader (the process's current run) takes. Each
// push is one CAS on the head; the reader takes everything pushed so far with one exchange and
// restores arrival order itself, so per-sender order (indeed global push order) is kept. The
// mailbox also carries the process's scheduling state, so that "the mailbox went from idle to
// non-empty" and "schedule the process" are one atomic decision: exactly one pusher learns that
// it woke the reader, and only that pusher schedules it.
//
// Head states:
//   idle_tag    empty, and the reader is not scheduled (it blocked): the next push wakes it
//   nullptr     empty, the reader is scheduled or running: pushes just add
//   closed_tag  the process exited: pushes are refused
//   otherwise   a LIFO stack of nodes pushed since the reader last took
//
// Capacity: unbounded (a node per message, allocated by the sender). Back-pressure is the stage
// layer's job (demand), not the mailbox's.
//
// When not to use: for a bounded, single-producer event channel (a ring beats a linked stack there).
// Design after CAF's intrusive lifo_inbox.
#pragma once

#include <atomic>
#include <cstdint>

#include <sluice/process/message.hpp>

namespace sluice::internal {

using detail::message_node;

enum class push_result : std::uint8_t { accepted, accepted_woke_reader, closed };

class mailbox {
 public:
  /// A mailbox whose reader starts idle (`starts_idle`) or already scheduled.
  explicit mailbox(bool starts_idle) noexcept : head_(starts_idle ? idle_tag() : nullptr) {}
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;

  /// Adds `n`; thread-safe. On `closed` the node was not taken: the caller still owns it.
  [[nodiscard]] push_result push(message_node* n) noexcept {
    return push(n, head_.load(std::memory_order_relaxed));
  }

  /// Adds `n`, first trying the CAS with `guess` as the head (a sender in a burst passes the node
  /// it pushed last): a right guess saves loading the contended head line before the CAS, a wrong
  /// one costs nothing more than a retry. The guess is never dereferenced, so a node that was taken
  /// and freed meanwhile is a harmless guess.
  [[nodiscard]] push_result push(message_node* n, message_node* guess) noexcept {
    message_node* old = guess;
    for (;;) {
      if (old == closed_tag()) return push_result::closed;
      n->next = (old == idle_tag()) ? nullptr : old;
      // release: the node's contents happen-before the reader's acquire in take_all/try_block.
      // acquire: when we replace idle_tag we schedule the reader, and its next run must see what
      // its previous run wrote before try_block (released there). Relaxed on failure: we retry.
      if (head_.compare_exchange_weak(old, n, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return old == idle_tag() ? push_result::accepted_woke_reader : push_result::accepted;
      }
    }
  }

  /// Reader only: every node pushed so far, oldest first (nullptr if none). The reader stays scheduled.
  [[nodiscard]] message_node* take_all() noexcept {
    // Empty, or idle (nothing queued, and taking would mark the reader scheduled without anyone
    // having scheduled it).
    const message_node* head = head_.load(std::memory_order_relaxed);
    if (head == nullptr || head == idle_tag()) return nullptr;
    // acquire: pairs with push's release so the nodes' payloads are visible.
    message_node* stack = head_.exchange(nullptr, std::memory_order_acquire);
    return reverse(stack);
  }

  /// Reader only: if empty, mark the reader idle and return true (the next push wakes it); if
  /// messages arrived meanwhile, return false and stay scheduled.
  [[nodiscard]] bool try_block() noexcept {
    message_node* expected = nullptr;
    // release: publishes this run's writes to the pusher that wakes the reader (acquire in push),
    // whose scheduling orders the next run after it. acquire on failure: we will read nodes.
    return head_.compare_exchange_strong(expected, idle_tag(), std::memory_order_acq_rel,
                                         std::memory_order_acquire);
  }

  /// Claims an idle mailbox for a thread that is not the reader (runtime shutdown): closes it only
  /// if the reader is idle and nothing is queued. True if claimed.
  [[nodiscard]] bool try_close_idle() noexcept {
    message_node* expected = idle_tag();
    return head_.compare_exchange_strong(expected, closed_tag(), std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
  }

  /// Reader only: refuses all later pushes; returns what was queued, oldest first.
  [[nodiscard]] message_node* close() noexcept {
    message_node* stack = head_.exchange(closed_tag(), std::memory_order_acq_rel);
    if (stack == idle_tag() || stack == closed_tag()) return nullptr;
    return reverse(stack);
  }

  /// True while the reader is blocked (racy unless the caller is the reader).
  [[nodiscard]] bool idle() const noexcept { return head_.load(std::memory_order_acquire) == idle_tag(); }

  [[nodiscard]] bool closed() const noexcept {
    return head_.load(std::memory_order_acquire) == closed_tag();
  }

 private:
  static message_node* idle_tag() noexcept { return reinterpret_cast<message_node*>(std::uintptr_t{1}); }
  static message_node* closed_tag() noexcept { return reinterpret_cast<message_node*>(std::uintptr_t{2}); }

  static message_node* reverse(message_node* stack) noexcept {
    message_node* out = nullptr;
    while (stack != nullptr) {
      message_node* next = stack->next;
      stack->next = out;
      out = stack;
      stack = next;
    }
    return out;
  }

  std::atomic<message_node*> head_;
};

}  // namespace sluice::internal
