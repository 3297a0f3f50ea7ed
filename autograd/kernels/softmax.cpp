#include "softmax.hpp"

#include <cmath>
#include <limits>

#include "elementwise.hpp"

namespace ag::kernels {

template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = max<T>(xr, cols);
    const T shift = std::isinf(m) ? T(0) : m;  // a row of -inf stays NaN-free where it can
    affine<T>(xr, T(1), -shift, yr, cols);       // y = x - max
    if (log) {
      unary<T>(UnaryOp::Exp, yr, yr, cols);
      // log-softmax needs x - max - log(sum exp): recompute from x to keep yr's exp only transiently
      const T lse = std::log(sum<T>(yr, cols));
      affine<T>(xr, T(1), -shift - lse, yr, cols);
    } else {
      unary<T>(UnaryOp::Exp, yr, yr, cols);
      const T s = sum<T>(yr, cols);
      affine<T>(yr, T(1) / s, T(0), yr, cols);
    }
  }
}

namespace reference {
template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < cols; ++c) m = std::max<double>(m, xr[c]);
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += std::exp(static_cast<double>(xr[c]) - m);
    for (int64_t c = 0; c < cols; ++c)
      yr[c] = static_cast<T>(log ? static_cast<double>(xr[c]) - m - std::log(s) : std::exp(static_cast<double>(xr[c]) - m) / s);
  }
}
template void softmax_rows<float>(const float*, float*, int64_t, int64_t, bool);
template void softmax_rows<double>(const double*, double*, int64_t, int64_t, bool);
}  // namespace reference

template void softmax_rows<float>(const float*, float*, int64_t, int64_t, bool);
template void softmax_rows<double>(const double*, double*, int64_t, int64_t, bool);

}  // namespace ag::kernels
