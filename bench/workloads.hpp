// Graphs that more than one benchmark measures, built once here.
#pragma once

#include <ag/ag.hpp>

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

}  // namespace ag_bench
