#include "runtime/release.hpp"

#include <vector>

namespace ag::detail {

void release_iteratively(std::shared_ptr<void>&& owner) {
  thread_local std::vector<std::shared_ptr<void>> pending;
  thread_local bool draining = false;
  pending.push_back(std::move(owner));
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<void> p = std::move(pending.back());
    pending.pop_back();
    p.reset();  // may run a destructor that appends to `pending`
  }
  draining = false;
}

}  // namespace ag::detail
