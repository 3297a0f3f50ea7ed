// Note [Iterative release]
// A graph is a chain of shared_ptrs: tensor -> grad_fn -> saved tensor -> its grad_fn ...
// Dropping the head of a chain of ten million nodes would destroy it recursively and
// overflow the stack. Every owner of a Node (TensorImpl::grad_fn, Node edges) hands its
// pointer to release_node instead of dropping it: the first call on a thread drains a
// thread-local list in a loop, and nested calls (from the destructors it triggers) only
// append to that list. Depth of recursion: one.
#pragma once

#include <memory>

namespace ag {
class Node;
void release_node(std::shared_ptr<Node>&& node);
}  // namespace ag
