// for_each_row: walks an n-dimensional index space row by row for K strided operands.
//
// The caller gives the shape and each operand's strides (in elements; 0 for a broadcast
// dimension). Dimensions of size 1 are dropped and neighbouring dimensions that are
// contiguous for every operand are merged, so a contiguous tensor is one long row.
// f(offsets, n, inner_strides) is called once per innermost row.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace ag::kernels {

template <size_t K, class F>
void for_each_row(const std::vector<int64_t>& shape, const std::array<const int64_t*, K>& strides, F&& f) {
  // Coalesce.
  std::vector<int64_t> size;
  std::vector<std::array<int64_t, K>> st;
  size.reserve(shape.size());
  st.reserve(shape.size());
  for (int64_t n : shape)
    if (n == 0) return;  // nothing to visit (and the other sizes may be huge: [2^63 - 1, 3, 0])
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, K> s{};
    for (size_t k = 0; k < K; ++k) s[k] = strides[k][d];
    if (!size.empty()) {
      bool merge = true;
      for (size_t k = 0; k < K; ++k) {
        // A view's strides may be huge (a dimension of size 1 takes any stride): the
        // product is compared only when it does not overflow.
        int64_t span;
        merge &= !__builtin_mul_overflow(s[k], shape[d], &span) && st.back()[k] == span;
      }
      if (merge) {
        size.back() *= shape[d];
        st.back() = s;
        continue;
      }
    }
    size.push_back(shape[d]);
    st.push_back(s);
  }
  std::array<int64_t, K> off{};
  if (size.empty()) {
    f(off, int64_t{1}, std::array<int64_t, K>{});
    return;
  }
  const size_t nd = size.size();
  const int64_t inner = size[nd - 1];
  const std::array<int64_t, K> inner_st = st[nd - 1];
  if (nd == 1) {
    f(off, inner, inner_st);
    return;
  }
  std::vector<int64_t> idx(nd - 1, 0);
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
