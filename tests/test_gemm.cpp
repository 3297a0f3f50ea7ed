// The packed GEMM (autograd/kernels/gemm.cpp) against its scalar reference, on the shapes
// that exercise each of its paths (Note [GEMM blocking]): every size of a last row panel
// (1 to MR - 1 rows, each running its own micro-kernel), last micro-panels of 1 to NR - 1
// columns, several k blocks, several column blocks, B read in place and packed, A read
// in place and packed, the AVX-512 transposed packing and its scalar remainder; the
// epilogue (bias, activations); bitwise-identical results for any number of threads; and
// the tensor-level ops on transposed and strided views. test_kernels.cpp holds the
// original small-shape cases.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"

namespace k = ag::kernels;
namespace ref = ag::kernels::reference;

namespace {

template <class T>
std::vector<T> random_vec(int64_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<T>(d(gen));
  return v;
}

template <class T>
constexpr double kEps = std::numeric_limits<T>::epsilon();

struct Case {
  int64_t M, N, K;
  bool ta, tb;
  double alpha = 1, beta = 0;
  int64_t pad = 0;  // extra elements at the end of every stored row
  k::GemmActivation act = k::GemmActivation::None;
  bool bias = false;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << "M=" << c.M << " N=" << c.N << " K=" << c.K << " trans_a=" << c.ta << " trans_b=" << c.tb
            << " alpha=" << c.alpha << " beta=" << c.beta << " pad=" << c.pad << " act=" << static_cast<int>(c.act)
            << " bias=" << c.bias;
}

template <class T>
struct Problem {
  Case c;
  int64_t lda, ldb, ldc;
  std::vector<T> A, B, C0, bias;
  explicit Problem(const Case& cs, uint64_t seed) : c(cs) {
    const int64_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K, br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
    lda = ac + c.pad;
    ldb = bc + c.pad;
    ldc = c.N + c.pad;
    A = random_vec<T>(ar * lda, seed);
    B = random_vec<T>(br * ldb, seed + 1);
    C0 = random_vec<T>(c.M * ldc, seed + 2);
    bias = random_vec<T>(c.N, seed + 3);
    if (c.beta == 0)
      for (auto& x : C0) x = std::numeric_limits<T>::quiet_NaN();  // beta 0: C must not be read
  }
  k::GemmEpilogue<T> epilogue() const { return {c.bias ? bias.data() : nullptr, c.act}; }
  std::vector<T> run() const {
    std::vector<T> C = C0;
    k::gemm<T>(c.ta, c.tb, c.M, c.N, c.K, static_cast<T>(c.alpha), A.data(), lda, B.data(), ldb,
               static_cast<T>(c.beta), C.data(), ldc, epilogue());
    return C;
  }
  std::vector<T> reference() const {
    std::vector<T> R = C0;
    ref::gemm<T>(c.ta, c.tb, c.M, c.N, c.K, static_cast<T>(c.alpha), A.data(), lda, B.data(), ldb,
                 static_cast<T>(c.beta), R.data(), ldc, epilogue());
    return R;
  }
};

// Checks got against the reference with the error bound of a length-K dot product in T,
// (K + 2) eps (|alpha| Σ|a||b| + |beta c| + |bias|), carried through the activation
// (sigmoid and tanh have slopes at most 1); padding of C must be untouched.
template <class T>
void expect_matches_reference(const Problem<T>& p, const std::vector<T>& got) {
  const Case& c = p.c;
  const std::vector<T> want = p.reference();
  int bad = 0;
  for (int64_t i = 0; i < c.M && bad < 5; ++i) {
    for (int64_t j = 0; j < c.N && bad < 5; ++j) {
      double mag = 0;
      for (int64_t kk = 0; kk < c.K; ++kk) {
        const double a = c.ta ? p.A[kk * p.lda + i] : p.A[i * p.lda + kk];
        const double b = c.tb ? p.B[j * p.ldb + kk] : p.B[kk * p.ldb + j];
        mag += std::fabs(a * b);
      }
      const double c0 = c.beta == 0 ? 0.0 : std::fabs(c.beta * p.C0[i * p.ldc + j]);
      const double b0 = c.bias ? std::fabs(static_cast<double>(p.bias[j])) : 0.0;
      // + a few eps for the activation's own rounding.
      const double tol = (c.K + 2) * kEps<T> * (std::fabs(c.alpha) * mag + c0 + b0) + 8 * kEps<T>;
      const double g = got[i * p.ldc + j], w = want[i * p.ldc + j];
      if (!(std::fabs(g - w) <= tol)) {
        ADD_FAILURE() << c << ": C[" << i << "][" << j << "] = " << g << ", reference " << w << " (tol " << tol << ")";
        ++bad;
      }
    }
    for (int64_t j = c.N; j < p.ldc; ++j) {
      const T g = got[i * p.ldc + j], w = p.C0[i * p.ldc + j];
      if (std::memcmp(&g, &w, sizeof(T)) != 0) {
        ADD_FAILURE() << c << ": padding C[" << i << "][" << j << "] was written";
        ++bad;
      }
    }
  }
}

template <class T>
void check(const Case& c, uint64_t seed) {
  Problem<T> p(c, seed);
  expect_matches_reference(p, p.run());
}

template <class T>
class Gemm : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Gemm, Types);

}  // namespace

