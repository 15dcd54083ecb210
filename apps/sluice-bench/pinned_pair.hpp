// sluice-bench/pinned_pair.hpp: two pinned threads and spin-then-yield waits, for the `limit`
// baselines.
//
// A `limit` baseline is the fastest honest hand-off between two threads: each thread pinned to a
// CPU of its own, waiting by spinning briefly (with the CPU's pause hint) and then yielding, so it
// still makes progress when the two threads share a core. Never used by sluice itself.
#pragma once

#include <functional>
#include <thread>

namespace sluice::bench {

/// Tells the CPU we are in a spin loop (x86 `pause`, ARM `yield`).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Waits by spinning `spin_limit` times, then by yielding the thread on every further call.
/// One per waiting thread; `reset()` after each successful wait.
class spin_wait {
 public:
  static constexpr unsigned spin_limit = 1024;

  void pause() noexcept {
    if (spins_ < spin_limit) {
      ++spins_;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { spins_ = 0; }

 private:
  unsigned spins_ = 0;
};

/// Calls `try_op()` until it returns true, waiting with a fresh spin_wait in between.
template <class Op>
void spin_until(Op&& try_op) {
  spin_wait w;
  while (!try_op()) w.pause();
}

/// Pins the calling thread to the `nth` CPU this thread may use (modulo their count). False if the
/// kernel refused; the thread then runs unpinned.
bool pin_this_thread(unsigned nth) noexcept;

/// Runs `first` on a thread pinned to the first usable CPU and `second` on one pinned to the
/// second, releases both at once when both are pinned and ready, and returns the seconds from the
/// release until the later of the two returned. Neither may throw.
double run_pinned_pair(const std::function<void()>& first, const std::function<void()>& second);

}  // namespace sluice::bench
