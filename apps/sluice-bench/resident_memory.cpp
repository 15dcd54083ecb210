// sluice-bench/resident_memory.cpp: /proc/self/statm and malloc_trim.
#include "resident_memory.hpp"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sluice::bench {

std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size_pages = 0;
  std::int64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) {
    throw std::runtime_error("cannot read /proc/self/statm");
  }
  return resident_pages * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

void release_free_memory() noexcept {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace sluice::bench
