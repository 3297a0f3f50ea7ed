// The SIMD kernels against their scalar twins (kernels/reference.hpp), for float and
// double, on sizes that exercise the SIMD body and every length of scalar tail; GEMM
// against the triple loop; softmax rows against the double-precision reference; and mm
// on strided views against mm on contiguous copies.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/reference.hpp"
#include "kernels/scalar_ops.hpp"
#include "kernels/softmax.hpp"

namespace k = ag::kernels;
namespace ref = ag::kernels::reference;

namespace {

const std::vector<int64_t> kSizes = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 1000, 1027};
// (a_stride, b_stride): vector/vector, vector/scalar, scalar/vector, scalar/scalar.
const std::vector<std::pair<int64_t, int64_t>> kStrides = {{1, 1}, {1, 0}, {0, 1}, {0, 0}};

template <class T>
std::vector<T> random_vec(int64_t n, double lo, double hi, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<T>(d(gen));
  return v;
}

// Bitwise equality, with any NaN equal to any NaN.
template <class T>
bool same(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
::testing::AssertionResult all_same(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i)
    if (!same(got[i], want[i]))
      return ::testing::AssertionFailure() << "element " << i << " of " << got.size() << ": got " << got[i]
                                           << ", reference " << want[i];
  return ::testing::AssertionSuccess();
}

// |got - want| <= rtol * |want| + atol elementwise; NaN only where the reference has NaN,
// infinities equal.
template <class T>
::testing::AssertionResult all_close(const std::vector<T>& got, const std::vector<T>& want, double rtol, double atol) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g)) ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g)) ok = g == w;
    else ok = std::fabs(g - w) <= rtol * std::fabs(w) + atol;
    if (!ok)
      return ::testing::AssertionFailure() << "element " << i << " of " << got.size() << ": got " << g
                                           << ", reference " << w << " (diff " << std::fabs(g - w) << ")";
  }
  return ::testing::AssertionSuccess();
}

template <class T>
constexpr double kEps = std::numeric_limits<T>::epsilon();

const char* name(k::BinaryOp op) {
  static const char* n[] = {"add", "sub", "mul", "div", "max", "min", "pow"};
  return n[static_cast<int>(op)];
}
const char* name(k::UnaryOp op) {
  static const char* n[] = {"neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid",
                            "relu", "sign", "square", "reciprocal"};
  return n[static_cast<int>(op)];
}

template <class T>
class Kernels : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Kernels, FloatTypes);

}  // namespace

// ---- binary -------------------------------------------------------------------------------
TYPED_TEST(Kernels, BinaryExactAllStrides) {
  using T = TypeParam;
  const k::BinaryOp ops[] = {k::BinaryOp::Add, k::BinaryOp::Sub, k::BinaryOp::Mul, k::BinaryOp::Div,
                             k::BinaryOp::Max, k::BinaryOp::Min, k::BinaryOp::Pow};
  for (int64_t n : kSizes) {
    auto a = random_vec<T>(n, -3.0, 3.0, 1 + n), b = random_vec<T>(n + 1, -3.0, 3.0, 2 + n);
    auto pa = random_vec<T>(n + 1, 0.1, 3.0, 3 + n);  // positive bases for pow
    for (auto op : ops) {
      const auto& A = op == k::BinaryOp::Pow ? pa : a;
      for (auto [as, bs] : kStrides) {
        SCOPED_TRACE(::testing::Message() << name(op) << " n=" << n << " strides " << as << "/" << bs);
        if ((as == 0 || bs == 0) && n == 0) continue;  // a broadcast operand holds one element
        std::vector<T> got(n), want(n);
        k::binary<T>(op, A.data(), as, b.data(), bs, got.data(), n);
        ref::binary<T>(op, A.data(), as, b.data(), bs, want.data(), n);
        EXPECT_TRUE(all_same(got, want));
        // Independent of the reference, on a few elements.
        for (int64_t i = 0; i < std::min<int64_t>(n, 3); ++i) {
          const T x = A[i * as], y = b[i * bs];
          T e = 0;
          switch (op) {
            case k::BinaryOp::Add: e = x + y; break;
            case k::BinaryOp::Sub: e = x - y; break;
            case k::BinaryOp::Mul: e = x * y; break;
            case k::BinaryOp::Div: e = x / y; break;
            case k::BinaryOp::Max: e = std::max(x, y); break;
            case k::BinaryOp::Min: e = std::min(x, y); break;
            case k::BinaryOp::Pow: e = std::pow(x, y); break;
          }
          EXPECT_EQ(got[i], e) << "element " << i;
        }
      }
    }
  }
}

TYPED_TEST(Kernels, BinaryInPlaceAlias) {
  using T = TypeParam;
  for (int64_t n : {17, 1027}) {
    auto a = random_vec<T>(n, -3.0, 3.0, 7), b = random_vec<T>(n, -3.0, 3.0, 8);
    std::vector<T> want(n);
    ref::binary<T>(k::BinaryOp::Mul, a.data(), 1, b.data(), 1, want.data(), n);
    k::binary<T>(k::BinaryOp::Mul, a.data(), 1, b.data(), 1, a.data(), n);  // out aliases a
    EXPECT_TRUE(all_same(a, want));
  }
}

