// sluice/flow/detail/key_table.hpp: keyed_windows' map from a key to that key's state.
//
// Made for one lookup per event over many keys (window_count in sluice-bench: 10,000 keys, a
// lookup per event). The states live in one dense vector (`entry`: the key and its value, side by
// side); an open-addressing table of 8-byte slots (a 32-bit hash tag and the entry's index) finds
// them, so a lookup reads one slot (10,000 keys take 128 KiB of slots) and then the entry itself,
// with no node to allocate and no pointer chain. (Prefetching a batch's slots and entries ahead
// was tried: slower at 10,000 keys, the plain loop ~1.2x, and ~10% faster at 100,000: not kept.)
//
// Linear probing, at most 3/4 full, with backward-shift deletion (no tombstones: a table that
// keys come and go through stays as fast as a fresh one). Erasing an entry moves the last entry
// into its place: entry pointers and indices are valid until the next insert or erase, and the
// iteration order is neither insertion nor key order.
//
// Memory: an erased entry's value is destroyed at once (its heap memory goes); the vector and the
// slots keep their size until `shrink_if_sparse` finds them four times larger than the most keys
// held since its previous call (keyed_windows calls it after closing windows), so a stream whose
// keys all close at once and come back (tumbling windows) does not shrink and regrow each time.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

namespace sluice::flow::detail {

template <class Key, class Value, class Hash = std::hash<Key>>
class key_table {
 public:
  /// A key and its value; aligned to a cache line when it is exactly one (or half of one), so
  /// that a lookup touches one line.
  struct alignas(sizeof(std::pair<Key, Value>) == 64 || sizeof(std::pair<Key, Value>) == 32 ? sizeof(std::pair<Key, Value>) : alignof(std::pair<Key, Value>)) entry {
    Key key;
    Value value;
  };

  /// The table's hash of `k`: Hash's times 2^64 / golden ratio (Fibonacci hashing; std::hash of
  /// an integer is the integer itself). The top bits pick the home slot: keys that are consecutive
  /// integers land evenly spread, so probes stay short and their branches predictable.
  std::uint64_t hash(const Key& k) const {
    const auto x = static_cast<std::uint64_t>(hash_(k));
    return (x ^ (x >> 32)) * 0x9e3779b97f4a7c15ULL;
  }

  /// The entry of `k` (`h`: hash(k)), or null.
  entry* find(const Key& k, std::uint64_t h) noexcept {
    if (slots_.empty()) return nullptr;
    const std::uint32_t t = tag(h);
    for (std::size_t i = home(t);; i = (i + 1) & mask_) {
      const slot s = slots_[i];
      if (s.index == no_entry) return nullptr;
      if (s.tag == t && entries_[s.index].key == k) return &entries_[s.index];
    }
  }

  /// The entry of `k` (`h`: hash(k)), made with a value-initialised Value if there was none.
  /// Always inlined (the insert is not): it is keyed_windows' per-event lookup, which GCC 12 left
  /// out of line in a loop over a batch (window_count: a third of the stage's time in the call).
#if defined(__GNUC__) || defined(__clang__)
  [[gnu::always_inline]]
#endif
  entry& find_or_insert(const Key& k, std::uint64_t h) {
    if (!slots_.empty()) {
      const std::uint32_t t = tag(h);
      for (std::size_t i = home(t);; i = (i + 1) & mask_) {
        const slot s = slots_[i];
        if (s.index == no_entry) break;
        if (s.tag == t && entries_[s.index].key == k) return entries_[s.index];
      }
    }
    return insert(k, h);
  }

 private:
  struct slot {
    std::uint32_t tag = 0;                // the hash's high half: the home slot is its top bits
    std::uint32_t index = no_entry;          // into entries_
  };
  static constexpr std::uint32_t no_entry = std::numeric_limits<std::uint32_t>::max();

