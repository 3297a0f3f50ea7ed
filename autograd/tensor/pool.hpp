// make_pooled: std::make_shared through oneTBB's scalable allocator. Internal.
//
// The objects of a graph (tensor handles, storages, nodes) are made on one thread during
// forward and freed on whichever thread runs their backward node. glibc's malloc takes a
// lock on the allocating thread's arena for each such cross-thread free, which serialises
// a parallel backward; tbbmalloc frees to per-thread pools without that lock.
#pragma once

#include <tbb/scalable_allocator.h>

#include <memory>
#include <utility>

namespace ag::detail {

// Under the sanitizers the C library's allocator is used, so that they see every object.
template <class T, class... A>
std::shared_ptr<T> make_pooled(A&&... args) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  return std::make_shared<T>(std::forward<A>(args)...);
#else
  return std::allocate_shared<T>(tbb::scalable_allocator<T>(), std::forward<A>(args)...);
#endif
}

}  // namespace ag::detail
