// make_pooled: std::make_shared through oneTBB's scalable allocator. Internal.
//
// The objects of a graph (tensor handles, storages, nodes) are made on one thread during
// forward and freed on whichever thread runs their backward node. glibc's malloc takes a
// lock on the allocating thread's arena for each such cross-thread free, which serialises
// a parallel backward; tbbmalloc frees to per-thread pools without that lock.
#pragma once

#include <tbb/scalable_allocator.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

// Under the sanitizers the C library's allocator is used, so that they see every object
// (GCC defines __SANITIZE_*__, clang answers __has_feature). Under clang's ASan this also
// keeps LeakSanitizer from reporting tensor buffers held only by objects in tbbmalloc's
// pools, which it does not scan.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define AG_POOL_USES_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AG_POOL_USES_MALLOC 1
#endif
#endif

namespace ag::detail {

template <class T, class... A>
std::shared_ptr<T> make_pooled(A&&... args) {
#ifdef AG_POOL_USES_MALLOC
  return std::make_shared<T>(std::forward<A>(args)...);
#else
  return std::allocate_shared<T>(tbb::scalable_allocator<T>(), std::forward<A>(args)...);
#endif
}

// The request make_pooled_trailing hands to TrailingAllocator: allocate_shared allocates
// exactly once, on the calling thread, before it constructs the object. Passing it this
// way keeps the allocator stateless, so the control block stores nothing for it.
struct TrailingRequest {
  size_t extra = 0;
  void* trailing = nullptr;
};
inline thread_local TrailingRequest t_trailing_request;

// Each allocation is t_trailing_request.extra bytes longer than asked, and where those
// bytes start is written back to t_trailing_request.trailing.
template <class T>
struct TrailingAllocator {
  using value_type = T;
  TrailingAllocator() = default;
  template <class U>
  TrailingAllocator(const TrailingAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(size_t n) {
    constexpr size_t kAlign = alignof(std::max_align_t);
    const size_t head = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    TrailingRequest& r = t_trailing_request;
#ifdef AG_POOL_USES_MALLOC
    void* p = std::malloc(head + r.extra);
#else
    void* p = scalable_malloc(head + r.extra);
#endif
    if (!p) throw std::bad_alloc();
    r.trailing = static_cast<char*>(p) + head;
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept {
#ifdef AG_POOL_USES_MALLOC
    std::free(p);
#else
    scalable_free(p);
#endif
  }
  template <class U>
  bool operator==(const TrailingAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const TrailingAllocator<U>&) const noexcept { return false; }
};

// make_pooled with `extra_bytes` of raw space after the object, in the same allocation as
// the object and its shared_ptr control block: one allocation where a node would
// otherwise make three (itself, its edges, its saved tensors). *trailing receives the
// space (aligned for any scalar type); the object owns what it builds there and must
// destroy it in its destructor.
template <class T, class... A>
std::shared_ptr<T> make_pooled_trailing(size_t extra_bytes, void** trailing, A&&... args) {
  t_trailing_request.extra = extra_bytes;
  std::shared_ptr<T> p = std::allocate_shared<T>(TrailingAllocator<T>(), std::forward<A>(args)...);
  *trailing = t_trailing_request.trailing;
  return p;
}

}  // namespace ag::detail
