// tests/support/probe.hpp: a process whose messages a test thread can wait for, with a deadline.
//
// Tests synchronise on what processes actually send (never on sleeps): a probe is an ordinary
// process; everything it receives is moved into a queue that `receive` pops, blocking up to a
// deadline. A probe can also trap exits, so that it can be linked to and observe exit signals.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include <sluice/process.hpp>

namespace sluice::testing {

using namespace std::chrono_literals;

/// Generous deadline for things that should happen "at once" (sanitizer builds are slow).
inline constexpr auto patience = 10s;

class probe {
  struct inbox {
    std::mutex mutex;  // guards messages
    std::condition_variable arrived;
    std::deque<message> messages;
  };

  struct watch_request {
    pid target;
  };

  class forwarder final : public behaviour {
   public:
    forwarder(std::shared_ptr<inbox> box, bool trap) : box_(std::move(box)), trap_(trap) {}
    void init(context& self) override { self.trap_exit(trap_); }
    void handle(context& self, message& m) override {
      if (auto* w = m.get_if<request<watch_request>>()) return w->from.reply(self.monitor(w->body.target));
      {
        std::lock_guard lock(box_->mutex);
        box_->messages.push_back(std::move(m));
      }
      box_->arrived.notify_all();
    }

   private:
    std::shared_ptr<inbox> box_;
    bool trap_;
  };

 public:
  explicit probe(runtime& rt, bool trap_exits = true) : rt_(rt), box_(std::make_shared<inbox>()) {
    pid_ = rt.spawn(std::make_unique<forwarder>(box_, trap_exits));
  }

  [[nodiscard]] pid self() const { return pid_; }

  /// Makes the probe monitor `target`; returns once the monitor is in place. Its `down` then
  /// arrives among the probe's messages (see `exit_of`). Watch *before* making the target exit.
  monitor_ref watch(pid target) { return rt_.call<monitor_ref>(pid_, watch_request{target}, patience).value(); }

  /// The exit reason in the next message, which must be a `down` for `target`.
  std::optional<exit_reason> exit_of(pid target, std::chrono::steady_clock::duration within = patience) {
    auto d = receive<down>(within);
    if (!d || d->who != target) return std::nullopt;
    return d->reason;
  }

  /// The next message, whatever its type; empty after the deadline.
  message next(std::chrono::steady_clock::duration within = patience) {
    std::unique_lock lock(box_->mutex);
    if (!box_->arrived.wait_for(lock, within, [&] { return !box_->messages.empty(); })) return {};
    message m = std::move(box_->messages.front());
    box_->messages.pop_front();
    return m;
  }

  /// The next message if it is a T (moved out); nullopt if it is another type or none came in time.
  template <class T>
  std::optional<T> receive(std::chrono::steady_clock::duration within = patience) {
    message m = next(within);
    if (T* v = m.get_if<T>()) return std::move(*v);
    return std::nullopt;
  }

  /// Messages received and not yet taken (racy snapshot).
  std::size_t pending() {
    std::lock_guard lock(box_->mutex);
    return box_->messages.size();
  }

 private:
  runtime& rt_;
  std::shared_ptr<inbox> box_;
  pid pid_;
};

}  // namespace sluice::testing