TYPED_TEST(Kernels, MaxMinPropagateNaN) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (int64_t n : kSizes) {
    if (n == 0) continue;
    auto a = random_vec<T>(n, -3.0, 3.0, 11), b = random_vec<T>(n, -3.0, 3.0, 12);
    // NaN on either side, in the SIMD body and in the tail; infinities and ties elsewhere.
    for (int64_t i = 0; i < n; i += 5) a[i] = nan;
    for (int64_t i = 2; i < n; i += 7) b[i] = nan;
    for (int64_t i = 3; i < n; i += 11) a[i] = -inf;
    for (int64_t i = 4; i < n; i += 13) b[i] = a[i];
    a[n - 1] = nan;
    for (auto op : {k::BinaryOp::Max, k::BinaryOp::Min}) {
      for (auto [as, bs] : kStrides) {
        SCOPED_TRACE(::testing::Message() << name(op) << " n=" << n << " strides " << as << "/" << bs);
        std::vector<T> got(n), want(n);
        k::binary<T>(op, a.data(), as, b.data(), bs, got.data(), n);
        ref::binary<T>(op, a.data(), as, b.data(), bs, want.data(), n);
        EXPECT_TRUE(all_same(got, want));
        int64_t lost = 0, first = -1;
        for (int64_t i = 0; i < n; ++i)
          if ((std::isnan(a[i * as]) || std::isnan(b[i * bs])) && !std::isnan(got[i]) && lost++ == 0) first = i;
        EXPECT_EQ(lost, 0) << "NaN inputs gave non-NaN results, the first at element " << first;
      }
    }
    // Reductions: NaN wins.
    EXPECT_TRUE(std::isnan(k::max<T>(a.data(), n)));
    EXPECT_TRUE(std::isnan(k::min<T>(a.data(), n)));
  }
  // Reductions with a NaN inside the SIMD body, followed by numbers in the same lanes.
  auto a = random_vec<T>(64, -2.0, 2.0, 150);
  a[0] = std::numeric_limits<T>::quiet_NaN();
  EXPECT_TRUE(std::isnan(ref::max<T>(a.data(), 64)));
  EXPECT_TRUE(std::isnan(k::max<T>(a.data(), 64))) << "max lost a NaN";
  EXPECT_TRUE(std::isnan(k::min<T>(a.data(), 64))) << "min lost a NaN";
}

// ---- unary --------------------------------------------------------------------------------
TYPED_TEST(Kernels, UnaryExact) {
  using T = TypeParam;
  const k::UnaryOp ops[] = {k::UnaryOp::Neg,    k::UnaryOp::Abs,   k::UnaryOp::Relu,      k::UnaryOp::Sqrt,
                            k::UnaryOp::Square, k::UnaryOp::Sign,  k::UnaryOp::Reciprocal};
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (int64_t n : kSizes) {
    auto a = random_vec<T>(n, -5.0, 5.0, 20 + n);
    // Special values spread through body and tail.
    const T specials[] = {T(0), -T(0), nan, inf, -inf, T(1e-30), -T(1e-30)};
    for (int64_t i = 0; i < n; i += 6) a[i] = specials[(i / 6) % 7];
    for (auto op : ops) {
      SCOPED_TRACE(::testing::Message() << name(op) << " n=" << n);
      std::vector<T> got(n), want(n);
      k::unary<T>(op, a.data(), got.data(), n);
      ref::unary<T>(op, a.data(), want.data(), n);
      EXPECT_TRUE(all_same(got, want));
      if (op == k::UnaryOp::Relu)
        for (int64_t i = 0; i < n; ++i) {
          if (std::isnan(a[i])) EXPECT_TRUE(std::isnan(got[i])) << "relu must propagate NaN, element " << i;
          else EXPECT_EQ(got[i], a[i] > 0 ? a[i] : T(0));
        }
    }
  }
}

