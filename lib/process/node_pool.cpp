#include "process/node_pool.hpp"

#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if SLUICE_SCALABLE_ALLOC
#include <oneapi/tbb/scalable_allocator.h>
#endif

namespace sluice::internal::node_pool {

namespace {

void* backing_allocate(std::size_t size) {
#if SLUICE_SCALABLE_ALLOC
  if (void* p = scalable_malloc(size)) return p;
  throw std::bad_alloc();
#else
  return ::operator new(size);
#endif
}

void backing_release(void* p) noexcept {
#if SLUICE_SCALABLE_ALLOC
  scalable_free(p);
#else
  ::operator delete(p);
#endif
}

#if SLUICE_NODE_POOL

constexpr int class_count = 3;  // 32, 64 and 128 bytes
constexpr std::size_t magazine_size = 64;
constexpr std::size_t depot_capacity = 4096;  // magazines per class: 1 MiB of 128-byte nodes

constexpr std::size_t class_size(int c) noexcept { return std::size_t{32} << c; }
constexpr int class_of(std::size_t size) noexcept {
  if (size <= 32) return 0;
  if (size <= 64) return 1;
  if (size <= 128) return 2;
  return -1;
}

/// A free node: its first word links it to the next free node of its magazine.
struct free_node {
  free_node* next;
};

/// Releases every node of a list to the backing allocator.
void release_list(free_node* n) noexcept {
  while (n != nullptr) backing_release(std::exchange(n, n->next));
}

/// Full magazines shared by all threads, one shelf per size class.
class depot {
 public:
  depot() {
    for (shelf& s : shelves_) s.magazines.reserve(depot_capacity);  // no allocation under the lock
  }
  /// Stores a full magazine, or frees it if the shelf is full.
  void put(int c, free_node* magazine) noexcept {
    {
      std::lock_guard lock(shelves_[c].mutex);
      auto& m = shelves_[c].magazines;
      if (m.size() < depot_capacity) return m.push_back(magazine);
    }
    release_list(magazine);
  }
  /// A full magazine, or nullptr.
  free_node* take(int c) noexcept {
    std::lock_guard lock(shelves_[c].mutex);
    auto& m = shelves_[c].magazines;
    if (m.empty()) return nullptr;
    free_node* magazine = m.back();
    m.pop_back();
    return magazine;
  }

 private:
  struct shelf {
    std::mutex mutex;
    std::vector<free_node*> magazines;
  };
  shelf shelves_[class_count];
};

/// Never destroyed: threads flush their caches into it when they exit, which may be after main.
depot& the_depot() {
  static depot* const d = new depot;
  return *d;
}

/// A thread's nodes of one class: the magazine in use (`count` nodes) and at most one full spare.
struct bin {
  free_node* head;
  std::size_t count;
  free_node* spare;
};

struct thread_cache {
  bin bins[class_count];
  bool armed;  // the flusher below exists for this thread
  bool gone;   // the thread is exiting: bypass the cache
};

// Trivially destructible, constant-initialised, initial-exec: a plain %fs-relative access on the
// hot path (no TLS wrapper call, no __tls_get_addr).
thread_local constinit thread_cache tl_cache __attribute__((tls_model("initial-exec"))) = {};

/// Returns a thread's cached nodes when it exits.
struct flusher {
  void arm() noexcept { tl_cache.armed = true; }
  ~flusher() {
    for (int c = 0; c < class_count; ++c) {
      bin& b = tl_cache.bins[c];
      release_list(b.head);  // a partial magazine
      if (b.spare != nullptr) the_depot().put(c, b.spare);
      b = {};
    }
    tl_cache.gone = true;
  }
};
thread_local flusher tl_flusher;

/// The slow path of allocate: refills an empty bin from its spare or the depot.
bool refill(bin& b, int c) noexcept {
  if (!tl_cache.armed) tl_flusher.arm();
  free_node* m = std::exchange(b.spare, nullptr);
  if (m == nullptr) m = the_depot().take(c);
  if (m == nullptr) return false;
  b.head = m;
  b.count = magazine_size;
  return true;
}

/// The slow path of release: the bin holds a full magazine; it becomes the spare.
void spill(bin& b, int c) noexcept {
  if (!tl_cache.armed) tl_flusher.arm();
  if (b.spare != nullptr) the_depot().put(c, b.spare);
  b.spare = b.head;
  b.head = nullptr;
  b.count = 0;
}

#endif  // SLUICE_NODE_POOL

}  // namespace

void* allocate(std::size_t size) {
#if SLUICE_NODE_POOL
  const int c = class_of(size);
  if (c < 0) return backing_allocate(size);
  // Whole class sizes only: the node may be recycled for any size of its class.
  if (tl_cache.gone) return backing_allocate(class_size(c));
  bin& b = tl_cache.bins[c];
  if (b.count == 0 && !refill(b, c)) return backing_allocate(class_size(c));
  free_node* n = b.head;
  b.head = n->next;
  --b.count;
  return n;
#else
  return backing_allocate(size);
#endif
}

void release(void* p, [[maybe_unused]] std::size_t size) noexcept {
#if SLUICE_NODE_POOL
  const int c = class_of(size);
  if (c < 0 || tl_cache.gone) return backing_release(p);
  bin& b = tl_cache.bins[c];
  if (b.count == magazine_size) spill(b, c);
  b.head = ::new (p) free_node{b.head};
  ++b.count;
#else
  backing_release(p);
#endif
}

}  // namespace sluice::internal::node_pool
