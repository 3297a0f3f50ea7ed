// The backward engine: runs the graph below a set of root edges. Internal.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ag/autograd.hpp"

namespace ag::engine {

// Runs backward from `roots` with the head gradients `root_grads` (one per root; they are
// moved from). When `captures` is empty, leaves accumulate into .grad(). Otherwise only
// the nodes that lead to a captured edge run, and the gradient arriving at each captured
// edge is returned (undefined where none arrived).
tensor_list execute(std::span<const Edge> roots, std::span<Tensor> root_grads, bool keep_graph, bool create_graph,
                    std::span<const Edge> captures);

// Graphs whose nodes' gradients hold fewer elements than this in all run on the calling
// thread, as do chains (engine.cpp, Note [Running inline]). Tests set a negative value to
// send every branching graph through the task scheduler.
void set_inline_work(int64_t elements);
int64_t inline_work();

// Throws the ag::Error of a backward through `owner` after its saved tensors were freed
// (node.cpp; also the engine's check before a backward starts).
[[noreturn]] void fail_freed(const Node* owner);

// Throws ag::Error when a gradient hook's replacement differs from the gradient it was
// given in shape or dtype (node.cpp).
void check_hook_result(const Tensor& replacement, const Tensor& grad);

}  // namespace ag::engine