TYPED_TEST(Kernels, UnaryTranscendental) {
  using T = TypeParam;
  struct Case {
    k::UnaryOp op;
    double lo, hi, rtol_ulps, atol;  // atol in units of eps (for results near zero)
  };
  // Ranges where the results are normal numbers (SIMD exp may flush denormals).
  const Case cases[] = {
      {k::UnaryOp::Exp, -20, 20, 4, 0},       {k::UnaryOp::Log, 1e-3, 1e3, 4, 1},
      {k::UnaryOp::Sin, -10, 10, 4, 1},       {k::UnaryOp::Cos, -10, 10, 4, 1},
      {k::UnaryOp::Tanh, -10, 10, 4, 1},      {k::UnaryOp::Sigmoid, -30, 30, 4, 0},
  };
  for (const Case& c : cases) {
    for (int64_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << name(c.op) << " n=" << n);
      auto a = random_vec<T>(n, c.lo, c.hi, 40 + n);
      std::vector<T> got(n), want(n);
      k::unary<T>(c.op, a.data(), got.data(), n);
      ref::unary<T>(c.op, a.data(), want.data(), n);
      EXPECT_TRUE(all_close(got, want, c.rtol_ulps * kEps<T>, c.atol * kEps<T>));
    }
  }
  // Special values agree exactly where the result is defined by IEEE.
  const T inf = std::numeric_limits<T>::infinity();
  std::vector<T> sp = {T(0), inf, -inf, std::numeric_limits<T>::quiet_NaN()};
  for (auto op : {k::UnaryOp::Exp, k::UnaryOp::Tanh, k::UnaryOp::Sigmoid, k::UnaryOp::Log}) {
    SCOPED_TRACE(name(op));
    std::vector<T> in(sp), got(in.size()), want(in.size());
    // Pad past one register so the specials also go through the SIMD body.
    for (int i = 0; i < 64; ++i) in.push_back(sp[i % sp.size()]);
    got.resize(in.size());
    want.resize(in.size());
    k::unary<T>(op, in.data(), got.data(), static_cast<int64_t>(in.size()));
    ref::unary<T>(op, in.data(), want.data(), static_cast<int64_t>(in.size()));
    EXPECT_TRUE(all_close(got, want, 4 * kEps<T>, 0));
  }
}

// ---- compare ------------------------------------------------------------------------------
TYPED_TEST(Kernels, CompareAllStrides) {
  using T = TypeParam;
  const k::CompareOp ops[] = {k::CompareOp::Eq, k::CompareOp::Ne, k::CompareOp::Lt,
                              k::CompareOp::Le, k::CompareOp::Gt, k::CompareOp::Ge};
  const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  for (int64_t n : kSizes) {
    auto a = random_vec<T>(n + 1, -2.0, 2.0, 60 + n), b = random_vec<T>(n + 1, -2.0, 2.0, 61 + n);
    for (int64_t i = 0; i < n; i += 3) b[i] = a[i];  // ties
    for (int64_t i = 1; i < n; i += 9) a[i] = std::numeric_limits<T>::quiet_NaN();
    for (auto op : ops) {
      for (auto [as, bs] : kStrides) {
        SCOPED_TRACE(::testing::Message() << names[static_cast<int>(op)] << " n=" << n << " strides " << as << "/" << bs);
        std::vector<char> got(n + 1, 2), want(n + 1, 2);  // bool-sized, sentinel past the end
        k::compare<T>(op, a.data(), as, b.data(), bs, reinterpret_cast<bool*>(got.data()), n);
        ref::compare<T>(op, a.data(), as, b.data(), bs, reinterpret_cast<bool*>(want.data()), n);
        EXPECT_EQ(got, want);
        EXPECT_EQ(got[n], 2) << "wrote past the end";
      }
    }
  }
}

// ---- fused derivatives, affine, clamp, axpy -----------------------------------------------
TYPED_TEST(Kernels, FusedBackward) {
  using T = TypeParam;
  for (int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    auto g = random_vec<T>(n, -2.0, 2.0, 80 + n), y = random_vec<T>(n, -1.0, 1.0, 81 + n);
    for (int64_t i = 0; i < n; i += 4) y[i] = T(0);  // relu's kink: x = 0 gives 0
    std::vector<T> got(n), want(n);
    k::relu_backward<T>(g.data(), y.data(), got.data(), n);
    ref::relu_backward<T>(g.data(), y.data(), want.data(), n);
    EXPECT_TRUE(all_same(got, want));
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(got[i], y[i] > 0 ? g[i] : T(0));
    k::sigmoid_backward<T>(g.data(), y.data(), got.data(), n);
    ref::sigmoid_backward<T>(g.data(), y.data(), want.data(), n);
    EXPECT_TRUE(all_close(got, want, 2 * kEps<T>, 2 * kEps<T>));
    k::tanh_backward<T>(g.data(), y.data(), got.data(), n);
    ref::tanh_backward<T>(g.data(), y.data(), want.data(), n);
    EXPECT_TRUE(all_close(got, want, 2 * kEps<T>, 2 * kEps<T>));
  }
}

