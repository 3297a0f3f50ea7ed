// A 2-D tensor as the GEMM kernel sees it: pointer, leading dimension, transposed or not.
// A transposed or column-sliced view goes to GEMM as a flag and a stride, with no copy;
// only a layout that fits neither (a broadcast, a step in both dimensions) is copied.
// Shared by ops/linalg.cpp (mm, addmm, bmm) and ops/layer_ops.cpp (linear).
#pragma once

#include "ag/tensor.hpp"
#include "ag/detail/tensor_impl.hpp"

namespace ag::detail {

struct GemmOperand {
  Tensor keep;  // holds the storage (a copy when the strides fit neither layout)
  const void* ptr;
  int64_t ld;
  bool trans;
};

inline GemmOperand as_gemm_operand(const Tensor& m) {
  const int64_t r = m.size(0), c = m.size(1);
  const Shape& st = m.strides();
  const void* p = m.unsafeGetTensorImpl()->raw_data();
  if ((c == 1 || st[1] == 1) && (r == 1 || st[0] >= c)) return {m, p, r == 1 ? c : st[0], false};
  if ((r == 1 || st[0] == 1) && (c == 1 || st[1] >= r)) return {m, p, c == 1 ? r : st[1], true};
  Tensor cm = m.contiguous();  // broadcast (stride 0) or otherwise strided: one copy
  return {cm, cm.unsafeGetTensorImpl()->raw_data(), c, false};
}

}  // namespace ag::detail
