// sluice/process/behaviour.hpp: what a process does with its messages.
#pragma once

#include <type_traits>
#include <utility>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>

namespace sluice {

class context;

/// The code of a process. The runtime calls these from inside the process only, one at a time, so
/// the behaviour's own state needs no locks. Any of them may throw: the process then exits with
/// `exit_reason::error(what)` and the runtime carries on.
class behaviour {
 public:
  virtual ~behaviour() = default;
  /// Runs first, before any message is handled.
  virtual void init(context&) {}
  /// Handles one message; called once per message, in mailbox order.
  virtual void handle(context& self, message& msg) = 0;
  /// Runs when the process exits for any reason but `kill`, with that reason.
  virtual void terminate(context&, const exit_reason&) {}
  /// False when `init` does nothing: the process then starts idle and costs no task until its
  /// first message arrives (what makes a million spawns cheap).
  [[nodiscard]] virtual bool has_init() const noexcept { return true; }
};

namespace detail {
template <class F>
class function_behaviour final : public behaviour {
 public:
  explicit function_behaviour(F f) : f_(std::move(f)) {}
  void handle(context& self, message& msg) override { f_(self, msg); }
  [[nodiscard]] bool has_init() const noexcept override { return false; }

 private:
  F f_;
};
}  // namespace detail

/// A handler that can serve as a behaviour: callable as `void(context&, message&)`.
template <class F>
concept message_handler = std::is_invocable_v<F&, context&, message&>;

/// Spawn-time choices.
struct spawn_options {
  /// Run this process on a thread of its own, so its handler may block (I/O, sleeping) without
  /// holding up a scheduler thread. Same API otherwise.
  bool dedicated_thread = false;
};

}  // namespace sluice