// Every height of a last row panel, against two widths that leave last micro-panels of
// a few columns, in all four transpositions.
TYPED_TEST(Gemm, EveryEdgeTile) {
  using T = TypeParam;
  uint64_t seed = 1;
  for (int64_t M = 1; M <= 25; ++M)
    for (int64_t N : {5, 37})
      for (int t = 0; t < 4; ++t) check<T>({M, N, 23, bool(t & 1), bool(t & 2), 1.5, -0.5, 2}, seed++);
}

// Odd sizes around the block sizes (K blocks of at most 384, column blocks of 256, NR of
// 16 or 32), with alpha and beta, strided rows and all transpositions.
TYPED_TEST(Gemm, OddSizesAcrossBlocks) {
  using T = TypeParam;
  struct D {
    int64_t M, N, K;
  };
  const D dims[] = {{1, 1, 1},     {3, 17, 1},    {17, 3, 63},   {63, 65, 257}, {65, 63, 385}, {13, 257, 17},
                    {257, 31, 64}, {31, 33, 800}, {24, 256, 384}, {37, 513, 5}, {100, 300, 33}};
  uint64_t seed = 100;
  for (const D& d : dims)
    for (int t = 0; t < 4; ++t) {
      check<T>({d.M, d.N, d.K, bool(t & 1), bool(t & 2), 1.0, 0.0, 0}, seed++);
      check<T>({d.M, d.N, d.K, bool(t & 1), bool(t & 2), -0.75, 1.25, 3}, seed++);
    }
}

// B read in place (small) and packed (over 256 KiB); a transposed A read in place (short
// rows) and packed (rows of 2 KiB or more).
TYPED_TEST(Gemm, InPlaceAndPackedOperands) {
  using T = TypeParam;
  uint64_t seed = 300;
  for (int t = 0; t < 4; ++t) {
    check<T>({29, 70, 90, bool(t & 1), bool(t & 2), 1.0, 0.0, 1}, seed++);    // B 25 KiB: in place
    check<T>({29, 300, 300, bool(t & 1), bool(t & 2), 1.0, 0.5, 1}, seed++);  // B 350+ KiB: packed
    check<T>({600, 40, 70, bool(t & 1), bool(t & 2), 2.0, 0.0, 0}, seed++);  // Aᵀ rows of 2.4 KiB+
  }
}

// The epilogue: C = act(alpha AB + beta C + bias) for each activation, on one and several
// k blocks (it must apply once, after the last) and on edge tiles.
TYPED_TEST(Gemm, Epilogue) {
  using T = TypeParam;
  uint64_t seed = 400;
  for (auto act : {k::GemmActivation::None, k::GemmActivation::Sigmoid, k::GemmActivation::Tanh,
                   k::GemmActivation::Relu})
    for (int64_t K : {0, 7, 800})
      for (int t = 0; t < 4; ++t) {
        Case c{19, 45, K, bool(t & 1), bool(t & 2), 1.0, 0.0, 1, act, true};
        check<T>(c, seed++);
        c.beta = 0.5;
        c.bias = act != k::GemmActivation::None;  // with and without a bias
        check<T>(c, seed++);
      }
}

// Note [GEMM threads]: the split across threads changes nothing, bit for bit.
TYPED_TEST(Gemm, BitwiseIdenticalForAnyThreadCount) {
  using T = TypeParam;
  const int saved = ag::get_num_threads();
  // N = 333: column blocks of 256 on one thread; N = 200: one block on one thread, split
  // into narrower ones on several (the activation must not see the difference).
  for (int t = 0; t < 8; ++t) {
    const int64_t N = t < 4 ? 333 : 200;
    const auto act = t < 4 ? k::GemmActivation::Sigmoid : k::GemmActivation::Tanh;
    Problem<T> p({150, N, 700, bool(t & 1), bool(t & 2), 1.0, 0.25, 0, act, true}, 500 + t);
    ag::set_num_threads(1);
    const std::vector<T> one = p.run();
    expect_matches_reference(p, one);
    for (int threads : {2, 3, 4}) {
      ag::set_num_threads(threads);
      const std::vector<T> many = p.run();
      ASSERT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(T)), 0)
          << p.c << ": " << threads << " threads differ from 1";
    }
  }
  ag::set_num_threads(saved);
}

