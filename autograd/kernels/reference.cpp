// The scalar twins: one element at a time, no SIMD, no cleverness.
#include "reference.hpp"

#include <cmath>
#include <limits>

#include "cross_entropy.hpp"
#include "scalar_ops.hpp"

namespace ag::kernels::reference {

template <class T>
void binary(BinaryOp op, const T* a, int64_t as, const T* b, int64_t bs, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scalar::binary(op, a[i * as], b[i * bs]);
}
template <class T>
void unary(UnaryOp op, const T* a, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scalar::unary(op, a[i]);
}
template <class T>
void compare(CompareOp op, const T* a, int64_t as, const T* b, int64_t bs, bool* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scalar::compare(op, a[i * as], b[i * bs]);
}
template <class T>
void sigmoid_backward(const T* g, const T* y, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * y[i] * (T(1) - y[i]);
}
template <class T>
void tanh_backward(const T* g, const T* y, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * (T(1) - y[i] * y[i]);
}
template <class T>
void relu_backward(const T* g, const T* x, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] > T(0) ? g[i] : T(0);
}
template <class T>
void affine(const T* a, T s, T b, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * s + b;
}
template <class T>
void clamp(const T* a, T lo, T hi, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] != a[i] ? a[i] : (a[i] < lo ? lo : (a[i] > hi ? hi : a[i]));
}
template <class T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
template <class T>
T sum(const T* a, int64_t n) {
  double s = 0;  // a wider accumulator makes the reference the more accurate side
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]);
  return static_cast<T>(s);
}
template <class T>
T max(const T* a, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) m = scalar::binary(BinaryOp::Max, m, a[i]);
  return m;
}
template <class T>
T min(const T* a, int64_t n) {
  T m = std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) m = scalar::binary(BinaryOp::Min, m, a[i]);
  return m;
}
template <class T>
T dot(const T* a, const T* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return static_cast<T>(s);
}
template <class T>
T sum_squares(const T* a, int64_t n) {
  return dot(a, a, n);
}

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

// ---- softmax cross-entropy (kernels/cross_entropy.hpp), in double --------------------------
template <class T>
double cross_entropy_forward(const T* x, const int64_t* target, int64_t rows, int64_t cols, T* loss, T* stats) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < cols; ++c) m = scalar::binary<double>(BinaryOp::Max, m, xr[c]);
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += std::exp(static_cast<double>(xr[c]) - m);
    const double l = (m - static_cast<double>(xr[target[r]])) + std::log(s);
    if (loss) loss[r] = static_cast<T>(l);
    if (stats) {
      stats[2 * r] = static_cast<T>(m);
      stats[2 * r + 1] = static_cast<T>(std::log(s));
    }
    total += l;
  }
  return total;
}
template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* stats, const T* g, int64_t g_stride, T scale,
                            int64_t rows, int64_t cols, T* grad) {
  for (int64_t r = 0; r < rows; ++r) {
    const double m = stats[2 * r], log_s = stats[2 * r + 1];
    const double sc = static_cast<double>(scale) * static_cast<double>(g[r * g_stride]);
    for (int64_t c = 0; c < cols; ++c) {
      const double p = std::exp((static_cast<double>(x[r * cols + c]) - m) - log_s);
      grad[r * cols + c] = static_cast<T>((p - (c == target[r] ? 1.0 : 0.0)) * sc);
    }
  }
}
template double cross_entropy_forward<float>(const float*, const int64_t*, int64_t, int64_t, float*, float*);
template double cross_entropy_forward<double>(const double*, const int64_t*, int64_t, int64_t, double*, double*);
template void cross_entropy_backward<float>(const float*, const int64_t*, const float*, const float*, int64_t, float,
                                            int64_t, int64_t, float*);
template void cross_entropy_backward<double>(const double*, const int64_t*, const double*, const double*, int64_t,
                                             double, int64_t, int64_t, double*);

}  // namespace ag::kernels::reference
