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
    // Shift by the row maximum, always: a row of all -inf, or one holding +inf, then
    // gives NaN as in PyTorch (and the reference). Shifting such rows by 0 instead made
    // [+inf, 1] come out as [NaN, 0] and gained nothing for all -inf rows (still 0/0).
    const T m = max<T>(xr, cols);
    affine<T>(xr, T(1), -m, yr, cols);  // y = x - max
    unary<T>(UnaryOp::Exp, yr, yr, cols);
    const T s = sum<T>(yr, cols);
    if (log) {
      // log_softmax = (x - max) - log(sum). Subtracting in two steps matters: folding
      // them into one shift x + (-max - lse) rounds max + lse at the magnitude of max,
      // so for large logits lse was lost entirely (log_softmax([1e8, 1e8]) gave [0, 0]
      // in float32 instead of [-log 2, -log 2]).
      const T lse = std::log(s);
      affine<T>(xr, T(1), -m, yr, cols);
      affine<T>(yr, T(1), -lse, yr, cols);
    } else {
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
