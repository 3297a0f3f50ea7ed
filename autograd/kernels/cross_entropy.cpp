// The SIMD softmax cross-entropy kernels (xsimd). See cross_entropy.hpp for the formulas.
//
// A row is swept in whole registers; its last partial register is copied into a small
// buffer padded with -inf (forward: exp(-inf - m) adds 0 to the sum, and -inf never wins
// the max), so a row of 10 classes is one register, not ten scalar steps. The forward reads
// a row twice (max, then sum of exp), the second time from L1: one pass over memory.
#include "cross_entropy.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "scalar_ops.hpp"

namespace ag::kernels {
namespace {

template <class T>
using Vec = xsimd::batch<T>;

// NaN propagates (xsimd::max does not): as kernels::max and scalar::binary(Max).
template <class T>
inline Vec<T> nan_max(Vec<T> a, Vec<T> b) {
  return xsimd::select(xsimd::isnan(a), a, xsimd::select(xsimd::isnan(b), b, xsimd::max(a, b)));
}

template <class T>
inline T lanes_max(const Vec<T>& v) {
  alignas(64) T lanes[Vec<T>::size];
  v.store_aligned(lanes);
  T r = -std::numeric_limits<T>::infinity();
  for (size_t k = 0; k < Vec<T>::size; ++k) r = scalar::binary(BinaryOp::Max, r, lanes[k]);
  return r;
}

}  // namespace

template <class T>
double cross_entropy_forward(const T* x, const int64_t* target, int64_t rows, int64_t cols, T* loss, T* stats) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t full = cols - cols % W, rest = cols - full;
  alignas(64) T tail[W];
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    if (rest) {
      std::fill(tail, tail + W, ninf);
      std::copy(xr + full, xr + cols, tail);
    }
    V vmax(ninf);
    for (int64_t c = 0; c < full; c += W) vmax = nan_max(vmax, xsimd::load_unaligned(xr + c));
    if (rest) vmax = nan_max(vmax, V::load_aligned(tail));
    const T m = lanes_max(vmax);
    const V vm(m);
    V s0(T(0)), s1(T(0));
    int64_t c = 0;
    for (; c + 2 * W <= full; c += 2 * W) {
      s0 += xsimd::exp(xsimd::load_unaligned(xr + c) - vm);
      s1 += xsimd::exp(xsimd::load_unaligned(xr + c + W) - vm);
    }
    for (; c < full; c += W) s0 += xsimd::exp(xsimd::load_unaligned(xr + c) - vm);
    if (rest) s1 += xsimd::exp(V::load_aligned(tail) - vm);
    const T log_s = std::log(xsimd::hadd(s0 + s1));
    const T l = (m - xr[target[r]]) + log_s;
    if (loss) loss[r] = l;
    if (stats) {
      stats[2 * r] = m;
      stats[2 * r + 1] = log_s;
    }
    total += static_cast<double>(l);
  }
  return total;
}

template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* stats, const T* g, int64_t g_stride, T scale,
                            int64_t rows, int64_t cols, T* grad) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  const int64_t full = cols - cols % W, rest = cols - full;
  alignas(64) T lane_index[W];
  for (int64_t k = 0; k < W; ++k) lane_index[k] = static_cast<T>(k);
  const V iota = V::load_aligned(lane_index), one(T(1)), zero(T(0));
  alignas(64) T tail[W];
  std::fill(tail, tail + W, T(0));
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* gr = grad + r * cols;
    const V vm(stats[2 * r]), vls(stats[2 * r + 1]), vsc(scale * g[r * g_stride]);
    const int64_t t = target[r];
    // (softmax - onehot) * scale; the one-hot lane is found by comparing lane indices with
    // t - c (exact in T: either small or far outside [0, W)).
    auto at = [&](const V& xv, int64_t c) {
      const V p = xsimd::exp((xv - vm) - vls);
      return (p - xsimd::select(iota == V(static_cast<T>(t - c)), one, zero)) * vsc;
    };
    for (int64_t c = 0; c < full; c += W) at(xsimd::load_unaligned(xr + c), c).store_unaligned(gr + c);
    if (rest) {
      std::copy(xr + full, xr + cols, tail);
      at(V::load_aligned(tail), full).store_aligned(tail);
      std::copy(tail, tail + rest, gr + full);
    }
  }
}

template double cross_entropy_forward<float>(const float*, const int64_t*, int64_t, int64_t, float*, float*);
template double cross_entropy_forward<double>(const double*, const int64_t*, int64_t, int64_t, double*, double*);
template void cross_entropy_backward<float>(const float*, const int64_t*, const float*, const float*, int64_t, float,
                                            int64_t, int64_t, float*);
template void cross_entropy_backward<double>(const double*, const int64_t*, const double*, const double*, int64_t,
                                             double, int64_t, int64_t, double*);

}  // namespace ag::kernels
