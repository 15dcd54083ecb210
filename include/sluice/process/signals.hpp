// sluice/process/signals.hpp: the system messages a handler can receive.
#pragma once

#include <compare>
#include <cstdint>

#include <sluice/process/exit_reason.hpp>
#include <sluice/process/pid.hpp>

namespace sluice {

/// Names one monitor; returned by `context::monitor` and carried by its `down` message.
struct monitor_ref {
  std::uint64_t id = 0;
  friend constexpr auto operator<=>(const monitor_ref&, const monitor_ref&) = default;
};

/// Names one pending timer; returned by `send_after`, taken by `cancel_timer`.
struct timer_ref {
  std::uint64_t id = 0;
  friend constexpr auto operator<=>(const timer_ref&, const timer_ref&) = default;
};

/// An exit signal turned into a message: delivered instead of killing the receiver when it traps
/// exits (`context::trap_exit(true)`). `from` is the linked process that exited (or the sender of
/// `exit(pid, reason)`).
struct exit_signal {
  pid from;
  exit_reason reason;
};

/// Delivered exactly once per monitor when the monitored process exits, or at once with reason
/// `noproc` when it was already dead. Never delivered after `demonitor`.
struct down {
  monitor_ref ref;
  pid who;
  exit_reason reason;
};

}  // namespace sluice
