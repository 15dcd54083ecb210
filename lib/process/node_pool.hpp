// lib/process/node_pool.hpp: recycled memory for small message nodes.
//
// Guarantees: `allocate(size)` returns memory for a node of `size` bytes, `release(p, size)` takes
// it back, from any thread. Nodes of up to 128 bytes (an int, a pid, a batch's vector, a demand
// request) come from per-thread caches; larger ones go straight to the backing allocator (oneTBB's
// scalable allocator, or operator new).
//
// Why: a message is nearly always freed on another thread than the one that allocated it (the
// receiver's, not the sender's). General allocators pay an atomic operation per such free (oneTBB's
// returns the block to its owner's public free list) and the allocating thread pays again to
// reclaim it: on send_1to1 that was ~30% of the time. Here a free is a push on the freeing thread's
// own list; whole magazines of 64 nodes move between threads through a depot, one lock per
// magazine, so the cross-thread cost is paid once per 64 messages (Bonwick's magazines).
//
// Bounds: a thread caches at most 2 magazines per size class; the depot keeps at most
// `depot_capacity` magazines per class and frees the rest, so a burst does not pin its peak
// memory forever (at most ~1 MiB per class stays cached).
//
// When not to use: under AddressSanitizer (recycling would hide a use after free): the build turns
// the pool off there (SLUICE_NODE_POOL=0) and every node goes to the backing allocator.
#pragma once

#include <cstddef>

namespace sluice::internal::node_pool {

/// Memory for a node of `size` bytes; thread-safe. Throws std::bad_alloc.
void* allocate(std::size_t size);
/// Takes back what `allocate(size)` returned, with the same `size`; thread-safe.
void release(void* p, std::size_t size) noexcept;

}  // namespace sluice::internal::node_pool
