// Shared machinery of the elementwise ops: dtype promotion, broadcasting and the loops
// that hand rows of strided tensors to the kernels. No autograd here.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ag/ops.hpp"
#include "kernels/elementwise.hpp"
#include "runtime/parallel.hpp"

namespace ag::detail {

// Note [Elementwise grain]
// A contiguous elementwise kernel over n elements splits across the arena in chunks of
// at least kElementwiseGrain elements (so from 2 x that many on): inside a backward with
// other nodes ready the chunks stay on this thread (the other workers are busy and steal
// nothing), a lone big node — the hidden layer's sigmoid of a 1024 x 1024 batch — uses
// every thread (the one policy of the two levels: one arena, work stealing decides).
// Chunks begin at multiples of kElementwiseBlock elements, so each element takes the
// SIMD or the scalar-tail path it takes in one call over all n: the bits do not depend on
// the number of threads. Measured with bench_threads (784-1024-10 b1024 step) and a 1M
// float sigmoid: 2^15 floats of sigmoid are ~25 us of work, several times a chunk's
// hand-over in the arena; 2^14 gained nothing more.
inline constexpr int64_t kElementwiseGrain = int64_t{1} << 15;
inline constexpr int64_t kElementwiseBlock = 64;

// Runs f(begin, end) over [0, n) in chunks as above (one call f(0, n) when small).
template <class F>
void elementwise_chunks(int64_t n, F&& f) {
  if (n < 2 * kElementwiseGrain) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t blocks = (n + kElementwiseBlock - 1) / kElementwiseBlock;
  parallel_for(blocks, kElementwiseGrain / kElementwiseBlock, [&](int64_t b0, int64_t b1) {
    f(b0 * kElementwiseBlock, std::min(n, b1 * kElementwiseBlock));
  });
}

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
