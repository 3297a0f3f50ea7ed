// General matrix multiply on row-major pointers:
//   C[M x N] = act(alpha * op(A)[M x K] * op(B)[K x N] + beta * C + bias)
// where op(X) is X or its transpose (trans_a / trans_b), and lda/ldb/ldc are the row
// strides of A, B and C as stored. With beta == 0, C is written without being read.
// bias and act are the optional epilogue (GemmEpilogue): applied to each tile of C while
// it is still in registers, so nn.Linear's bias and its activation cost no extra pass.
#pragma once

#include <cstdint>

namespace ag::kernels {

enum class GemmActivation : uint8_t { None, Sigmoid, Tanh, Relu };

template <class T>
struct GemmEpilogue {
  const T* bias = nullptr;  // N values, bias[j] added to every row of C; nullptr: none
  GemmActivation act = GemmActivation::None;
};

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& epilogue = {});

namespace reference {
// The triple loop, accumulated in double, then the epilogue with the scalar formulas of
// scalar_ops.hpp: the tests' reference.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& epilogue = {});
}  // namespace reference

}  // namespace ag::kernels
