// sluice-bench/limit_baselines.cpp: bare SPSC hand-offs between two pinned threads.
#include "limit_baselines.hpp"

#include <memory>
#include <stdexcept>

#include "pinned_pair.hpp"
#include "spsc_ring.hpp"

namespace sluice::bench {

namespace {

/// One direction of ping_pong: at most one token is ever in it.
using token_ring = spsc_ring<std::int64_t, 64>;
/// The send_1to1 channel.
using message_ring = spsc_ring<std::int64_t, 65536>;

template <class Ring>
void push_waiting(Ring& ring, std::int64_t v) {
  spin_until([&] { return ring.try_push(v); });
}

template <class Ring>
std::int64_t pop_waiting(Ring& ring) {
  std::int64_t v = 0;
  spin_until([&] { return ring.try_pop(v); });
  return v;
}

}  // namespace

double limit_ping_pong_seconds(std::int64_t round_trips) {
  // Heap-allocated: each ring holds its slots inline.
  const auto there = std::make_unique<token_ring>();
  const auto back = std::make_unique<token_ring>();
  std::int64_t last = -1;
  const double seconds = run_pinned_pair(
      [&] {
        for (std::int64_t i = 0; i < round_trips; ++i) {
          push_waiting(*there, i);
          last = pop_waiting(*back);
        }
      },
      [&] {
        for (std::int64_t i = 0; i < round_trips; ++i) push_waiting(*back, pop_waiting(*there));
      });
  if (last != round_trips - 1) throw std::runtime_error("limit ping_pong: the token came back wrong");
  return seconds;
}

double limit_send_1to1_seconds(std::int64_t messages) {
  const auto ring = std::make_unique<message_ring>();
  std::int64_t sum = 0;
  const double seconds = run_pinned_pair(
      [&] {
        for (std::int64_t i = 0; i < messages; ++i) push_waiting(*ring, i);
      },
      [&] {
        for (std::int64_t i = 0; i < messages; ++i) sum += pop_waiting(*ring);
      });
  if (sum != messages * (messages - 1) / 2) {
    throw std::runtime_error("limit send_1to1: the receiver's checksum is wrong");
  }
  return seconds;
}

}  // namespace sluice::bench
