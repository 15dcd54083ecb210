// sluice-bench/process_scenarios.cpp: spawn_1m, ping_pong and send_1to1 on sluice processes,
// each beside its `limit` baseline.
//
// Every sluice run uses a fresh runtime with default options (one scheduler thread per core). The
// processes report back to the bench thread through a `completion`; the bench thread waits with a
// deadline, so a stuck runtime fails the run with a diagnostic instead of hanging silently.
#include "process_scenarios.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sluice/process/context.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/runtime.hpp>

#include "limit_baselines.hpp"
#include "resident_memory.hpp"

namespace sluice::bench {

namespace {

constexpr std::int64_t spawn_count = 1'000'000;
constexpr std::int64_t round_trips = 2'000'000;
constexpr std::int64_t send_count = 10'000'000;
/// Messages send_1to1's sender sends per handler call before it yields with a `next_chunk`.
constexpr std::int64_t send_chunk = 1000;
/// How long the bench thread waits for one run to finish before declaring the runtime stuck.
constexpr std::chrono::seconds completion_deadline{120};

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

/// How the processes of a run tell the bench thread they are finished. `progress` counts work done
/// (for the diagnostic on a timeout); `error`, if set, is written before `done` is fulfilled.
struct completion {
  std::promise<void> done;
  std::atomic<std::int64_t> progress{0};
  std::string error;
};

[[noreturn]] void fail_stuck(const std::string& what, const completion& c, const sluice::runtime& rt) {
  // relaxed: a diagnostic snapshot; any recent value will do.
  const std::string message =
      what + ": not finished after " + std::to_string(completion_deadline.count()) +
      " s (progress " + std::to_string(c.progress.load(std::memory_order_relaxed)) +
      ", processes alive " + std::to_string(rt.size_hint()) + ")";
  // Printed at once: unwinding destroys the runtime, which may hang if the runtime is stuck.
  std::cerr << "\nsluice-bench: " << message << std::endl;
  throw std::runtime_error(message);
}

/// Blocks until `c` is done; throws on the deadline or on an error a process reported.
void await(completion& c, const std::string& what, const sluice::runtime& rt) {
  if (c.done.get_future().wait_for(completion_deadline) != std::future_status::ready) {
    fail_stuck(what, c, rt);
  }
  if (!c.error.empty()) throw std::runtime_error(what + ": " + c.error);
}

/// Blocks until `rt` has no live process left, polling (acceptable in a benchmark only).
void await_no_processes(const std::string& what, const completion& c, const sluice::runtime& rt) {
  const clock::time_point deadline = clock::now() + completion_deadline;
  while (rt.size_hint() != 0) {
    if (clock::now() > deadline) fail_stuck(what + " (waiting for the exits)", c, rt);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void expect_accepted(sluice::send_result r, const char* what) {
  if (r != sluice::send_result::accepted) throw std::runtime_error(std::string(what) + ": send refused");
}

// ---- spawn_1m --------------------------------------------------------------------------------

/// spawn_1m's process: on its one message, counts itself done and exits.
struct count_and_exit {
  completion* c;
  void operator()(sluice::context& self, sluice::message&) const {
    // relaxed: the count is the only shared data; the promise publishes completion.
    if (c->progress.fetch_add(1, std::memory_order_relaxed) + 1 == spawn_count) c->done.set_value();
    self.exit(sluice::exit_reason::normal());
  }
};

measurements sluice_spawn_1m() {
  completion c;
  std::vector<sluice::pid> pids(spawn_count);  // touched here, so not counted as process memory
  sluice::runtime rt;
  release_free_memory();
  const std::int64_t rss_before = resident_bytes();
  const clock::time_point start = clock::now();
  for (sluice::pid& p : pids) p = rt.spawn(count_and_exit{&c});
  const std::int64_t rss_alive = resident_bytes();
  for (const sluice::pid& p : pids) expect_accepted(rt.send(p, std::int64_t{1}), "spawn_1m");
  await(c, "spawn_1m", rt);
  await_no_processes("spawn_1m", c, rt);
  return {{"seconds", seconds_since(start)},
          {"bytes_per_process", static_cast<double>(rss_alive - rss_before) / spawn_count}};
}

// ---- ping_pong -------------------------------------------------------------------------------

struct echo_to {
  sluice::pid pinger;
};
struct start_pinging {
  sluice::pid echo;
};
struct stop {};

/// ping_pong's B: sends every number back to the pinger it was told about.
struct echo {
  sluice::pid pinger;
  void operator()(sluice::context& self, sluice::message& m) {
    if (const auto* v = m.get_if<std::int64_t>()) {
      self.send(pinger, *v);
    } else if (const auto* e = m.get_if<echo_to>()) {
      pinger = e->pinger;
    } else if (m.is<stop>()) {
      self.exit(sluice::exit_reason::normal());
    }
  }
};

/// ping_pong's A: on `start_pinging`, sends 0; on n back, sends n + 1, until `round_trips`.
struct pinger {
  completion* c;
  sluice::pid echo;
  void operator()(sluice::context& self, sluice::message& m) {
    if (const auto* s = m.get_if<start_pinging>()) {
      echo = s->echo;
      self.send(echo, std::int64_t{0});
    } else if (const auto* v = m.get_if<std::int64_t>()) {
      on_echo(self, *v);
    }
  }
  void on_echo(sluice::context& self, std::int64_t v) {
    // relaxed: written by this process only (its runs are ordered by the runtime); the bench thread
    // reads it only for a diagnostic.
    const std::int64_t expected = c->progress.load(std::memory_order_relaxed);
    if (v != expected) {
      c->error = "echo returned " + std::to_string(v) + ", expected " + std::to_string(expected);
    }
    c->progress.store(v + 1, std::memory_order_relaxed);
    if (v + 1 < round_trips && c->error.empty()) {
      self.send(echo, v + 1);
      return;
    }
    self.send(echo, stop{});
    self.exit(sluice::exit_reason::normal());
    c->done.set_value();
  }
};

measurements sluice_ping_pong() {
  completion c;
  sluice::runtime rt;
  const sluice::pid b = rt.spawn(echo{});
  const sluice::pid a = rt.spawn(pinger{&c, {}});
  expect_accepted(rt.send(b, echo_to{a}), "ping_pong");
  const clock::time_point start = clock::now();
  expect_accepted(rt.send(a, start_pinging{b}), "ping_pong");
  await(c, "ping_pong", rt);
  return {{"round_trips_per_s", round_trips / seconds_since(start)}};
}

measurements limit_ping_pong() {
  return {{"round_trips_per_s", round_trips / limit_ping_pong_seconds(round_trips)}};
}

// ---- send_1to1 -------------------------------------------------------------------------------

struct start_sending {
  sluice::pid to;
};
struct next_chunk {};

/// send_1to1's sender: sends 0, 1, ... in chunks of `send_chunk`, then sends itself `next_chunk`
/// so other processes get their turn, until `send_count` are sent.
struct chunked_sender {
  sluice::pid to;
  std::int64_t sent = 0;
  void operator()(sluice::context& self, sluice::message& m) {
    if (const auto* s = m.get_if<start_sending>()) {
      to = s->to;
    } else if (!m.is<next_chunk>()) {
      return;
    }
    const std::int64_t end = std::min(send_count, sent + send_chunk);
    for (; sent < end; ++sent) self.send(to, sent);
    if (sent < send_count) {
      self.send(self.self(), next_chunk{});
    } else {
      self.exit(sluice::exit_reason::normal());
    }
  }
};

/// send_1to1's receiver: checks the numbers arrive in order and reports when all have.
struct counting_receiver {
  completion* c;
  std::int64_t received = 0;
  void operator()(sluice::context& self, sluice::message& m) {
    const auto* v = m.get_if<std::int64_t>();
    if (v == nullptr) return;
    if (*v != received && c->error.empty()) {
      c->error = "received " + std::to_string(*v) + ", expected " + std::to_string(received);
    }
    // relaxed: a progress counter for diagnostics, written by this process only.
    c->progress.store(++received, std::memory_order_relaxed);
    if (received < send_count) return;
    self.exit(sluice::exit_reason::normal());
    c->done.set_value();
  }
};

measurements sluice_send_1to1() {
  completion c;
  sluice::runtime rt;
  const sluice::pid receiver = rt.spawn(counting_receiver{&c});
  const sluice::pid sender = rt.spawn(chunked_sender{});
  const clock::time_point start = clock::now();
  expect_accepted(rt.send(sender, start_sending{receiver}), "send_1to1");
  await(c, "send_1to1", rt);
  return {{"messages_per_s", send_count / seconds_since(start)}};
}

measurements limit_send_1to1() {
  return {{"messages_per_s", send_count / limit_send_1to1_seconds(send_count)}};
}

}  // namespace

std::vector<scenario> process_scenarios() {
  return {
      {"spawn_1m",
       "spawn 1,000,000 idle processes, send each one message, wait until all have exited; "
       "RSS growth per live process",
       {{"seconds", better::lower}, {"bytes_per_process", better::lower}},
       {{"sluice", sluice_spawn_1m}}},
      {"ping_pong",
       "2,000,000 round trips of an int64_t between two processes",
       {{"round_trips_per_s", better::higher}},
       {{"sluice", sluice_ping_pong}, {"limit", limit_ping_pong}}},
      {"send_1to1",
       "10,000,000 fire-and-forget int64_t messages from one process to another (sent in chunks "
       "of 1000)",
       {{"messages_per_s", better::higher}},
       {{"sluice", sluice_send_1to1}, {"limit", limit_send_1to1}}},
  };
}

}  // namespace sluice::bench
