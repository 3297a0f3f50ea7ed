#include "ag/storage.hpp"

#include "runtime/allocator.hpp"
#include "runtime/pool.hpp"

namespace ag {

// Buffers come from the caching allocator (runtime/allocator.hpp): 64-byte aligned, and a
// zero-size tensor still gets a valid, unique pointer.
Storage::Storage(size_t nbytes) : nbytes_(nbytes) { data_ = detail::cached_alloc(nbytes, &capacity_); }

Storage::~Storage() { detail::cached_free(data_, capacity_); }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) { return detail::make_pooled<Storage>(nbytes); }

}  // namespace ag
