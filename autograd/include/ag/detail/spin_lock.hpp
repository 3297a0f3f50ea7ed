// SpinLock: a one-byte lock for critical sections of a few instructions. Internal
// (public only because TensorImpl holds one); used by the tensor's gradient slot and by the
// caching allocator's bins.
#pragma once

#include <atomic>

namespace ag::detail {

// A one-byte spin lock guarding a tensor's gradient while concurrent backward passes
// accumulate into it. Held for the duration of one add, so spinning is the right cost.
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire)) flag_.wait(true, std::memory_order_relaxed);
  }
  void unlock() {
    flag_.clear(std::memory_order_release);
    flag_.notify_one();
  }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

}  // namespace ag::detail