TYPED_TEST(Kernels, AffineClampAxpy) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    auto a = random_vec<T>(n, -3.0, 3.0, 90 + n);
    std::vector<T> got(n), want(n);
    // Exactly representable scale and shift: x * s + b is exact with or without FMA.
    k::affine<T>(a.data(), T(2), T(-0.5), got.data(), n);
    ref::affine<T>(a.data(), T(2), T(-0.5), want.data(), n);
    EXPECT_TRUE(all_same(got, want));
    // General scale and shift: FMA contraction may differ by one rounding.
    k::affine<T>(a.data(), T(0.3), T(-1.7), got.data(), n);
    ref::affine<T>(a.data(), T(0.3), T(-1.7), want.data(), n);
    EXPECT_TRUE(all_close(got, want, 2 * kEps<T>, 2 * kEps<T>));
    for (int64_t i = 0; i < n; i += 5) a[i] = nan;
    k::clamp<T>(a.data(), T(-1), T(1.5), got.data(), n);
    ref::clamp<T>(a.data(), T(-1), T(1.5), want.data(), n);
    EXPECT_TRUE(all_same(got, want));
    for (int64_t i = 0; i < n; ++i)
      if (!std::isnan(a[i])) EXPECT_EQ(got[i], std::min(std::max(a[i], T(-1)), T(1.5)));
      else EXPECT_TRUE(std::isnan(got[i]));
    auto x = random_vec<T>(n, -3.0, 3.0, 91 + n), y1 = random_vec<T>(n, -3.0, 3.0, 92 + n), y2 = y1;
    k::axpy<T>(T(0.75), x.data(), y1.data(), n);
    ref::axpy<T>(T(0.75), x.data(), y2.data(), n);
    EXPECT_TRUE(all_close(y1, y2, 2 * kEps<T>, 4 * kEps<T>));
  }
}

// ---- reductions ---------------------------------------------------------------------------
TYPED_TEST(Kernels, Reductions) {
  using T = TypeParam;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    auto a = random_vec<T>(n, -2.0, 2.0, 100 + n), b = random_vec<T>(n, -2.0, 2.0, 101 + n);
    double abs_sum = 0, abs_dot = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      abs_sum += std::fabs(a[i]);
      abs_dot += std::fabs(static_cast<double>(a[i]) * b[i]);
      sq += static_cast<double>(a[i]) * a[i];
    }
    EXPECT_NEAR(k::sum<T>(a.data(), n), ref::sum<T>(a.data(), n), tol * abs_sum + 1e-30);
    EXPECT_NEAR(k::dot<T>(a.data(), b.data(), n), ref::dot<T>(a.data(), b.data(), n), tol * abs_dot + 1e-30);
    EXPECT_NEAR(k::sum_squares<T>(a.data(), n), ref::sum_squares<T>(a.data(), n), tol * sq + 1e-30);
    EXPECT_EQ(k::max<T>(a.data(), n), ref::max<T>(a.data(), n));
    EXPECT_EQ(k::min<T>(a.data(), n), ref::min<T>(a.data(), n));
    if (n > 0) {
      EXPECT_EQ(k::max<T>(a.data(), n), *std::max_element(a.begin(), a.end()));
      EXPECT_EQ(k::min<T>(a.data(), n), *std::min_element(a.begin(), a.end()));
    } else {
      EXPECT_EQ(k::sum<T>(a.data(), 0), T(0));
      EXPECT_EQ(k::max<T>(a.data(), 0), -std::numeric_limits<T>::infinity());
    }
  }
  // A known sum: 1 + 2 + ... + 1027.
  std::vector<T> c(1027);
  for (int i = 0; i < 1027; ++i) c[i] = T(i + 1);
  EXPECT_EQ(k::sum<T>(c.data(), 1027), T(1027 * 1028 / 2));
}

// ---- GEMM ---------------------------------------------------------------------------------
namespace {
struct Dims {
  int64_t M, N, K;
};
// ~20 triples over {1, 3, 17, 63, 65, 257}, odd ones included, plus one N past the
// kernel's N block (1024) and one K past its K block (256).
const Dims kGemmDims[] = {{1, 1, 1},    {1, 3, 17},   {3, 1, 63},   {17, 3, 1},   {3, 17, 65},
                          {17, 17, 17}, {63, 65, 3},  {65, 63, 17}, {1, 257, 3},  {257, 1, 17},
                          {3, 65, 257}, {17, 257, 1}, {63, 3, 257}, {65, 65, 65}, {257, 17, 3},
                          {1, 63, 65},  {65, 1, 257}, {17, 63, 63}, {3, 3, 3},    {2, 1030, 5},
                          {3, 5, 600}};

template <class T>
void check_gemm(const Dims& d, bool ta, bool tb, T alpha, T beta, int64_t pad, uint64_t seed) {
  const int64_t M = d.M, N = d.N, K = d.K;
  // Stored shapes: A is M x K (or K x M when transposed), B is K x N (or N x K); each
  // row is padded by `pad` elements (leading dimension larger than the row).
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  auto A = random_vec<T>(ar * lda, -1.0, 1.0, seed), B = random_vec<T>(br * ldb, -1.0, 1.0, seed + 1);
  auto C0 = random_vec<T>(M * ldc, -1.0, 1.0, seed + 2);
  if (beta == T(0))
    for (auto& c : C0) c = std::numeric_limits<T>::quiet_NaN();  // beta 0: C must not be read
  auto C = C0, R = C0;
  k::gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  ref::gemm<T>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
  // Error bound of a length-K dot product accumulated in T: (K + 2) eps Σ|a||b|.
  const double eps = kEps<T>;
  int bad = 0;
  for (int64_t i = 0; i < M && bad < 5; ++i) {
    for (int64_t j = 0; j < N && bad < 5; ++j) {
      double mag = 0;
      for (int64_t kk = 0; kk < K; ++kk) {
        const double a = ta ? A[kk * lda + i] : A[i * lda + kk];
        const double b = tb ? B[j * ldb + kk] : B[kk * ldb + j];
        mag += std::fabs(a * b);
      }
      const double c0 = beta == T(0) ? 0.0 : std::fabs(static_cast<double>(beta) * C0[i * ldc + j]);
      const double tol = (K + 2) * eps * (std::fabs(static_cast<double>(alpha)) * mag + c0) + 1e-300;
      const double got = C[i * ldc + j], want = R[i * ldc + j];
      if (!(std::fabs(got - want) <= tol)) {
        ADD_FAILURE() << "C[" << i << "][" << j << "] = " << got << ", reference " << want << " (tol " << tol << ")";
        ++bad;
      }
    }
    // The padding of C is left alone.
    for (int64_t j = N; j < ldc; ++j)
      if (!same(C[i * ldc + j], C0[i * ldc + j])) {
        ADD_FAILURE() << "padding C[" << i << "][" << j << "] was written";
        ++bad;
      }
  }
}
}  // namespace

