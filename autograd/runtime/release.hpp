// Note [Iterative release]
// A graph is a chain of shared_ptrs: tensor -> grad_fn -> saved tensor -> its grad_fn ...
// Dropping the head of a chain of ten million nodes would destroy it recursively and
// overflow the stack. Every owner of a graph node (TensorImpl::grad_fn, a node's edges)
// hands its pointer to release_iteratively instead of dropping it: the first call on a
// thread drains a thread-local list in a loop, and nested calls (from the destructors it
// triggers) only append to that list. Depth of recursion: one.
//
// The runtime knows nothing of nodes: a shared_ptr<void> made from a shared_ptr<Node>
// keeps Node's deleter, so the list holds any owned object.
#pragma once

#include <memory>
#include <utility>

namespace ag::detail {

void release_iteratively(std::shared_ptr<void>&& owner);

template <class T>
void release_iteratively(std::shared_ptr<T>&& owner) {
  // Not the last owner: dropping it destroys nothing, so skip the list. (Should another
  // owner let go at the same moment, the destructor that follows appends to the list or
  // starts its own drain: depth two at most.)
  if (!owner || owner.use_count() > 1) {
    owner.reset();
    return;
  }
  release_iteratively(std::shared_ptr<void>(std::move(owner)));
}

}  // namespace ag::detail
