// sluice-bench/resident_memory.hpp: how much memory this program holds, for per-process costs.
#pragma once

#include <cstdint>

namespace sluice::bench {

/// This program's resident set size in bytes (/proc/self/statm); throws if it cannot be read.
std::int64_t resident_bytes();

/// Asks malloc to give freed memory back to the kernel (glibc's malloc_trim), so that memory a
/// previous run freed but malloc kept does not hide the growth of the next run. No-op elsewhere.
void release_free_memory() noexcept;

}  // namespace sluice::bench
