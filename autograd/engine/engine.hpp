// The backward engine: runs the graph below a set of root edges. Internal.
#pragma once

#include <vector>

#include "ag/autograd.hpp"

namespace ag::engine {

// Runs backward from `roots` with the head gradients `root_grads`.
// When `captures` is empty, leaves accumulate into .grad(). Otherwise only the nodes
// that lead to a captured edge run, and the gradient arriving at each captured edge is
// returned (undefined where none arrived).
tensor_list execute(const std::vector<Edge>& roots, const tensor_list& root_grads, bool keep_graph,
                    bool create_graph, const std::vector<Edge>& captures);

}  // namespace ag::engine
