// Elementwise kernels: raw loops over contiguous pointers, vectorised with xsimd on the
// widest SIMD width the build targets (AVX-512 when the compiler enables it, else AVX2,
// else SSE2), with a scalar tail. They know nothing of tensors or autograd.
//
// Every kernel here has a plain scalar twin in kernels/reference.hpp with the same
// signature; tests compare the two.
#pragma once

#include <cstdint>

namespace ag::kernels {

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Max, Min, Pow };
enum class UnaryOp : uint8_t { Neg, Exp, Log, Sqrt, Abs, Sin, Cos, Tanh, Sigmoid, Relu, Sign, Square, Reciprocal };
enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

// out[i] = a[i] op b[i]; `a_stride`/`b_stride` are 1 (a vector) or 0 (a broadcast scalar).
// out may alias a or b when that operand's stride is 1.
template <class T>
void binary(BinaryOp op, const T* a, int64_t a_stride, const T* b, int64_t b_stride, T* out, int64_t n);

// out[i] = op(a[i])
template <class T>
void unary(UnaryOp op, const T* a, T* out, int64_t n);

// out[i] = a[i] cmp b[i] (strides 1 or 0 as for binary)
template <class T>
void compare(CompareOp op, const T* a, int64_t a_stride, const T* b, int64_t b_stride, bool* out, int64_t n);

// Activation derivatives in one pass: out = g * y * (1 - y); out = g * (1 - y * y); out = x > 0 ? g : 0.
template <class T> void sigmoid_backward(const T* g, const T* y, T* out, int64_t n);
template <class T> void tanh_backward(const T* g, const T* y, T* out, int64_t n);
template <class T> void relu_backward(const T* g, const T* x, T* out, int64_t n);

// out[i] = a[i] * s + b  (the affine map used by scalar arithmetic and optimizers)
template <class T> void affine(const T* a, T s, T b, T* out, int64_t n);
// out[i] = clamp(a[i], lo, hi)
template <class T> void clamp(const T* a, T lo, T hi, T* out, int64_t n);
// y[i] += alpha * x[i]
template <class T> void axpy(T alpha, const T* x, T* y, int64_t n);

// Reductions over a contiguous run.
template <class T> T sum(const T* a, int64_t n);
template <class T> T max(const T* a, int64_t n);  // NaN propagates
template <class T> T min(const T* a, int64_t n);
template <class T> T dot(const T* a, const T* b, int64_t n);
template <class T> T sum_squares(const T* a, int64_t n);

// The SIMD instruction set these kernels were compiled for ("avx512f", "avx2", ...) and
// the number of floats in one register.
const char* simd_arch_name();
int simd_float_lanes();

}  // namespace ag::kernels
