#include <sluice/process/message.hpp>

#include <new>

#if SLUICE_SCALABLE_ALLOC
#include <oneapi/tbb/scalable_allocator.h>
#endif

namespace sluice::detail {

void* message_node::operator new(std::size_t size) {
#if SLUICE_SCALABLE_ALLOC
  if (void* p = scalable_malloc(size)) return p;
  throw std::bad_alloc();
#else
  return ::operator new(size);
#endif
}

void message_node::operator delete(void* p) noexcept {
#if SLUICE_SCALABLE_ALLOC
  scalable_free(p);
#else
  ::operator delete(p);
#endif
}

}  // namespace sluice::detail
