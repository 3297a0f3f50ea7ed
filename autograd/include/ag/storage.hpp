// Storage: a 64-byte-aligned, shared buffer of bytes with a version counter.
//
// Tensors (and their views) hold a Storage through a shared_ptr. The version counter is
// bumped by every in-place write; autograd compares it with the version it saw when it
// saved a tensor for backward, so an in-place change of a saved tensor is detected.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ag {

class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  // Allocates nbytes (uninitialised) aligned to kAlignment.
  static std::shared_ptr<Storage> allocate(size_t nbytes);

  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

  uint32_t version() const { return version_.load(std::memory_order_acquire); }
  void bump_version() { version_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // bytes actually reserved (the allocator's size class)
  std::atomic<uint32_t> version_{0};
};

}  // namespace ag
