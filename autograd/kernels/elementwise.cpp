// The SIMD elementwise kernels (xsimd). Each loop handles whole registers, then finishes
// with the scalar formula of scalar_ops.hpp, so the tail computes what the reference does.
#include "elementwise.hpp"

#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#endif

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

// Note [streaming stores]
// A plain store to a line that is not in cache first reads that line (write-allocate), so
// out = a + b over arrays larger than the cache moves four streams through memory, not
// three. Non-temporal ("streaming") stores write whole lines straight to memory without
// reading them. They pay only when the output would leave the cache before anyone reads it
// again, so a loop streams when
//   - the output is at least kStreamBytes (beyond what L2 and a fair share of L3 keep),
//   - the op is light (arithmetic, selects, sqrt, division): measured on Zen 3, streaming
//     made the transcendental ones (exp, log, tanh, sigmoid) slower by a third at 16M
//     floats, so they keep plain stores,
//   - the output overlaps no input (in-place updates gain nothing: their lines are
//     already in cache when they are written),
//   - out is aligned to the register size, so that registers hold the same elements
//     [kW, (k+1)W) as in the plain loop: some xsimd functions (sin, cos) pick their range
//     reduction by testing all lanes of a register, so an element's result may depend on
//     its neighbours in the register, and both loops must group elements alike,
//   - the target has a streaming store for the register (x86: SSE2 / AVX / AVX-512);
// otherwise the plain loop runs. Both loops compute every element with the same register
// grouping or the same scalar tail, so the results are bitwise the same whichever loop
// runs. Streaming stores are weakly ordered: the loop ends with an sfence.
constexpr int64_t kStreamBytes = int64_t{8} << 20;  // 2M floats: a quarter of a 32 MB L3

// The register's size in bytes tells which streaming store fits: xsimd's default arch is
// the widest the compiler enables, so 64 bytes means AVX-512, 32 AVX, 16 SSE2.
template <class T>
constexpr size_t kRegBytes = Vec<T>::size * sizeof(T);

template <class T>
constexpr bool can_stream() {
  if constexpr (!std::is_same_v<T, float> && !std::is_same_v<T, double>) return false;
#if defined(__AVX512F__)
  if constexpr (kRegBytes<T> == 64) return true;
#endif
#if defined(__AVX__)
  if constexpr (kRegBytes<T> == 32) return true;
#endif
#if defined(__SSE2__)
  if constexpr (kRegBytes<T> == 16) return true;
#endif
  return false;
}

