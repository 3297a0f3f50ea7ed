// A cache-blocked GEMM. B is packed into contiguous K x N panels once per block (so the
// transposed case costs no extra pass), and the inner loop is an axpy over a row of the
// panel, which the SIMD axpy kernel runs at full width.
#include "gemm.hpp"

#include <algorithm>
#include <vector>

#include "elementwise.hpp"
#include "engine/parallel.hpp"
#include "scalar_ops.hpp"

namespace ag::kernels {

template <class T>
void gemm_body(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T* C, int64_t ldc);

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& ep) {
  // C = beta * C first.
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) affine<T>(c, beta, T(0), c, N);
  }
  if (K != 0 && alpha != T(0)) gemm_body(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, C, ldc);
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (ep.bias) binary<T>(BinaryOp::Add, c, 1, ep.bias, 1, c, N);
    if (ep.act != GemmActivation::None)
      unary<T>(ep.act == GemmActivation::Sigmoid ? UnaryOp::Sigmoid : ep.act == GemmActivation::Tanh ? UnaryOp::Tanh : UnaryOp::Relu, c, c, N);
  }
}

template <class T>
void gemm_body(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T* C, int64_t ldc) {
  constexpr int64_t KB = 256, NB = 1024;
  // Sized for the largest block this product uses, not KB x NB: a full-size panel was
  // a 1-2 MiB allocation (zero-filled) on every call, even for a 3 x 4 product.
  std::vector<T> panel(static_cast<size_t>(std::min(KB, K) * std::min(NB, N)));
  for (int64_t k0 = 0; k0 < K; k0 += KB) {
    const int64_t kb = std::min(KB, K - k0);
    for (int64_t n0 = 0; n0 < N; n0 += NB) {
      const int64_t nb = std::min(NB, N - n0);
      // panel[k][n] = op(B)[k0 + k][n0 + n]
      for (int64_t k = 0; k < kb; ++k)
        for (int64_t n = 0; n < nb; ++n)
          panel[k * nb + n] = trans_b ? B[(n0 + n) * ldb + (k0 + k)] : B[(k0 + k) * ldb + (n0 + n)];
      // Rows of C are independent: large products split them across the shared arena
      // (the panel is read-only). Each element is summed in the same order whatever the
      // split, so the result is bitwise the same for any number of threads.
      const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, kb * nb));
      ag::detail::parallel_for(M, grain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T* c = C + i * ldc + n0;
          for (int64_t k = 0; k < kb; ++k) {
            const T a = trans_a ? A[(k0 + k) * lda + i] : A[i * lda + (k0 + k)];
            if (a != T(0)) axpy<T>(alpha * a, panel.data() + k * nb, c, nb);
          }
        }
      });
    }
  }
}

namespace reference {
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& ep) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      double prev = beta == T(0) ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      double v = static_cast<double>(alpha) * s + prev;
      if (ep.bias) v += static_cast<double>(ep.bias[j]);
      T t = static_cast<T>(v);
      switch (ep.act) {
        case GemmActivation::None: break;
        case GemmActivation::Sigmoid: t = scalar::unary(UnaryOp::Sigmoid, t); break;
        case GemmActivation::Tanh: t = scalar::unary(UnaryOp::Tanh, t); break;
        case GemmActivation::Relu: t = scalar::unary(UnaryOp::Relu, t); break;
      }
      C[i * ldc + j] = t;
    }
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, const GemmEpilogue<float>&);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, const GemmEpilogue<double>&);
}  // namespace reference

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, const GemmEpilogue<float>&);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, const GemmEpilogue<double>&);

}  // namespace ag::kernels
