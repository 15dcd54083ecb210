// sluice-bench/pinned_pair.cpp: CPU pinning and the start gate of two benchmark threads.
#include "pinned_pair.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>

namespace sluice::bench {

namespace {

using clock = std::chrono::steady_clock;

/// Holds both threads until both are pinned, then lets them go together.
struct start_gate {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> open{false};
};

void pinned_body(unsigned nth, start_gate& gate, const std::function<void()>& body,
                 clock::time_point& done) {
  if (!pin_this_thread(nth)) std::cerr << "sluice-bench: warning: could not pin a thread\n";
  // release/acquire: nothing is published through these flags but "ready" and "go"; the ordering
  // only keeps the timing honest (the body starts after the gate opened).
  gate.ready.fetch_add(1, std::memory_order_release);
  spin_until([&] { return gate.open.load(std::memory_order_acquire); });
  body();
  done = clock::now();
}

}  // namespace

bool pin_this_thread(unsigned nth) noexcept {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  const int count = CPU_COUNT(&allowed);
  if (count == 0) return false;
  int skip = static_cast<int>(nth % static_cast<unsigned>(count));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || skip-- > 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
  }
  return false;
}

double run_pinned_pair(const std::function<void()>& first, const std::function<void()>& second) {
  start_gate gate;
  clock::time_point first_done;
  clock::time_point second_done;
  std::thread a(pinned_body, 0u, std::ref(gate), std::cref(first), std::ref(first_done));
  std::thread b(pinned_body, 1u, std::ref(gate), std::cref(second), std::ref(second_done));
  spin_until([&] { return gate.ready.load(std::memory_order_acquire) == 2; });
  const clock::time_point start = clock::now();
  gate.open.store(true, std::memory_order_release);
  a.join();
  b.join();
  return std::chrono::duration<double>(std::max(first_done, second_done) - start).count();
}

}  // namespace sluice::bench
