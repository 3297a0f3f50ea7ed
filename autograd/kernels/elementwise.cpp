// The SIMD elementwise kernels (xsimd). Each loop handles whole registers, then finishes
// with the scalar formula of scalar_ops.hpp, so the tail computes what the reference does.
#include "elementwise.hpp"

#include <xsimd/xsimd.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

#include "scalar_ops.hpp"

namespace ag::kernels {
namespace {

template <class T>
using Vec = xsimd::batch<T>;  // the widest batch the build targets

template <class T>
constexpr bool kSimd = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <class T>
inline Vec<T> load(const T* p) {
  return xsimd::load_unaligned(p);
}

// Runs f over registers of a and b (stride 1 = vector, 0 = broadcast scalar), then
// `tail` for the remaining elements.
template <class T, class F, class Tail>
inline void map2(const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n, F f, Tail tail) {
  constexpr int64_t W = Vec<T>::size;
  int64_t i = 0;
  if (as == 1 && bs == 1) {
    for (; i + 2 * W <= n; i += 2 * W) {
      auto r0 = f(load(a + i), load(b + i));
      auto r1 = f(load(a + i + W), load(b + i + W));
      r0.store_unaligned(out + i);
      r1.store_unaligned(out + i + W);
    }
    for (; i + W <= n; i += W) f(load(a + i), load(b + i)).store_unaligned(out + i);
  } else if (as == 1) {
    const Vec<T> vb(b[0]);
    for (; i + W <= n; i += W) f(load(a + i), vb).store_unaligned(out + i);
  } else if (bs == 1) {
    const Vec<T> va(a[0]);
    for (; i + W <= n; i += W) f(va, load(b + i)).store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = tail(a[i * as], b[i * bs]);
}

template <class T, class F, class Tail>
inline void map1(const T* a, T* out, int64_t n, F f, Tail tail) {
  constexpr int64_t W = Vec<T>::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) f(load(a + i)).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = tail(a[i]);
}

template <class T>
inline Vec<T> nan_max(Vec<T> a, Vec<T> b) {
  return xsimd::select(a != a, a, xsimd::select(b != b, b, xsimd::max(a, b)));
}
template <class T>
inline Vec<T> nan_min(Vec<T> a, Vec<T> b) {
  return xsimd::select(a != a, a, xsimd::select(b != b, b, xsimd::min(a, b)));
}

}  // namespace

template <class T>
void binary(BinaryOp op, const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n) {
  auto tail = [op](T x, T y) { return scalar::binary(op, x, y); };
  if constexpr (kSimd<T>) {
    using V = Vec<T>;
    switch (op) {
      case BinaryOp::Add: return map2(a, as, b, bs, out, n, [](V x, V y) { return x + y; }, tail);
      case BinaryOp::Sub: return map2(a, as, b, bs, out, n, [](V x, V y) { return x - y; }, tail);
      case BinaryOp::Mul: return map2(a, as, b, bs, out, n, [](V x, V y) { return x * y; }, tail);
      case BinaryOp::Div: return map2(a, as, b, bs, out, n, [](V x, V y) { return x / y; }, tail);
      case BinaryOp::Max: return map2(a, as, b, bs, out, n, [](V x, V y) { return nan_max(x, y); }, tail);
      case BinaryOp::Min: return map2(a, as, b, bs, out, n, [](V x, V y) { return nan_min(x, y); }, tail);
      case BinaryOp::Pow: break;  // std::pow's special cases are kept exactly: scalar loop
    }
  }
  for (int64_t i = 0; i < n; ++i) out[i] = tail(a[i * as], b[i * bs]);
}

template <class T>
void unary(UnaryOp op, const T* a, T* out, int64_t n) {
  using V = Vec<T>;
  auto tail = [op](T x) { return scalar::unary(op, x); };
  const V one(T(1)), zero(T(0));
  switch (op) {
    case UnaryOp::Neg: return map1(a, out, n, [](V x) { return -x; }, tail);
    case UnaryOp::Exp: return map1(a, out, n, [](V x) { return xsimd::exp(x); }, tail);
    case UnaryOp::Log: return map1(a, out, n, [](V x) { return xsimd::log(x); }, tail);
    case UnaryOp::Sqrt: return map1(a, out, n, [](V x) { return xsimd::sqrt(x); }, tail);
    case UnaryOp::Abs: return map1(a, out, n, [](V x) { return xsimd::abs(x); }, tail);
    case UnaryOp::Sin: return map1(a, out, n, [](V x) { return xsimd::sin(x); }, tail);
    case UnaryOp::Cos: return map1(a, out, n, [](V x) { return xsimd::cos(x); }, tail);
    case UnaryOp::Tanh: return map1(a, out, n, [](V x) { return xsimd::tanh(x); }, tail);
    case UnaryOp::Sigmoid:
      return map1(a, out, n, [one](V x) { return one / (one + xsimd::exp(-x)); }, tail);
    case UnaryOp::Relu: return map1(a, out, n, [zero](V x) { return xsimd::select(x < zero, zero, x); }, tail);
    case UnaryOp::Sign:
      return map1(a, out, n, [one, zero](V x) {
        return xsimd::select(x > zero, one, xsimd::select(x < zero, -one, x));
      }, tail);
    case UnaryOp::Square: return map1(a, out, n, [](V x) { return x * x; }, tail);
    case UnaryOp::Reciprocal: return map1(a, out, n, [one](V x) { return one / x; }, tail);
  }
}

template <class T>
void compare(CompareOp op, const T* a, int64_t as, const T* b, int64_t bs, bool* out, int64_t n) {
  // Comparisons write bytes; the compiler vectorises this loop well enough on its own.
  switch (op) {
    case CompareOp::Eq: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] == b[i * bs]; return;
    case CompareOp::Ne: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] != b[i * bs]; return;
    case CompareOp::Lt: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] < b[i * bs]; return;
    case CompareOp::Le: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] <= b[i * bs]; return;
    case CompareOp::Gt: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] > b[i * bs]; return;
    case CompareOp::Ge: for (int64_t i = 0; i < n; ++i) out[i] = a[i * as] >= b[i * bs]; return;
  }
}