// NaN and infinity in an operand reach exactly the outputs they touch.
TYPED_TEST(Gemm, NonFiniteOperandsPropagate) {
  using T = TypeParam;
  Problem<T> p({30, 40, 50, false, false, 1.0, 0.0, 0}, 600);
  p.A[3 * p.lda + 7] = std::numeric_limits<T>::quiet_NaN();                 // row 3 of C
  p.B[11 * p.ldb + 20] = std::numeric_limits<T>::infinity();                // column 20 of C
  const std::vector<T> C = p.run();
  for (int64_t i = 0; i < 30; ++i)
    for (int64_t j = 0; j < 40; ++j) {
      const T v = C[i * p.ldc + j];
      if (i == 3) EXPECT_TRUE(std::isnan(v)) << i << "," << j;
      else if (j == 20) EXPECT_FALSE(std::isfinite(v)) << i << "," << j;
      else EXPECT_TRUE(std::isfinite(v)) << i << "," << j;
    }
}

// Empty products: C = act(beta C + bias), and nothing at all when M or N is 0.
TYPED_TEST(Gemm, EmptyDimensions) {
  using T = TypeParam;
  check<T>({4, 6, 0, false, false, 1.0, 0.5, 1, k::GemmActivation::Relu, true}, 700);
  check<T>({4, 6, 0, true, true, 1.0, 0.0, 0}, 701);
  T c = 42;
  k::gemm<T>(false, false, 0, 1, 5, T(1), &c, 5, &c, 1, T(0), &c, 1);
  k::gemm<T>(false, false, 1, 0, 5, T(1), &c, 5, &c, 1, T(0), &c, 1);
  EXPECT_EQ(c, 42);
}

// ---- through the tensor ops: transposed and strided views go to GEMM without copies --------

namespace {

// The float64 product of two 2-D tensors by the triple loop, from their values.
ag::Tensor naive_mm(const ag::Tensor& a, const ag::Tensor& b) {
  const ag::Tensor x = a.to(ag::kFloat64).contiguous(), y = b.to(ag::kFloat64).contiguous();
  const int64_t M = x.size(0), K = x.size(1), N = y.size(1);
  ag::Tensor out = ag::zeros({M, N}, ag::TensorOptions(ag::kFloat64));
  const double* xp = x.data_ptr<double>();
  const double* yp = y.data_ptr<double>();
  double* op = out.data_ptr<double>();
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t kk = 0; kk < K; ++kk) s += xp[i * K + kk] * yp[kk * N + j];
      op[i * N + j] = s;
    }
  return out;
}

void expect_close(const ag::Tensor& got, const ag::Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  const double err = (got.to(ag::kFloat64) - want).abs().max().item<double>();
  EXPECT_LE(err, tol) << "shape " << ag::shape_str(got.shape());
}

}  // namespace

TEST(GemmViews, MmOnTransposedAndStridedViews) {
  ag::manual_seed(3);
  const ag::Tensor big_a = ag::randn({70, 90}), big_b = ag::randn({90, 130});
  // Column slices: rows longer than the view (ld > columns).
  const ag::Tensor a = big_a.slice(1, 5, 70), b = big_b.slice(1, 3, 100).slice(0, 25, 90);
  expect_close(ag::mm(a, b), naive_mm(a, b), 1e-4);
  // Transposed views (trans flags), of slices too.
  const ag::Tensor at = ag::randn({65, 70}).t(), bt = ag::randn({97, 65}).t();
  expect_close(ag::mm(at, bt), naive_mm(at, bt), 1e-4);
  expect_close(ag::mm(at.slice(0, 1, 60), bt.slice(1, 2, 90)), naive_mm(at.slice(0, 1, 60), bt.slice(1, 2, 90)), 1e-4);
  // A step in both dimensions: neither layout fits, one copy.
  const ag::Tensor s = ag::randn({80, 60}).slice(0, 0, 80, 2).slice(1, 0, 60, 3);  // [40, 20]
  expect_close(ag::mm(s, b.slice(0, 0, 20)), naive_mm(s, b.slice(0, 0, 20)), 1e-4);
  // matmul batched on a transposed batch, and addmm with a broadcast bias.
  const ag::Tensor x = ag::randn({3, 40, 33}), w = ag::randn({3, 50, 33}).transpose(1, 2);
  const ag::Tensor y = ag::matmul(x, w);
  for (int64_t i = 0; i < 3; ++i) expect_close(y.select(0, i), naive_mm(x.select(0, i), w.select(0, i)), 1e-4);
  const ag::Tensor bias = ag::randn({50});
  expect_close(ag::addmm(bias, x.select(0, 1), w.select(0, 1)), naive_mm(x.select(0, 1), w.select(0, 1)) + bias.to(ag::kFloat64),
               1e-4);
}

// The backward products (g·Bᵀ and Aᵀ·g) run on transposed views: check them on shapes
// with edges against the float64 formulas.
TEST(GemmViews, MmBackwardProducts) {
  ag::manual_seed(4);
  const ag::Tensor a = ag::randn({37, 77}).requires_grad_(), b = ag::randn({77, 45}).requires_grad_();
  const ag::Tensor g = ag::randn({37, 45});
  ag::mm(a, b).backward(g);
  expect_close(a.grad(), naive_mm(g, b.detach().t()), 1e-4);
  expect_close(b.grad(), naive_mm(a.detach().t(), g), 1e-4);
}
