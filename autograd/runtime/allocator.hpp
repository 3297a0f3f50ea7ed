// The caching allocator behind Storage. Internal.
//
// Training repeats the same tensor sizes every step; going to malloc for each buffer costs
// far more than the work on a small tensor. Freed buffers are kept in power-of-two size
// classes and handed out again, so a steady-state training step makes no system
// allocation. The cache holds at most AG_CACHE_BYTES (default 1 GiB); buffers above
// 256 MiB are never cached. Under AddressSanitizer the cache is off so that
// use-after-free is still caught.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ag::detail {

void* cached_alloc(size_t nbytes, size_t* capacity);  // 64-byte aligned; capacity >= nbytes
void cached_free(void* p, size_t capacity);

struct AllocatorStats {
  uint64_t system_allocs;  // buffers obtained from the system allocator
  uint64_t cache_hits;     // buffers served from the cache
  uint64_t cached_bytes;   // bytes held in the cache now
};
AllocatorStats allocator_stats();
void empty_cache();  // returns every cached buffer to the system

}  // namespace ag::detail