  /// Adds `k` (not in the table).
#if defined(__GNUC__) || defined(__clang__)
  [[gnu::noinline]]
#endif
  entry& insert(const Key& k, std::uint64_t h) {
    if ((entries_.size() + 1) * 4 > slots_.size() * 3) rehash(std::max<std::size_t>(16, slots_.size() * 2));
    const std::uint32_t t = tag(h);
    std::size_t i = home(t);
    while (slots_[i].index != no_entry) i = (i + 1) & mask_;
    entries_.push_back(entry{k, Value{}});
    slots_[i] = slot{t, static_cast<std::uint32_t>(entries_.size() - 1)};
    peak_ = std::max(peak_, entries_.size());
    return entries_.back();
  }

 public:

  /// Erases `e` (an entry of this table): the last entry moves into its place.
  void erase(entry* e) {
    const auto index = static_cast<std::uint32_t>(e - entries_.data());
    free_slot(slot_of(*e, index));
    const auto last = static_cast<std::uint32_t>(entries_.size() - 1);
    if (index != last) {
      slots_[slot_of(entries_[last], last)].index = index;
      entries_[index] = std::move(entries_[last]);
    }
    entries_.pop_back();
  }

  /// Gives memory back when the table is four times larger than the most keys it held since the
  /// previous call; `rounds`: calls between two such checks.
  void shrink_if_sparse(unsigned rounds = 64) {
    if (++round_ < rounds) return;
    round_ = 0;
    const std::size_t want = std::max(peak_, entries_.size());
    peak_ = entries_.size();
    if (want * 4 >= entries_.capacity() || entries_.capacity() <= 64) return;
    std::vector<entry> kept;
    kept.reserve(want + want / 2);
    for (entry& e : entries_) kept.push_back(std::move(e));
    entries_ = std::move(kept);
    std::size_t n = 16;
    while (want * 2 > n) n *= 2;
    rehash(n);
  }

  /// Erases every entry and gives the memory back.
  void clear() noexcept {
    std::vector<entry>().swap(entries_);
    std::vector<slot>().swap(slots_);
    mask_ = 0;
    shift_ = 32;
    peak_ = 0;
    round_ = 0;
  }

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  typename std::vector<entry>::iterator begin() noexcept { return entries_.begin(); }
  typename std::vector<entry>::iterator end() noexcept { return entries_.end(); }

 private:
  static std::uint32_t tag(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }
  /// The home slot of a tag: its top bits.
  std::size_t home(std::uint32_t t) const noexcept { return static_cast<std::size_t>(std::uint64_t{t} >> shift_); }
  /// The slot pointing at entries_[index] (`e`).
  std::size_t slot_of(const entry& e, std::uint32_t index) const noexcept {
    std::size_t i = home(tag(hash(e.key)));
    while (slots_[i].index != index) i = (i + 1) & mask_;
    return i;
  }

  /// Empties slot `i`, moving back the slots after it that may sit closer to their home slot.
  void free_slot(std::size_t i) noexcept {
    for (std::size_t j = (i + 1) & mask_; slots_[j].index != no_entry; j = (j + 1) & mask_) {
      const std::size_t at = home(slots_[j].tag);
      // slots_[j] may move to i when i lies cyclically within [at, j).
      if (((j - at) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = slot{};
  }

  void rehash(std::size_t n) {
    slots_.assign(n, slot{});
    mask_ = n - 1;
    shift_ = 32 - static_cast<unsigned>(std::countr_zero(n));
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      std::size_t i = home(tag(hash(entries_[e].key)));
      while (slots_[i].index != no_entry) i = (i + 1) & mask_;
      slots_[i] = slot{tag(hash(entries_[e].key)), static_cast<std::uint32_t>(e)};
    }
  }

  [[no_unique_address]] Hash hash_;
  std::vector<slot> slots_;  // a power of two of them, or none
  std::size_t mask_ = 0;
  unsigned shift_ = 32;  // 32 - log2(slots)
  std::vector<entry> entries_;
  std::size_t peak_ = 0;  // the most entries since the last shrink check
  unsigned round_ = 0;
};

}  // namespace sluice::flow::detail
