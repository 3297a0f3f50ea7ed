// Shared machinery of the elementwise ops: dtype promotion, broadcasting and the loops
// that hand rows of strided tensors to the kernels. No autograd here.
#pragma once

#include "ag/ops.hpp"
#include "kernels/elementwise.hpp"

namespace ag::detail {

// PyTorch's result type: 0-dim operands do not raise the dtype of dimensioned ones of
// the same category (bool < integer < floating).
Dtype result_type(const Tensor& a, const Tensor& b);
// A 0-dim tensor holding a C++ scalar, typed to combine with `like` as PyTorch's wrapped
// numbers do: a floating tensor keeps its dtype; an integer one stays integer for a whole
// value and becomes float32 otherwise.
Tensor scalar_like(double v, const Tensor& like);
// Strides of `t` seen as a tensor of `shape` (which t broadcasts to): 0 on broadcast dims.
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// out = a op b with broadcasting, computed in `dtype` (inputs converted when needed).
Tensor binary_forward(kernels::BinaryOp op, const Tensor& a, const Tensor& b, Dtype dtype, const char* name);
// out = op(a), same dtype.
Tensor unary_forward(kernels::UnaryOp op, const Tensor& a);
// kBool result of a cmp b.
Tensor compare_forward(kernels::CompareOp op, const Tensor& a, const Tensor& b, const char* name);
// dst[...] = src broadcast to dst's shape, converting dtype. dst may be a strided view.
void copy_into(const Tensor& dst, const Tensor& src);
// self = self op other, in place (other broadcasts to self's shape); bumps the version.
void binary_inplace(kernels::BinaryOp op, const Tensor& self, const Tensor& other, const char* name);

}  // namespace ag::detail
