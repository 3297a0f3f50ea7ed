// Graphs that more than one benchmark measures, built once here.
#pragma once

#include <ag/ag.hpp>

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ag_bench {

// The wide graph: `branches` independent chains of `depth` steps tanh(y) * 0.9 + 0.01
// (3 nodes a step) on one leaf, summed: the graph the parallel scheduler exists for.
inline ag::Tensor build_wide(const ag::Tensor& x, int branches, int depth) {
  ag::Tensor total;
  for (int b = 0; b < branches; ++b) {
    ag::Tensor y = x * (1.0 + 0.001 * b);
    for (int d = 0; d < depth; ++d) y = ag::tanh(y) * 0.9 + 0.01;
    total = total.defined() ? total + y : y;
  }
  return total.sum();
}

// The graph below `root`: how many nodes, and how many lie on its longest path (the critical
// path of its backward, counted in nodes). What bench_threads' scaling model takes from the
// structure of a graph.
struct GraphShape {
  int64_t nodes = 0, longest = 0;
};
inline GraphShape graph_shape(const ag::Tensor& root) {
  const ag::Node* top = root.grad_fn().get();
  if (!top) return {};
  std::unordered_map<const ag::Node*, int64_t> depth;  // nodes on the longest path down; -1 while open
  std::vector<std::pair<const ag::Node*, bool>> stack{{top, false}};
  while (!stack.empty()) {
    const auto [n, children_done] = stack.back();
    stack.pop_back();
    if (children_done) {
      int64_t d = 0;
      for (const ag::Edge& e : n->next_edges())
        if (e.function) d = std::max(d, depth.at(e.function.get()));
      depth[n] = d + 1;
      continue;
    }
    if (depth.count(n)) continue;
    depth[n] = -1;
    stack.push_back({n, true});
    for (const ag::Edge& e : n->next_edges())
      if (e.function && !depth.count(e.function.get())) stack.push_back({e.function.get(), false});
  }
  return {static_cast<int64_t>(depth.size()), depth.at(top)};
}

}  // namespace ag_bench
