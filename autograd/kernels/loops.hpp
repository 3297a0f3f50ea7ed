// for_each_row: walks an n-dimensional index space row by row for K strided operands.
//
// The caller gives the shape and each operand's strides (in elements; 0 for a broadcast
// dimension). Dimensions of size 1 are dropped and neighbouring dimensions that are
// contiguous for every operand are merged, so a contiguous tensor is one long row.
// f(offsets, n, inner_strides) is called once per innermost row.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace ag::kernels {

// Up to kRowDims dimensions the bookkeeping lives on the stack: an elementwise op on small
// tensors (a backward through a chain of 0-d or 1-d tensors runs one per node) makes no
// heap allocation here; more dimensions than that take the heap.
inline constexpr size_t kRowDims = 12;

template <size_t K, class F>
void for_each_row(std::span<const int64_t> shape, const std::array<const int64_t*, K>& strides, F&& f) {
  for (int64_t n : shape)
    if (n == 0) return;  // nothing to visit (and the other sizes may be huge: [2^63 - 1, 3, 0])
  // Coalesce.
  int64_t size_inline[kRowDims];
  std::array<int64_t, K> st_inline[kRowDims];
  int64_t idx_inline[kRowDims];
  std::vector<int64_t> size_heap, idx_heap;
  std::vector<std::array<int64_t, K>> st_heap;
  int64_t* size = size_inline;
  std::array<int64_t, K>* st = st_inline;
  int64_t* idx = idx_inline;
  if (shape.size() > kRowDims) {
    size_heap.resize(shape.size());
    st_heap.resize(shape.size());
    idx_heap.resize(shape.size());
    size = size_heap.data();
    st = st_heap.data();
    idx = idx_heap.data();
  }
  size_t nd = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, K> s{};
    for (size_t k = 0; k < K; ++k) s[k] = strides[k][d];
    if (nd > 0) {
      bool merge = true;
      for (size_t k = 0; k < K; ++k) {
        // A view's strides may be huge (a dimension of size 1 takes any stride): the
        // product is compared only when it does not overflow.
        int64_t span;
        merge &= !__builtin_mul_overflow(s[k], shape[d], &span) && st[nd - 1][k] == span;
      }
      if (merge) {
        size[nd - 1] *= shape[d];
        st[nd - 1] = s;
        continue;
      }
    }
    size[nd] = shape[d];
    st[nd] = s;
    ++nd;
  }
  std::array<int64_t, K> off{};
  if (nd == 0) {
    f(off, int64_t{1}, std::array<int64_t, K>{});
    return;
  }
  const int64_t inner = size[nd - 1];
  const std::array<int64_t, K> inner_st = st[nd - 1];
  if (nd == 1) {
    f(off, inner, inner_st);
    return;
  }
  std::fill(idx, idx + (nd - 1), int64_t{0});
  for (;;) {
    f(off, inner, inner_st);
    size_t d = nd - 1;
    for (;;) {
      --d;
      ++idx[d];
      for (size_t k = 0; k < K; ++k) off[k] += st[d][k];
      if (idx[d] < size[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= st[d][k] * size[d];
      idx[d] = 0;
      if (d == 0) return;
    }
  }
}

}  // namespace ag::kernels
