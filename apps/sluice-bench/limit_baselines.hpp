// sluice-bench/limit_baselines.hpp: the `limit` baselines of the process scenarios.
//
// Each is the floor a message-passing runtime cannot beat on this machine: two threads pinned to
// distinct CPUs hand `std::int64_t` tokens through preallocated SPSC rings (spsc_ring.hpp) and
// wait spin-then-yield. No allocation, no scheduling, no type erasure.
#pragma once

#include <cstdint>

namespace sluice::bench {

/// Seconds for `round_trips` round trips of one token between two pinned threads, through one ring
/// each way. Throws if the token comes back wrong.
double limit_ping_pong_seconds(std::int64_t round_trips);

/// Seconds for one pinned thread to hand `messages` tokens to another through one ring of 64K
/// slots (the sender waits while it is full). Throws if the receiver's checksum is wrong.
double limit_send_1to1_seconds(std::int64_t messages);

}  // namespace sluice::bench
