// The scalar twins of kernels/elementwise.hpp: the plainest possible loops, used by the
// tests as the reference the SIMD kernels are compared against. Never used for speed.
#pragma once

#include "elementwise.hpp"

namespace ag::kernels::reference {

template <class T>
void binary(BinaryOp op, const T* a, int64_t a_stride, const T* b, int64_t b_stride, T* out, int64_t n);
template <class T>
void unary(UnaryOp op, const T* a, T* out, int64_t n);
template <class T>
void compare(CompareOp op, const T* a, int64_t a_stride, const T* b, int64_t b_stride, bool* out, int64_t n);
template <class T> void sigmoid_backward(const T* g, const T* y, T* out, int64_t n);
template <class T> void tanh_backward(const T* g, const T* y, T* out, int64_t n);
template <class T> void relu_backward(const T* g, const T* x, T* out, int64_t n);
template <class T> void affine(const T* a, T s, T b, T* out, int64_t n);
template <class T> void clamp(const T* a, T lo, T hi, T* out, int64_t n);
template <class T> void axpy(T alpha, const T* x, T* y, int64_t n);
template <class T> T sum(const T* a, int64_t n);
template <class T> T max(const T* a, int64_t n);
template <class T> T min(const T* a, int64_t n);
template <class T> T dot(const T* a, const T* b, int64_t n);
template <class T> T sum_squares(const T* a, int64_t n);

}  // namespace ag::kernels::reference
