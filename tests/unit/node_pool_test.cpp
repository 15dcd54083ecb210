// Recycled message-node memory: what the pool hands out is private until released, survives a
// hand-off between threads intact, and is reused rather than growing.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "process/node_pool.hpp"

namespace pool = sluice::internal::node_pool;

namespace {

struct block {
  void* p;
  std::size_t size;
};

/// Fills `b` with a pattern derived from `seed`.
void stamp(const block& b, std::uint8_t seed) { std::memset(b.p, seed, b.size); }

bool stamped(const block& b, std::uint8_t seed) {
  const auto* bytes = static_cast<const std::uint8_t*>(b.p);
  for (std::size_t i = 0; i < b.size; ++i) {
    if (bytes[i] != seed) return false;
  }
  return true;
}

std::vector<block> allocate_all(const std::vector<std::size_t>& sizes) {
  std::vector<block> blocks;
  for (std::size_t s : sizes) blocks.push_back({pool::allocate(s), s});
  return blocks;
}

void release_all(const std::vector<block>& blocks) {
  for (const block& b : blocks) pool::release(b.p, b.size);
}

}  // namespace

TEST_SUITE("node_pool") {
  TEST_CASE("blocks of every size are private while allocated, also across release and reuse") {
    std::vector<std::size_t> sizes;
    for (std::size_t s = 1; s <= 300; s += 7) sizes.push_back(s);
    for (int round = 0; round < 3; ++round) {  // later rounds get recycled blocks
      std::vector<block> blocks = allocate_all(sizes);
      for (std::size_t i = 0; i < blocks.size(); ++i) stamp(blocks[i], static_cast<std::uint8_t>(i + round));
      for (std::size_t i = 0; i < blocks.size(); ++i) CHECK(stamped(blocks[i], static_cast<std::uint8_t>(i + round)));
      release_all(blocks);
    }
  }

  TEST_CASE("blocks allocated on one thread and released on another arrive intact, many times over") {
    constexpr int rounds = 200;
    constexpr std::size_t per_round = 300;  // several magazines per round
    for (int round = 0; round < rounds; ++round) {
      std::vector<block> blocks = allocate_all(std::vector<std::size_t>(per_round, 24 + round % 100));
      for (std::size_t i = 0; i < blocks.size(); ++i) stamp(blocks[i], static_cast<std::uint8_t>(round + i));
      bool intact = true;
      // A fresh thread each round: it frees what this thread allocated, then exits with a cache.
      std::thread receiver([&] {
        for (std::size_t i = 0; i < blocks.size(); ++i) intact = intact && stamped(blocks[i], static_cast<std::uint8_t>(round + i));
        release_all(blocks);
      });
      receiver.join();
      REQUIRE(intact);
    }
  }

#if SLUICE_NODE_POOL
  TEST_CASE("released blocks are reused by the next allocations of their size class") {
    std::vector<block> first = allocate_all(std::vector<std::size_t>(200, 32));
    std::set<void*> released;
    for (const block& b : first) released.insert(b.p);
    release_all(first);
    std::vector<block> second = allocate_all(std::vector<std::size_t>(64, 20));  // same class: 32 bytes
    for (const block& b : second) CHECK(released.count(b.p) == 1);
    release_all(second);
  }

  TEST_CASE("a thread's freed blocks reach another thread through the depot, not the backing allocator") {
    // The sender allocates, a receiver thread frees and exits (returning its full magazines), and
    // the sender's next allocations come from them.
    std::vector<block> sent = allocate_all(std::vector<std::size_t>(64 * 4, 64));
    std::set<void*> addresses;
    for (const block& b : sent) addresses.insert(b.p);
    std::thread([&] { release_all(sent); }).join();
    // Drain this thread's own cache of the class first, so the next blocks come from the depot.
    std::vector<block> mine;
    std::size_t reused = 0;
    for (int i = 0; i < 64 * 8 && reused == 0; ++i) {
      mine.push_back({pool::allocate(64), 64});
      reused += addresses.count(mine.back().p);
    }
    CHECK(reused == 1);
    release_all(mine);
  }
#endif
}
