// lib/process/process_table.hpp: pid -> process, safe against processes that die meanwhile.
//
// Guarantees: `acquire(pid)` either returns a counted reference to the live process the pid names,
// or nothing; the process's memory stays valid while any reference is held. A slot is reused only
// after its process retired and the last reference was dropped, with a new generation, so a stale
// pid never reaches the new occupant. Lookups are lock-free (one CAS in, one fetch_sub out);
// insert takes a mutex for the free list.
//
// Each slot packs its state in one 64-bit word: generation (32 bits) | alive (1) | references (31).
// A live process holds one reference of its own, dropped together with the alive bit by `retire`.
// Whoever drops the last reference of a retired process destroys it and recycles the slot.
//
// Capacity: up to `max` processes alive at once; slots come in chunks of 4096 (16 bytes each) and
// are never returned to the system before the table dies.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <sluice/process/pid.hpp>

namespace sluice::detail {
class process;
}

namespace sluice::internal {

class process_table {
  struct slot {
    std::atomic<std::uint64_t> word{0};
    detail::process* proc = nullptr;
  };

 public:
  /// A counted reference to a live (or retiring) process; releases it on destruction.
  class ref {
   public:
    ref() = default;
    ref(ref&& o) noexcept : table_(o.table_), slot_(std::exchange(o.slot_, nullptr)) {}
    ref& operator=(ref&&) = delete;
    ~ref() {
      if (slot_ != nullptr) table_->release(slot_);
    }
    explicit operator bool() const noexcept { return slot_ != nullptr; }
    detail::process* get() const noexcept { return slot_->proc; }
    detail::process* operator->() const noexcept { return slot_->proc; }

   private:
    friend class process_table;
    ref(process_table* t, slot* s) noexcept : table_(t), slot_(s) {}
    process_table* table_ = nullptr;
    slot* slot_ = nullptr;
  };

  explicit process_table(std::uint32_t max);
  ~process_table();
  process_table(const process_table&) = delete;
  process_table& operator=(const process_table&) = delete;

  /// A free slot's pid (not yet visible to lookups); false if the table is full.
  [[nodiscard]] bool reserve(pid& out);
  /// Makes `p` visible under `id` (from `reserve`), holding its own reference.
  void publish(pid id, detail::process* p) noexcept;
  /// A reference to the process named by `id`, or an empty ref if it is not alive.
  [[nodiscard]] ref acquire(pid id) noexcept;
  /// The process named by `id` leaves: no new reference can be taken. It is destroyed (`delete`)
  /// as soon as the last reference is dropped, which may be right here.
  void retire(pid id) noexcept;
  /// Calls `f(pid)` for every process alive now (racy snapshot, for shutdown).
  template <class F>
  void for_each_alive(F&& f);

 private:
  static constexpr std::uint32_t chunk_bits = 12;
  static constexpr std::uint32_t chunk_size = 1u << chunk_bits;
  static constexpr std::uint64_t alive_bit = std::uint64_t{1} << 31;
  static constexpr std::uint64_t refs_mask = alive_bit - 1;

  slot* find(std::uint32_t index) const noexcept;
  void release(slot* s) noexcept;
  void reclaim(slot* s) noexcept;
  static std::uint32_t generation_of(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w >> 32); }

  std::uint32_t max_chunks_;
  std::unique_ptr<std::atomic<slot*>[]> chunks_;
  std::mutex free_mutex_;                  // guards free_ and next_index_
  std::vector<std::uint32_t> free_;
  std::uint32_t next_index_ = 1;           // index 0 is never used
};

template <class F>
void process_table::for_each_alive(F&& f) {
  std::uint32_t end = 0;
  {
    std::lock_guard lock(free_mutex_);
    end = next_index_;
  }
  for (std::uint32_t i = 1; i < end; ++i) {
    slot* s = find(i);
    if (s == nullptr) continue;
    const std::uint64_t w = s->word.load(std::memory_order_acquire);
    if ((w & alive_bit) != 0) f(pid{i, generation_of(w)});
  }
}

}  // namespace sluice::internal