template <class T>
void sigmoid_backward(const T* g, const T* y, T* out, int64_t n) {
  using V = Vec<T>;
  const V one(T(1));
  map2(g, 1, y, 1, out, n, [one](V gv, V yv) { return gv * yv * (one - yv); },
       [](T gs, T ys) { return gs * ys * (T(1) - ys); });
}

template <class T>
void tanh_backward(const T* g, const T* y, T* out, int64_t n) {
  using V = Vec<T>;
  const V one(T(1));
  map2(g, 1, y, 1, out, n, [one](V gv, V yv) { return gv * (one - yv * yv); },
       [](T gs, T ys) { return gs * (T(1) - ys * ys); });
}

template <class T>
void relu_backward(const T* g, const T* x, T* out, int64_t n) {
  using V = Vec<T>;
  const V zero(T(0));
  map2(g, 1, x, 1, out, n, [zero](V gv, V xv) { return xsimd::select(xv > zero, gv, zero); },
       [](T gs, T xs) { return xs > T(0) ? gs : T(0); });
}

template <class T>
void affine(const T* a, T s, T b, T* out, int64_t n) {
  using V = Vec<T>;
  const V vs(s), vb(b);
  map1(a, out, n, [vs, vb](V x) { return x * vs + vb; }, [s, b](T x) { return x * s + b; });
}

template <class T>
void clamp(const T* a, T lo, T hi, T* out, int64_t n) {
  using V = Vec<T>;
  const V vl(lo), vh(hi);
  map1(a, out, n, [vl, vh](V x) { return xsimd::select(x < vl, vl, xsimd::select(x > vh, vh, x)); },
       [lo, hi](T x) { return x < lo ? lo : (x > hi ? hi : x); });
}

template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  using V = Vec<T>;
  const V va(alpha);
  map2(x, 1, y, 1, y, n, [va](V xv, V yv) { return xsimd::fma(va, xv, yv); },
       [alpha](T xs, T ys) { return ys + alpha * xs; });
}