// p is aligned to the register's size (the streaming loop aligns out to 64 bytes).
template <class T>
inline void stream_store(T* p, const Vec<T>& v) {
  constexpr bool f = std::is_same_v<T, float>;
#if defined(__AVX512F__)
  if constexpr (kRegBytes<T> == 64) {
    if constexpr (f) _mm512_stream_ps(p, v); else _mm512_stream_pd(p, v);
    return;
  }
#endif
#if defined(__AVX__)
  if constexpr (kRegBytes<T> == 32) {
    if constexpr (f) _mm256_stream_ps(p, v); else _mm256_stream_pd(p, v);
    return;
  }
#endif
#if defined(__SSE2__)
  if constexpr (kRegBytes<T> == 16) {
    if constexpr (f) _mm_stream_ps(p, v); else _mm_stream_pd(p, v);
    return;
  }
#endif
  v.store_aligned(p);  // not reached when can_stream<T>()
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// [p, p + n) and [q, q + m) share no byte.
template <class T>
inline bool disjoint(const T* p, int64_t n, const T* q, int64_t m) {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(q);
  return a + static_cast<uintptr_t>(n) * sizeof(T) <= b || b + static_cast<uintptr_t>(m) * sizeof(T) <= a;
}

// The one loop behind every elementwise kernel: vec(i) computes out[i, i + W) as a
// register, scal(i) computes out[i]. Elements [0, n - n % W) come from vec, the rest from
// scal, on both paths. `may_stream`: the caller's word that out overlaps no input and that
// the op is light (Note [streaming stores]).
// `Unroll`: registers per step of the plain loop (2 for the two-operand kernels, as before;
// 1 for the one-operand ones, where the transcendental functions need all the registers).
// `Stream = false` leaves the streaming loop out altogether.
template <int Unroll, bool Stream = true, class T, class VecAt, class ScalarAt>
inline void drive(T* out, int64_t n, bool may_stream, VecAt vec, ScalarAt scal) {
  constexpr int64_t W = Vec<T>::size;
  const int64_t end = n - n % W;
  int64_t i = 0;
  if constexpr (Stream && can_stream<T>()) {
    // Registers per 64-byte line: each step of the body fills whole lines, which is what
    // the write-combining buffers want.
    constexpr int64_t U = W * sizeof(T) >= 64 ? 1 : 64 / (W * sizeof(T));
    constexpr int64_t kMinEnd = 64 / sizeof(T) + U * W;  // room for the head and one step
    const auto addr = reinterpret_cast<uintptr_t>(out);
    if (may_stream && n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes && end >= kMinEnd &&
        addr % (W * sizeof(T)) == 0) {
      // Head: whole registers, plain stores, up to the first 64-byte boundary of out.
      const int64_t head = static_cast<int64_t>((64 - (addr & 63)) & 63) / static_cast<int64_t>(sizeof(T));
      for (; i < head; i += W) vec(i).store_unaligned(out + i);
      // Body: whole lines, streamed.
      for (; i + U * W <= end; i += U * W) {
        Vec<T> r[U];
        for (int64_t u = 0; u < U; ++u) r[u] = vec(i + u * W);
        for (int64_t u = 0; u < U; ++u) stream_store(out + i + u * W, r[u]);
      }
      stream_fence();
      for (; i < end; i += W) vec(i).store_unaligned(out + i);
      for (; i < n; ++i) out[i] = scal(i);
      return;
    }
  }
  if constexpr (Unroll == 2) {
    for (; i + 2 * W <= end; i += 2 * W) {
      auto r0 = vec(i);
      auto r1 = vec(i + W);
      r0.store_unaligned(out + i);
      r1.store_unaligned(out + i + W);
    }
  }
  for (; i < end; i += W) vec(i).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = scal(i);
}

// Runs f over registers of a and b (stride 1 = vector, 0 = broadcast scalar), then
// `tail` for the remaining elements.
template <class T, class F, class Tail>
inline void map2(const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n, F f, Tail tail) {
  const bool may_stream = disjoint(out, n, a, as == 1 ? n : 1) && disjoint(out, n, b, bs == 1 ? n : 1);
  if (as == 1 && bs == 1) {
    drive<2>(out, n, may_stream, [&](int64_t i) { return f(load(a + i), load(b + i)); },
          [&](int64_t i) { return tail(a[i], b[i]); });
  } else if (as == 1) {
    const Vec<T> vb(b[0]);
    drive<2>(out, n, may_stream, [&](int64_t i) { return f(load(a + i), vb); },
          [&](int64_t i) { return tail(a[i], b[0]); });
  } else if (bs == 1) {
    const Vec<T> va(a[0]);
    drive<2>(out, n, may_stream, [&](int64_t i) { return f(va, load(b + i)); },
          [&](int64_t i) { return tail(a[0], b[i]); });
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = tail(a[0], b[0]);
  }
}

// `Light`: f is cheap enough that the loop is bound by memory, so it may stream (see Note
// [streaming stores]); the transcendental functions pass false.
template <bool Light = true, class T, class F, class Tail>
inline void map1(const T* a, T* out, int64_t n, F f, Tail tail) {
  drive<1, Light>(out, n, Light && disjoint(out, n, a, n), [&](int64_t i) { return f(load(a + i)); },
                  [&](int64_t i) { return tail(a[i]); });
}

// xsimd::tanh (8.x) without its branches: it tests any()/all() lanes below 5/8 to skip one
// of its two formulas, and on mixed data those branches mispredict about one register in
// four. Here both formulas always run and the same select picks, so the results are
// bitwise those of xsimd::tanh. Other xsimd versions get xsimd::tanh itself.
template <class T>
inline Vec<T> tanh_branchless(const Vec<T>& self) {
#if XSIMD_VERSION_MAJOR == 8
  using V = Vec<T>;
  const V one(T(1));
  const V x = xsimd::abs(self);
  const auto small = x < V(T(0.625));
  const V z = xsimd::kernel::detail::tanh_kernel<V>::tanh(x);
  const V r = xsimd::fma(V(T(-2)), one / (one + xsimd::exp(x + x)), one);
  return xsimd::select(small, z, r) ^ xsimd::bitofsign(self);
#else
  return xsimd::tanh(self);
#endif
}

// NaN propagates, as in scalar::binary. xsimd::isnan, not `a != a`: on AVX and AVX-512
// xsimd's != is the ordered compare (_CMP_NEQ_OQ), false when either side is NaN.
template <class T>
inline Vec<T> nan_max(Vec<T> a, Vec<T> b) {
  return xsimd::select(xsimd::isnan(a), a, xsimd::select(xsimd::isnan(b), b, xsimd::max(a, b)));
}
template <class T>
inline Vec<T> nan_min(Vec<T> a, Vec<T> b) {
  return xsimd::select(xsimd::isnan(a), a, xsimd::select(xsimd::isnan(b), b, xsimd::min(a, b)));
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
    // Flip the sign bit: xsimd 8's AVX-512 negation computes 0 - x, which turns -0 into +0.
    case UnaryOp::Neg: return map1(a, out, n, [](V x) { return xsimd::bitwise_xor(x, V(T(-0.0))); }, tail);
    // The transcendental functions are bound by arithmetic, not memory: no streaming.
    case UnaryOp::Exp: return map1<false>(a, out, n, [](V x) { return xsimd::exp(x); }, tail);
    case UnaryOp::Log: return map1<false>(a, out, n, [](V x) { return xsimd::log(x); }, tail);
    case UnaryOp::Sqrt: return map1(a, out, n, [](V x) { return xsimd::sqrt(x); }, tail);
    case UnaryOp::Abs: return map1(a, out, n, [](V x) { return xsimd::abs(x); }, tail);
    case UnaryOp::Sin: return map1<false>(a, out, n, [](V x) { return xsimd::sin(x); }, tail);
    case UnaryOp::Cos: return map1<false>(a, out, n, [](V x) { return xsimd::cos(x); }, tail);
    case UnaryOp::Tanh: return map1<false>(a, out, n, [](V x) { return tanh_branchless<T>(x); }, tail);
    case UnaryOp::Sigmoid:
      return map1<false>(a, out, n, [one](V x) { return one / (one + xsimd::exp(-x)); }, tail);
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