TYPED_TEST(Kernels, GemmAgainstReference) {
  using T = TypeParam;
  uint64_t seed = 500;
  for (const Dims& d : kGemmDims) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      SCOPED_TRACE(::testing::Message() << "M=" << d.M << " N=" << d.N << " K=" << d.K << " trans_a=" << ta
                                        << " trans_b=" << tb);
      check_gemm<T>(d, ta, tb, T(1.5), T(-0.75), 3, seed++);  // alpha, beta != 1, strided
      check_gemm<T>(d, ta, tb, T(1), T(0), 0, seed++);        // beta 0: C is write-only
    }
  }
}

TYPED_TEST(Kernels, GemmEdgeCases) {
  using T = TypeParam;
  // alpha 0 and K 0: C = beta C.
  check_gemm<T>({5, 7, 9}, false, false, T(0), T(2), 1, 900);
  check_gemm<T>({5, 7, 0}, true, false, T(1.5), T(0.5), 2, 901);
  check_gemm<T>({4, 6, 0}, false, true, T(1), T(0), 0, 902);
  // beta 1 accumulates.
  check_gemm<T>({17, 33, 65}, false, false, T(1), T(1), 1, 903);
  // A known product: [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
  const T A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8};
  T C[4] = {};
  k::gemm<T>(false, false, 2, 2, 2, T(1), A, 2, B, 2, T(0), C, 2);
  EXPECT_EQ(C[0], 19);
  EXPECT_EQ(C[1], 22);
  EXPECT_EQ(C[2], 43);
  EXPECT_EQ(C[3], 50);
  k::gemm<T>(true, true, 2, 2, 2, T(1), A, 2, B, 2, T(0), C, 2);  // Aᵀ Bᵀ = (B A)ᵀ
  EXPECT_EQ(C[0], 23);
  EXPECT_EQ(C[1], 31);
  EXPECT_EQ(C[2], 34);
  EXPECT_EQ(C[3], 46);
}

// ---- softmax ------------------------------------------------------------------------------
TYPED_TEST(Kernels, SoftmaxRows) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  for (int64_t cols : {1, 3, 16, 17, 100, 1027}) {
    const int64_t rows = 4;
    auto x = random_vec<T>(rows * cols, -5.0, 5.0, 300 + cols);
    // Row 1: very large values (a plain exp would overflow). Row 2: -inf entries.
    for (int64_t c = 0; c < cols; ++c) x[1 * cols + c] = static_cast<T>(1e4) + x[1 * cols + c];
    for (int64_t c = 0; c < cols; c += 2) x[2 * cols + c] = -inf;
    if (cols > 1) x[2 * cols + 1] = 0;  // the row keeps one finite entry
    for (bool log : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "cols=" << cols << (log ? " log_softmax" : " softmax"));
      std::vector<T> got(rows * cols), want(rows * cols);
      k::softmax_rows<T>(x.data(), got.data(), rows, cols, log);
      ref::softmax_rows<T>(x.data(), want.data(), rows, cols, log);
      // softmax: relative error of a few ulp per element; log_softmax: the absolute error
      // of log(sum) (its values are differences of O(|x|) numbers).
      const double atol = log ? 16 * kEps<T> * std::log(static_cast<double>(cols) + 1) + 8 * kEps<T> : 8 * kEps<T>;
      EXPECT_TRUE(all_close(got, want, 8 * kEps<T>, atol));
      if (!log && cols > 1) {  // (with one column, row 2 is all -inf: NaN)
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0;
          for (int64_t c = 0; c < cols; ++c) s += got[r * cols + c];
          EXPECT_NEAR(s, 1.0, 4 * cols * kEps<T>) << "row " << r;
        }
        for (int64_t c = 0; c < cols; c += 2) EXPECT_EQ(got[2 * cols + c], T(0)) << "exp(-inf) is 0";
      }
    }
  }
}