// Reductions keep four registers of partial results, which both hides the add latency
// and sums in a fixed order (the result does not depend on thread timing).
template <class T>
T sum(const T* a, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  V s0(T(0)), s1(T(0)), s2(T(0)), s3(T(0));
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 += load(a + i);
    s1 += load(a + i + W);
    s2 += load(a + i + 2 * W);
    s3 += load(a + i + 3 * W);
  }
  for (; i + W <= n; i += W) s0 += load(a + i);
  T s = xsimd::hadd((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += a[i];
  return s;
}

template <class T>
T dot(const T* a, const T* b, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  V s0(T(0)), s1(T(0)), s2(T(0)), s3(T(0));
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 = xsimd::fma(load(a + i), load(b + i), s0);
    s1 = xsimd::fma(load(a + i + W), load(b + i + W), s1);
    s2 = xsimd::fma(load(a + i + 2 * W), load(b + i + 2 * W), s2);
    s3 = xsimd::fma(load(a + i + 3 * W), load(b + i + 3 * W), s3);
  }
  for (; i + W <= n; i += W) s0 = xsimd::fma(load(a + i), load(b + i), s0);
  T s = xsimd::hadd((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <class T>
T sum_squares(const T* a, int64_t n) {
  return dot(a, a, n);
}

template <class T>
T max(const T* a, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  const T inf = std::numeric_limits<T>::infinity();
  V m(-inf);
  int64_t i = 0;
  for (; i + W <= n; i += W) m = nan_max(m, load(a + i));
  alignas(64) T lanes[W];
  m.store_aligned(lanes);
  T r = -inf;
  for (int64_t k = 0; k < W; ++k) r = scalar::binary(BinaryOp::Max, r, lanes[k]);
  for (; i < n; ++i) r = scalar::binary(BinaryOp::Max, r, a[i]);
  return r;
}

template <class T>
T min(const T* a, int64_t n) {
  using V = Vec<T>;
  constexpr int64_t W = V::size;
  const T inf = std::numeric_limits<T>::infinity();
  V m(inf);
  int64_t i = 0;
  for (; i + W <= n; i += W) m = nan_min(m, load(a + i));
  alignas(64) T lanes[W];
  m.store_aligned(lanes);
  T r = inf;
  for (int64_t k = 0; k < W; ++k) r = scalar::binary(BinaryOp::Min, r, lanes[k]);
  for (; i < n; ++i) r = scalar::binary(BinaryOp::Min, r, a[i]);
  return r;
}

const char* simd_arch_name() { return xsimd::default_arch::name(); }
int simd_float_lanes() { return static_cast<int>(Vec<float>::size); }

#define AG_INSTANTIATE_FLOAT(T)                                                        \
  template void unary<T>(UnaryOp, const T*, T*, int64_t);                              \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);                  \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);                     \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);                     \
  template void affine<T>(const T*, T, T, T*, int64_t);                                \
  template void clamp<T>(const T*, T, T, T*, int64_t);                                 \
  template void axpy<T>(T, const T*, T*, int64_t);                                     \
  template T sum<T>(const T*, int64_t);                                                \
  template T max<T>(const T*, int64_t);                                                \
  template T min<T>(const T*, int64_t);                                                \
  template T dot<T>(const T*, const T*, int64_t);                                      \
  template T sum_squares<T>(const T*, int64_t);
AG_INSTANTIATE_FLOAT(float)
AG_INSTANTIATE_FLOAT(double)
#undef AG_INSTANTIATE_FLOAT
template void binary<float>(BinaryOp, const float*, int64_t, const float*, int64_t, float*, int64_t);
template void binary<double>(BinaryOp, const double*, int64_t, const double*, int64_t, double*, int64_t);
template void binary<int64_t>(BinaryOp, const int64_t*, int64_t, const int64_t*, int64_t, int64_t*, int64_t);
template void compare<float>(CompareOp, const float*, int64_t, const float*, int64_t, bool*, int64_t);
template void compare<double>(CompareOp, const double*, int64_t, const double*, int64_t, bool*, int64_t);
template void compare<int64_t>(CompareOp, const int64_t*, int64_t, const int64_t*, int64_t, bool*, int64_t);
template void compare<bool>(CompareOp, const bool*, int64_t, const bool*, int64_t, bool*, int64_t);

}  // namespace ag::kernels
