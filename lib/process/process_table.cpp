#include "process/process_table.hpp"

#include "process/process.hpp"

namespace sluice::internal {

process_table::process_table(std::uint32_t max)
    : max_chunks_((max + chunk_size - 1) / chunk_size),
      chunks_(std::make_unique<std::atomic<slot*>[]>(max_chunks_)) {}

process_table::~process_table() {
  for (std::uint32_t c = 0; c < max_chunks_; ++c) delete[] chunks_[c].load(std::memory_order_relaxed);
}

bool process_table::reserve(pid& out) {
  std::lock_guard lock(free_mutex_);
  std::uint32_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    const std::uint32_t chunk = next_index_ >> chunk_bits;
    if (chunk >= max_chunks_) return false;
    if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
      // release: lookups that see the chunk pointer see its zeroed slots.
      chunks_[chunk].store(new slot[chunk_size], std::memory_order_release);
    }
    index = next_index_++;
  }
  slot* s = find(index);
  std::uint32_t gen = generation_of(s->word.load(std::memory_order_relaxed));
  if (gen == 0) gen = 1;  // a fresh slot; recycled ones were bumped by reclaim
  out = pid{index, gen};
  return true;
}

void process_table::publish(pid id, detail::process* p) noexcept {
  slot* s = find(id.index);
  s->proc = p;
  // release: the process object (and proc) are visible to whoever acquires the alive word.
  s->word.store((std::uint64_t{id.generation} << 32) | alive_bit | 1, std::memory_order_release);
}

process_table::ref process_table::acquire(pid id) noexcept {
  slot* s = find(id.index);
  if (s == nullptr || !id.valid()) return {};
  std::uint64_t w = s->word.load(std::memory_order_acquire);
  for (;;) {
    if (generation_of(w) != id.generation || (w & alive_bit) == 0) return {};
    // acquire: pairs with publish's release, so proc and the process are visible.
    if (s->word.compare_exchange_weak(w, w + 1, std::memory_order_acquire, std::memory_order_acquire)) {
      return ref(this, s);
    }
  }
}

void process_table::release(slot* s) noexcept {
  // acq_rel: our use of the process happens-before its destruction by whoever drops the last ref.
  const std::uint64_t prev = s->word.fetch_sub(1, std::memory_order_acq_rel);
  if ((prev & (alive_bit | refs_mask)) == 1) reclaim(s);
}

void process_table::retire(pid id) noexcept {
  slot* s = find(id.index);
  // acq_rel, as in release: drops the alive bit and the process's own reference at once.
  const std::uint64_t prev = s->word.fetch_sub(alive_bit + 1, std::memory_order_acq_rel);
  if ((prev & refs_mask) == 1) reclaim(s);
}

void process_table::reclaim(slot* s) noexcept {
  detail::process* p = std::exchange(s->proc, nullptr);
  const std::uint32_t index = p->self().index;
  delete p;
  const std::uint64_t w = s->word.load(std::memory_order_relaxed);
  std::uint32_t next_gen = generation_of(w) + 1;
  if (next_gen == 0) next_gen = 1;
  // relaxed: no lookup can succeed on a slot that is not alive; publish releases the next occupant.
  s->word.store(std::uint64_t{next_gen} << 32, std::memory_order_relaxed);
  std::lock_guard lock(free_mutex_);
  free_.push_back(index);
}

process_table::slot* process_table::find(std::uint32_t index) const noexcept {
  const std::uint32_t chunk = index >> chunk_bits;
  if (chunk >= max_chunks_) return nullptr;
  slot* base = chunks_[chunk].load(std::memory_order_acquire);
  return base == nullptr ? nullptr : base + (index & (chunk_size - 1));
}

}  // namespace sluice::internal