TYPED_TEST(Kernels, LogSoftmaxLargeEqualLogits) {
  using T = TypeParam;
  // Two equal logits of 1e8: log_softmax is -log 2 whatever the shift. Computing
  // x + (-max - lse) in one step loses lse to the rounding of max + lse.
  const T x[] = {T(1e8), T(1e8)};
  T y[2];
  k::softmax_rows<T>(x, y, 1, 2, true);
  EXPECT_NEAR(y[0], -std::log(2.0), 8 * kEps<T>);
  EXPECT_NEAR(y[1], -std::log(2.0), 8 * kEps<T>);
  const T x3[] = {T(3e7), T(3e7) + T(2), T(3e7) - T(2)};
  T y3[3], r3[3];
  k::softmax_rows<T>(x3, y3, 1, 3, true);
  ref::softmax_rows<T>(x3, r3, 1, 3, true);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(y3[i], r3[i], 1e-5) << i;
}

TYPED_TEST(Kernels, SoftmaxNonFiniteRows) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity();
  // All -inf: 0/0, NaN as in PyTorch and the reference. A +inf entry: NaN likewise.
  const T x[] = {-inf, -inf, -inf, T(1), inf, T(2)};
  for (bool log : {false, true}) {
    T y[6], r[6];
    k::softmax_rows<T>(x, y, 2, 3, log);
    ref::softmax_rows<T>(x, r, 2, 3, log);
    for (int i = 0; i < 6; ++i) {
      EXPECT_TRUE(std::isnan(r[i])) << "reference element " << i;
      EXPECT_TRUE(std::isnan(y[i])) << (log ? "log_softmax" : "softmax") << " element " << i << " = " << y[i];
    }
  }
}

// ---- Tensor level: mm on strided views ----------------------------------------------------
TEST(KernelsTensor, MmOnStridedViewsEqualsContiguous) {
  ag::manual_seed(7);
  for (ag::Dtype dt : {ag::kFloat32, ag::kFloat64}) {
    const ag::TensorOptions o(dt);
    ag::Tensor big = ag::randn({20, 30}, o), other = ag::randn({30, 40}, o), wide = ag::randn({40, 30}, o);
    struct V {
      const char* name;
      ag::Tensor a, b;
    };
    const V views[] = {
        {"transposed a", big.t(), other.slice(0, 0, 20)},                                    // [30x20]·[20x40]
        {"transposed b", big, wide.t()},                                                     // [20x30]·[30x40]
        {"both transposed", other.t(), big.t()},                                             // [40x30]·[30x20]
        {"sliced a (lda > cols)", big.slice(1, 3, 20), other.slice(0, 0, 17)},              // [20x17]·[17x40]
        {"sliced both", big.slice(0, 2, 19).slice(1, 1, 30), other.slice(0, 0, 29).slice(1, 5, 38)},
        {"sliced transposed", big.slice(1, 2, 12).t(), wide.slice(0, 1, 21).slice(1, 4, 9)},  // [10x20]·[20x5]
        {"stepped", big.slice(0, 0, 20, 3).slice(1, 0, 30, 2), other.slice(0, 0, 30, 2).slice(1, 1, 40, 4)},
        {"expanded a", big.slice(0, 0, 1).expand({6, 30}), other},
        {"column times row", big.slice(1, 4, 5), other.slice(0, 7, 8)},                     // [20x1]·[1x40]
        {"row times column", big.slice(0, 4, 5), other.slice(1, 7, 8)},                     // [1x30]·[30x1]
    };
    for (const V& v : views) {
      const ag::Tensor& a = v.a;
      const ag::Tensor& b = v.b;
      SCOPED_TRACE(::testing::Message() << v.name << " " << ag::shape_str(a.shape()) << " strides "
                                        << ag::shape_str(a.strides()) << " x " << ag::shape_str(b.shape()) << " strides "
                                        << ag::shape_str(b.strides()));
      ASSERT_EQ(a.size(1), b.size(0));
      ag::Tensor got = ag::mm(a, b), want = ag::mm(a.contiguous(), b.contiguous());
      ASSERT_EQ(got.shape(), want.shape());
      EXPECT_TRUE(ag::allclose(got, want, 1e-6, 1e-6));
      // And against the triple loop, in double.
      ag::Tensor a64 = a.to(ag::kFloat64).contiguous(), b64 = b.to(ag::kFloat64).contiguous();
      ag::Tensor r = ag::zeros({a.size(0), b.size(1)}, ag::TensorOptions(ag::kFloat64));
      ref::gemm<double>(false, false, a.size(0), b.size(1), a.size(1), 1.0, a64.data_ptr<double>(), a.size(1),
                        b64.data_ptr<double>(), b.size(1), 0.0, r.data_ptr<double>(), b.size(1));
      EXPECT_TRUE(ag::allclose(got.to(ag::kFloat64), r, dt == ag::kFloat32 ? 1e-4 : 1e-12, dt == ag::kFloat32 ? 1e-4 : 1e-12));
    }
    // bmm and matmul on strided batches, and addmm with a broadcast bias.
    ag::Tensor x = ag::randn({3, 5, 4}, o), y = ag::randn({3, 6, 5}, o);
    ag::Tensor xt = x.transpose(1, 2), yt = y.transpose(1, 2);  // [3,4,5] and [3,5,6]
    EXPECT_TRUE(ag::allclose(ag::bmm(xt, yt), ag::bmm(xt.contiguous(), yt.contiguous()), 1e-6, 1e-6));
    EXPECT_TRUE(ag::allclose(ag::matmul(xt, yt), ag::bmm(xt.contiguous(), yt.contiguous()), 1e-6, 1e-6));
    ag::Tensor bias = ag::randn({6}, o);
    ag::Tensor m1 = x.select(0, 1).t(), m2 = y.select(0, 2).t();  // [4,5] and [5,6]
    ag::Tensor want = bias * 0.5 + ag::mm(m1.contiguous(), m2.contiguous()) * 2.0;
    EXPECT_TRUE(ag::allclose(ag::addmm(bias, m1, m2, 0.5, 2.0), want, 1e-5, 1e-5));
  }
}

