#include "runtime/allocator.hpp"

#include <tbb/scalable_allocator.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "ag/detail/spin_lock.hpp"
#include "ag/error.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AG_CACHE_DEFAULT_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_CACHE_DEFAULT_OFF 1
#endif
#endif

namespace ag::detail {

namespace {

constexpr size_t kMinClass = 6;    // 64 bytes
constexpr size_t kMaxClass = 28;   // 256 MiB
constexpr size_t kAlignment = 64;

struct Bin {
  SpinLock lock;
  std::vector<void*> free;
};

struct Cache {
  Bin bins[kMaxClass + 1];
  std::atomic<uint64_t> cached{0};
  uint64_t limit = uint64_t{1} << 30;
  bool enabled = true;
  Cache() {
    if (const char* e = std::getenv("AG_CACHE_BYTES")) limit = std::strtoull(e, nullptr, 10);
#ifdef AG_CACHE_DEFAULT_OFF
    enabled = false;
#endif
    if (limit == 0) enabled = false;
  }
};

// Never destroyed: tensors in static storage may be freed after main returns.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// Note [Per-thread caches move in batches]
// A per-thread cache sits in front of the shared bins, so that threads do not fight over
// one bin's lock for every buffer. Buffers often die on another thread than the one that
// made them: forward makes the saved tensors on the calling thread, backward frees them
// on whichever worker runs their node. So a worker's cache fills (it frees more than it
// takes) while the calling thread's empties. A cache that handed its overflow back one
// buffer at a time took the bin's lock and wrote the shared byte counter for every free
// (the wide-graph profile: cached_free 2% of the samples on 1 thread, 10% on 2). Now a
// full cache hands half of its slots to the bin under one lock, and an empty one takes up
// to as many back: one lock and one shared write per batch. A class's slots hold at most
// 1 MiB per thread (64 buffers of up to 16 KiB, fewer of larger ones), so a thread keeps
// at most ~10 MiB; those bytes are not counted in cached_bytes.
constexpr size_t kThreadMaxClass = 20;  // 1 MiB
constexpr size_t kThreadClassBytes = size_t{1} << 20;
constexpr size_t kThreadMaxSlots = 64;

constexpr size_t thread_slots(size_t cls) {
  const size_t by_bytes = kThreadClassBytes >> cls;
  return by_bytes < 2 ? 2 : by_bytes > kThreadMaxSlots ? kThreadMaxSlots : by_bytes;
}

struct ThreadCache {
  std::vector<void*> bins[kThreadMaxClass + 1];
  ~ThreadCache();
};

thread_local ThreadCache t_cache;
// Whether this thread's t_cache was destroyed. A thread's thread_locals are destroyed
// before the static objects of the program, so a tensor freed by a static destructor
// after main returns would push into a destroyed vector (heap corruption at exit). This
// flag is trivially destructible, so it stays readable to the very end; once it is set,
// buffers bypass the per-thread cache.
thread_local bool t_cache_dead = false;

ThreadCache* thread_cache() { return t_cache_dead ? nullptr : &t_cache; }

size_t size_class(size_t n) {
  size_t c = kMinClass;
  while ((size_t{1} << c) < n) ++c;
  return c;
}

// Counters kept per thread (no shared cache line on the hot path), summed on demand.
struct Counters {
  std::atomic<uint64_t> system_allocs{0}, hits{0};
};
std::mutex g_counters_mutex;
std::vector<Counters*>& all_counters() {
  static auto* v = new std::vector<Counters*>();
  return *v;
}
Counters& counters() {
  thread_local Counters* mine = [] {
    auto* c = new Counters();  // leaked on purpose: stats outlive threads
    std::lock_guard<std::mutex> l(g_counters_mutex);
    all_counters().push_back(c);
    return c;
  }();
  return *mine;
}

// Buffers come from tbbmalloc (see runtime/pool.hpp for why), or from the C library under
// AddressSanitizer so that it sees every buffer.
void* raw_alloc(size_t bytes) {
#ifdef AG_CACHE_DEFAULT_OFF
  return std::aligned_alloc(kAlignment, bytes);
#else
  return scalable_aligned_malloc(bytes, kAlignment);
#endif
}
void raw_free(void* p) {
#ifdef AG_CACHE_DEFAULT_OFF
  std::free(p);
#else
  scalable_aligned_free(p);
#endif
}

void* system_alloc(size_t bytes) {
  void* p = raw_alloc(bytes);
  if (!p) fail("Storage: cannot allocate ", bytes, " bytes");
  counters().system_allocs.fetch_add(1, std::memory_order_relaxed);
  return p;
}

}  // namespace

void* cached_alloc(size_t nbytes, size_t* capacity) {
  Cache& c = cache();
  const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  if (cls > kMaxClass || !c.enabled) {
    *capacity = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
    if (*capacity == 0) *capacity = kAlignment;
    return system_alloc(*capacity);
  }
  *capacity = size_t{1} << cls;
  ThreadCache* tc = cls <= kThreadMaxClass ? thread_cache() : nullptr;
  Bin& b = c.bins[cls];
  if (tc) {
    auto& mine = tc->bins[cls];
    if (mine.empty()) {  // refill with a batch (Note [Per-thread caches move in batches])
      const size_t want = thread_slots(cls) / 2;
      if (mine.capacity() == 0) mine.reserve(thread_slots(cls));
      std::lock_guard<SpinLock> l(b.lock);
      const size_t take = std::min(want, b.free.size());
      if (take > 0) {
        mine.insert(mine.end(), b.free.end() - static_cast<std::ptrdiff_t>(take), b.free.end());
        b.free.resize(b.free.size() - take);
        c.cached.fetch_sub(take * *capacity, std::memory_order_relaxed);
      }
    }
    if (!mine.empty()) {
      void* p = mine.back();
      mine.pop_back();
      counters().hits.fetch_add(1, std::memory_order_relaxed);
      return p;
    }
    return system_alloc(*capacity);
  }
  {
    std::lock_guard<SpinLock> l(b.lock);
    if (!b.free.empty()) {
      void* p = b.free.back();
      b.free.pop_back();
      c.cached.fetch_sub(*capacity, std::memory_order_relaxed);
      counters().hits.fetch_add(1, std::memory_order_relaxed);
      return p;
    }
  }
  return system_alloc(*capacity);
}

void cached_free(void* p, size_t capacity) {
  if (!p) return;
  Cache& c = cache();
  const size_t cls = size_class(capacity);
  if (!c.enabled || cls > kMaxClass || (size_t{1} << cls) != capacity) {
    raw_free(p);
    return;
  }
  ThreadCache* tc = cls <= kThreadMaxClass ? thread_cache() : nullptr;
  if (tc) {
    auto& mine = tc->bins[cls];
    const size_t slots = thread_slots(cls);
    if (mine.capacity() == 0) mine.reserve(slots);
    if (mine.size() < slots) {  // the hot path: no lock, no shared write
      mine.push_back(p);
      return;
    }
    // Full: half of the slots go to the bin in one batch, or back to the system when the
    // cache is at its limit (Note [Per-thread caches move in batches]).
    const size_t give = slots / 2;
    const auto first = mine.end() - static_cast<std::ptrdiff_t>(give);
    if (c.cached.load(std::memory_order_relaxed) + give * capacity <= c.limit) {
      Bin& b = c.bins[cls];
      std::lock_guard<SpinLock> l(b.lock);
      b.free.insert(b.free.end(), first, mine.end());
      c.cached.fetch_add(give * capacity, std::memory_order_relaxed);
    } else {
      for (auto it = first; it != mine.end(); ++it) raw_free(*it);
    }
    mine.erase(first, mine.end());
    mine.push_back(p);
    return;
  }
  if (c.cached.load(std::memory_order_relaxed) + capacity <= c.limit) {
    Bin& b = c.bins[cls];
    std::lock_guard<SpinLock> l(b.lock);
    b.free.push_back(p);
    c.cached.fetch_add(capacity, std::memory_order_relaxed);
    return;
  }
  raw_free(p);
}

// A thread that ends hands its buffers to the shared bins.
ThreadCache::~ThreadCache() {
  t_cache_dead = true;
  Cache& c = cache();
  for (size_t cls = 0; cls <= kThreadMaxClass; ++cls) {
    if (bins[cls].empty()) continue;
    std::lock_guard<SpinLock> l(c.bins[cls].lock);
    c.bins[cls].free.insert(c.bins[cls].free.end(), bins[cls].begin(), bins[cls].end());
    bins[cls].clear();
  }
}

void* pool_allocate(size_t bytes) {
#ifdef AG_CACHE_DEFAULT_OFF
  void* p = std::malloc(bytes);
#else
  void* p = scalable_malloc(bytes);
#endif
  if (!p) throw std::bad_alloc();
  return p;
}
void pool_deallocate(void* p) noexcept {
#ifdef AG_CACHE_DEFAULT_OFF
  std::free(p);
#else
  scalable_free(p);
#endif
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  AllocatorStats s{0, 0, c.cached.load()};
  std::lock_guard<std::mutex> l(g_counters_mutex);
  for (Counters* k : all_counters()) {
    s.system_allocs += k->system_allocs.load(std::memory_order_relaxed);
    s.cache_hits += k->hits.load(std::memory_order_relaxed);
  }
  return s;
}

void empty_cache() {
  Cache& c = cache();
  if (ThreadCache* tc = thread_cache())
    for (auto& mine : tc->bins) {  // this thread's cache; other threads keep theirs
      for (void* p : mine) raw_free(p);
      mine.clear();
    }
  for (auto& b : c.bins) {
    std::lock_guard<SpinLock> l(b.lock);
    for (void* p : b.free) raw_free(p);
    b.free.clear();
  }
  c.cached.store(0);
}

}  // namespace ag::detail
