#include "ag/storage.hpp"

#include <cstdlib>
#include <new>

#include "ag/error.hpp"

namespace ag {

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  // aligned_alloc wants a multiple of the alignment; a zero-size tensor still gets a
  // valid, unique pointer.
  size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  data_ = std::aligned_alloc(kAlignment, rounded);
  if (!data_) fail("Storage: cannot allocate ", nbytes, " bytes");
}

Storage::~Storage() { std::free(data_); }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) { return std::make_shared<Storage>(nbytes); }

}  // namespace ag
