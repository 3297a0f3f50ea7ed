// General matrix multiply on row-major pointers:
//   C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C
// where op(X) is X or its transpose (trans_a / trans_b), and lda/ldb/ldc are the row
// strides of A, B and C as stored. With beta == 0, C is written without being read.
#pragma once

#include <cstdint>

namespace ag::kernels {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

namespace reference {
// The triple loop, accumulated in double: the tests' reference.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace reference

}  // namespace ag::kernels