TEST(KernelsTensor, LogSoftmaxTensorLargeLogits) {
  // Through the op: log_softmax of [1e8, 1e8] in float32 is [-log 2, -log 2].
  ag::Tensor x = ag::tensor({1e8f, 1e8f});
  ag::Tensor y = ag::log_softmax(x, 0);
  EXPECT_NEAR(y.data_ptr<float>()[0], -0.6931472f, 1e-6f);
  EXPECT_NEAR(y.data_ptr<float>()[1], -0.6931472f, 1e-6f);
}

TEST(KernelsTensor, MaxMinNaNThroughOps) {
  // NaN propagates through max()/min()/maximum()/relu as in PyTorch, wherever it sits.
  std::vector<float> v(64);
  for (int i = 0; i < 64; ++i) v[i] = static_cast<float>(i % 7) - 3.0f;
  v[0] = std::numeric_limits<float>::quiet_NaN();
  ag::Tensor x = ag::tensor(v, ag::Shape{64});
  EXPECT_TRUE(std::isnan(ag::max(x).item<float>()));
  EXPECT_TRUE(std::isnan(ag::min(x).item<float>()));
  EXPECT_TRUE(std::isnan(std::get<0>(ag::max(x, 0)).item<float>()));
  EXPECT_TRUE(std::isnan(ag::maximum(x, ag::zeros({64})).data_ptr<float>()[0]));
  EXPECT_TRUE(std::isnan(ag::minimum(ag::zeros({64}), x).data_ptr<float>()[0]));
  EXPECT_TRUE(std::isnan(ag::relu(x).data_ptr<float>()[0]));
}

// ---- softmax cross-entropy (kernels/cross_entropy.hpp) against its scalar twin ----------
#include "kernels/cross_entropy.hpp"

TYPED_TEST(Kernels, CrossEntropyAgainstReference) {
  using T = TypeParam;
  const int64_t rows = 5;
  for (int64_t cols : kSizes) {
    if (cols == 0) continue;
    SCOPED_TRACE(::testing::Message() << "cols=" << cols);
    auto x = random_vec<T>(rows * cols, -20, 20, 11 + cols);
    std::vector<int64_t> target(rows);
    for (int64_t r = 0; r < rows; ++r) target[r] = (r * 7 + 3) % cols;
    std::vector<T> loss(rows), want_loss(rows), stats(2 * rows), want_stats(2 * rows);
    const double total = k::cross_entropy_forward<T>(x.data(), target.data(), rows, cols, loss.data(), stats.data());
    const double want_total =
        ref::cross_entropy_forward<T>(x.data(), target.data(), rows, cols, want_loss.data(), want_stats.data());
    // The loss is (m - x_t) + log s: the absolute error of log s, a few ulp of |x| ~ 20.
    const double atol = 64 * kEps<T> * (1 + std::log(static_cast<double>(cols)));
    EXPECT_TRUE(all_close(loss, want_loss, 8 * kEps<T>, atol));
    EXPECT_TRUE(all_close(stats, want_stats, 8 * kEps<T>, atol));
    EXPECT_NEAR(total, want_total, rows * atol + 1e-12);
    // Without the optional outputs, the same total.
    EXPECT_EQ(k::cross_entropy_forward<T>(x.data(), target.data(), rows, cols, nullptr, nullptr), total);
    // Backward, one upstream gradient (mean: scale 1/N) and one per row (none).
    const std::vector<T> g = {T(0.5), T(-2), T(1), T(3), T(0.25)};
    for (int64_t gs : {0, 1}) {
      const T scale = gs == 0 ? T(1) / T(rows) : T(1);
      std::vector<T> grad(rows * cols), want(rows * cols);
      k::cross_entropy_backward<T>(x.data(), target.data(), stats.data(), g.data(), gs, scale, rows, cols, grad.data());
      ref::cross_entropy_backward<T>(x.data(), target.data(), stats.data(), g.data(), gs, scale, rows, cols, want.data());
      EXPECT_TRUE(all_close(grad, want, 16 * kEps<T>, 16 * kEps<T>)) << "g_stride " << gs;
      // Each row of (softmax - onehot) sums to 0.
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0;
        for (int64_t c = 0; c < cols; ++c) s += grad[r * cols + c];
        EXPECT_NEAR(s, 0.0, 8 * (cols + 1) * kEps<T> * 3) << "row " << r;
      }
    }
  }
}

