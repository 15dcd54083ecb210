#include <sluice/process/message.hpp>

#include <new>

#if SLUICE_SCALABLE_ALLOC
#include <oneapi/tbb/scalable_allocator.h>
#endif

namespace sluice::detail {

#if SLUICE_SCALABLE_ALLOC
namespace {

/// Each thread keeps the small nodes it freed, by size class, and hands them out again before
/// asking oneTBB's allocator: a chain of stages on one worker frees a node and allocates one of
/// the same size for nearly every message, and a list pop costs a few instructions where
/// scalable_malloc/free cost about 180 (callgrind; pipeline4 on one thread 535M -> 560M events/s).
/// A thread that only frees (a consumer on another core than its producer) keeps `cap` per class
/// and frees the rest, so a cache holds at most classes * cap nodes (64 KiB).
///
/// Plain data, so that a thread reaches it without a guard (and with initial-exec, without a call
/// to __tls_get_addr: 2% of pipeline4 otherwise); the first node kept arms a reaper, a
/// thread_local with a destructor, that frees the cache when the thread ends.
struct node_cache {
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t classes = 8;  // nodes of up to 128 bytes
  static constexpr unsigned cap = 64;

  struct free_node {
    free_node* next;
  };
  free_node* lists[classes];
  unsigned counts[classes];
  bool armed;   // the reaper is registered
  bool closed;  // the reaper has run: the thread is ending, nodes are freed at once

  /// The class of a node of `size` bytes; `classes` or more if it is not cached.
  static std::size_t class_of(std::size_t size) noexcept { return (size - 1) / granule; }

  void* take(std::size_t c) noexcept {
    free_node* n = lists[c];
    if (n == nullptr) return scalable_malloc((c + 1) * granule);  // the class's full size: reusable by any of it
    lists[c] = n->next;
    --counts[c];
    return n;
  }

  /// Keeps `p` (of class `c`) unless the class is full; false if the caller must free it.
  bool keep(void* p, std::size_t c) noexcept;

  void release_all() noexcept {
    for (std::size_t c = 0; c < classes; ++c) {
      while (free_node* n = lists[c]) {
        lists[c] = n->next;
        scalable_free(n);
      }
      counts[c] = 0;
    }
  }
};

// initial-exec: libsluice is loaded with the program (or, if dlopened, fits glibc's static TLS
// surplus: this is 100 bytes).
[[gnu::tls_model("initial-exec")]] thread_local node_cache tl_nodes{};

struct node_cache_reaper {
  ~node_cache_reaper() {
    tl_nodes.release_all();
    tl_nodes.closed = true;
  }
};

bool node_cache::keep(void* p, std::size_t c) noexcept {
  if (counts[c] == cap || closed) return false;
  if (!armed) {
    static thread_local node_cache_reaper reaper;  // registers its destructor for this thread
    (void)reaper;
    armed = true;
  }
  lists[c] = new (p) free_node{lists[c]};
  ++counts[c];
  return true;
}

}  // namespace
#endif

void* message_node::operator new(std::size_t size) {
#if SLUICE_SCALABLE_ALLOC
  const std::size_t c = node_cache::class_of(size);
  if (void* p = c < node_cache::classes ? tl_nodes.take(c) : scalable_malloc(size)) return p;
  throw std::bad_alloc();
#else
  return ::operator new(size);
#endif
}

void message_node::operator delete(void* p, std::size_t size) noexcept {
#if SLUICE_SCALABLE_ALLOC
  const std::size_t c = node_cache::class_of(size);
  if (c < node_cache::classes && tl_nodes.keep(p, c)) return;
  scalable_free(p);
#else
  ::operator delete(p, size);
#endif
}

}  // namespace sluice::detail
