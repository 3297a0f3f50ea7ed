#include "runtime/allocator.hpp"

#include <tbb/scalable_allocator.h>

#include <atomic>
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

// A small per-thread cache in front of the shared bins, so that backward tasks on
// different threads do not fight over one bin's lock for every gradient buffer.
constexpr size_t kThreadMaxClass = 20;  // 1 MiB
constexpr size_t kThreadSlots = 16;     // buffers kept per class and thread (not counted
                                        // in cached_bytes: at most 16 per class <= 1 MiB)

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
  if (tc) {
    auto& mine = tc->bins[cls];
    if (!mine.empty()) {
      void* p = mine.back();
      mine.pop_back();
      counters().hits.fetch_add(1, std::memory_order_relaxed);
      return p;
    }
  }
  Bin& b = c.bins[cls];
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
  if (c.enabled && cls <= kMaxClass && (size_t{1} << cls) == capacity &&
      c.cached.load(std::memory_order_relaxed) + capacity <= c.limit) {
    ThreadCache* tc = cls <= kThreadMaxClass ? thread_cache() : nullptr;
    if (tc && tc->bins[cls].size() < kThreadSlots) {
      if (tc->bins[cls].capacity() == 0) tc->bins[cls].reserve(kThreadSlots);
      tc->bins[cls].push_back(p);
      return;
    }
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