TYPED_TEST(Kernels, CrossEntropyExtremeAndNonFinite) {
  using T = TypeParam;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // Two equal logits of 1e8: loss log 2 and gradient [0.5, -0.5], however large the shift
  // (m + log s in one number would lose log s).
  {
    const T x[] = {T(1e8), T(1e8)};
    const int64_t t[] = {1};
    T loss[1], stats[2], grad[2];
    const T g[] = {T(1)};
    k::cross_entropy_forward<T>(x, t, 1, 2, loss, stats);
    EXPECT_NEAR(loss[0], std::log(2.0), 8 * kEps<T>);
    k::cross_entropy_backward<T>(x, t, stats, g, 0, T(1), 1, 2, grad);
    EXPECT_NEAR(grad[0], 0.5, 8 * kEps<T>);
    EXPECT_NEAR(grad[1], -0.5, 8 * kEps<T>);
  }
  // A confident right answer: loss exactly 0; a confident wrong one: 200, no overflow.
  {
    const T x[] = {T(100), T(-100), T(-100), T(100)};
    const int64_t t[] = {0, 0};
    T loss[2];
    k::cross_entropy_forward<T>(x, t, 2, 2, loss, nullptr);
    EXPECT_EQ(loss[0], T(0));
    EXPECT_NEAR(loss[1], 200.0, 1e-4);
  }
  // NaN anywhere in a row, or a +inf logit, makes that row's loss NaN (as log_softmax);
  // the other rows are untouched. 17 classes put the NaN in the padded last register.
  {
    const int64_t cols = 17;
    std::vector<T> x(3 * cols, T(0));
    x[16] = nan;
    x[cols + 3] = inf;
    const int64_t t[] = {0, 0, 0};
    T loss[3], want[3];
    k::cross_entropy_forward<T>(x.data(), t, 3, cols, loss, nullptr);
    ref::cross_entropy_forward<T>(x.data(), t, 3, cols, want, nullptr);
    EXPECT_TRUE(std::isnan(loss[0]) && std::isnan(want[0]));
    EXPECT_TRUE(std::isnan(loss[1]) && std::isnan(want[1]));
    EXPECT_NEAR(loss[2], std::log(17.0), 8 * kEps<T>);
  }
}

// Signed integer arithmetic wraps on overflow (as PyTorch's integer kernels do) instead of
// being undefined; INT64_MIN / -1 does not trap. (fuzz_ops: crash-int64-add-overflow.)
TEST(KernelsInt64, OverflowWraps) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> a = {kMax, kMin, kMin, 3, -2, 7, 3};
  const std::vector<int64_t> b = {1, 1, -1, kMax, 63, -1, 41};
  auto run = [&](k::BinaryOp op) {
    std::vector<int64_t> out(a.size());
    k::binary<int64_t>(op, a.data(), 1, b.data(), 1, out.data(), static_cast<int64_t>(a.size()));
    return out;
  };
  EXPECT_EQ(run(k::BinaryOp::Add)[0], kMin);      // MAX + 1
  EXPECT_EQ(run(k::BinaryOp::Sub)[1], kMax);      // MIN - 1
  EXPECT_EQ(run(k::BinaryOp::Mul)[3], kMax - 2);  // 3 MAX = 2^64 + MAX - 2 (mod 2^64)
  EXPECT_EQ(run(k::BinaryOp::Div)[2], kMin);      // MIN / -1 wraps to MIN
  EXPECT_EQ(run(k::BinaryOp::Div)[5], -7);
  EXPECT_EQ(run(k::BinaryOp::Pow)[4], kMin);      // (-2)^63 is exactly MIN
  EXPECT_EQ(run(k::BinaryOp::Pow)[6], static_cast<int64_t>(18026252303461234787ULL));  // 3^41 mod 2^64
  EXPECT_EQ(k::scalar::unary<int64_t>(k::UnaryOp::Neg, kMin), kMin);
  EXPECT_EQ(k::scalar::unary<int64_t>(k::UnaryOp::Abs, kMin), kMin);
  EXPECT_EQ(k::scalar::unary<int64_t>(k::UnaryOp::Square, int64_t{1} << 32), 0);
  // Through the ops: int64 tensors.
  EXPECT_EQ((ag::tensor({kMax}, ag::TensorOptions(ag::kInt64)) + 1).item<int64_t>(), kMin);
  EXPECT_EQ((-ag::tensor({kMin}, ag::TensorOptions(ag::kInt64))).item<int64_t>(), kMin);
}
