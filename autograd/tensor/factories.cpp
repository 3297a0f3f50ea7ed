// Factories: empty zeros ones full eye *_like scalar_tensor arange linspace tensor(values).
#include <cmath>
#include <cstring>

#include "tensor/make.hpp"

namespace ag {

namespace {
Tensor finish(Tensor t, const TensorOptions& opts) {
  if (opts.requires_grad()) t.requires_grad_(true);
  return t;
}

template <class T>
void fill_typed(const Tensor& t, double v) {
  T* p = t.data_ptr<T>();
  const T x = convert<T>(v);
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = x;
}

void fill_value(const Tensor& t, double v) {
  if (v == 0.0) {
    std::memset(t.unsafeGetTensorImpl()->raw_data(), 0, static_cast<size_t>(t.numel()) * element_size(t.dtype()));
    return;
  }
  dispatch(t.dtype(), [&]<class T>() { fill_typed<T>(t, v); });
}
}  // namespace

// Uninitialised, except bool: a byte other than 0 or 1 is no bool, and reading one is
// undefined behaviour (found by fuzz_ops), so bool tensors start false.
Tensor empty(const Shape& shape, TensorOptions opts) {
  if (opts.dtype() == kBool) return full(shape, 0.0, opts);
  return finish(detail::make_tensor(shape, opts.dtype()), opts);
}

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  Tensor t = detail::make_tensor(shape, opts.dtype());
  fill_value(t, value);
  return finish(t, opts);
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }

Tensor eye(int64_t n, TensorOptions opts) { return eye(n, n, opts); }
Tensor eye(int64_t n, int64_t m, TensorOptions opts) {
  AG_CHECK(n >= 0 && m >= 0, "eye: n and m must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, opts.dtype());
  dispatch(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = static_cast<T>(1);
  });
  return finish(t, opts);
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype())); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, TensorOptions(t.dtype())); }
Tensor zeros_like(const Tensor& t, TensorOptions o) {
  return zeros(t.shape(), o.has_dtype() ? o : o.dtype(t.dtype()));
}
Tensor ones_like(const Tensor& t, TensorOptions o) { return ones(t.shape(), o.has_dtype() ? o : o.dtype(t.dtype())); }
Tensor full_like(const Tensor& t, double v, TensorOptions o) {
  return full(t.shape(), v, o.has_dtype() ? o : o.dtype(t.dtype()));
}

Tensor arange(double end, TensorOptions opts) { return arange(0.0, end, 1.0, opts); }
Tensor arange(double start, double end, double step, TensorOptions opts) {
  AG_CHECK(step != 0.0, "arange: step must be nonzero");
  AG_CHECK(std::isfinite(start) && std::isfinite(end), "arange: unsupported range: ", start, " -> ", end);
  AG_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), "arange: upper bound and larger bound "
           "inconsistent with step sign (start ", start, ", end ", end, ", step ", step, ")");
  // The count as a double first: casting one past int64's range is undefined behaviour.
  const double count = std::ceil((end - start) / step);
  AG_CHECK(count < 9.0e18, "arange: invalid size ", count, " for range ", start, " -> ", end, " with step ", step,
           " (possible overflow)");
  const int64_t n = static_cast<int64_t>(count);
  Tensor t = detail::make_tensor({n}, opts.dtype());
  dispatch(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = convert<T>(start + static_cast<double>(i) * step);
  });
  return finish(t, opts);
}

Tensor linspace(double a, double b, int64_t steps, TensorOptions opts) {
  AG_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = detail::make_tensor({steps}, opts.dtype());
  const double step = steps > 1 ? (b - a) / static_cast<double>(steps - 1) : 0.0;
  dispatch(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    // Fill from both ends, as PyTorch does, so the last value is exactly b. One step is
    // just the start (PyTorch's fill_(start)); the two-ended fill would give b there.
    if (steps == 1) {
      p[0] = convert<T>(a);
      return;
    }
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = convert<T>(i < half ? a + step * static_cast<double>(i) : b - step * static_cast<double>(steps - 1 - i));
  });
  return finish(t, opts);
}

// ---- tensor(values) ----------------------------------------------------------------------
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions opts) {
  const Dtype d = opts.has_dtype() ? opts.dtype() : dtype_of<T>::value;
  int64_t n = 1;
  for (int64_t s : shape) {
    AG_CHECK(s >= 0, "tensor: negative dimension in shape ", shape_str(shape));
    n *= s;
  }
  AG_CHECK(n == static_cast<int64_t>(values.size()), "tensor: ", values.size(), " values cannot fill shape ",
           shape_str(shape), " (", n, " elements)");
  Tensor t = detail::make_tensor(shape, d);
  dispatch(d, [&]<class D>() {
    D* p = t.data_ptr<D>();
    for (int64_t i = 0; i < n; ++i) p[i] = convert<D>(values[static_cast<size_t>(i)]);
  });
  return finish(t, opts);
}
template Tensor tensor<float>(const std::vector<float>&, const Shape&, TensorOptions);
template Tensor tensor<double>(const std::vector<double>&, const Shape&, TensorOptions);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, const Shape&, TensorOptions);
template Tensor tensor<bool>(const std::vector<bool>&, const Shape&, TensorOptions);
template Tensor tensor<int>(const std::vector<int>&, const Shape&, TensorOptions);

Tensor tensor(std::initializer_list<float> v, TensorOptions opts) {
  return tensor<float>(std::vector<float>(v), Shape{static_cast<int64_t>(v.size())}, opts);
}
Tensor tensor(std::initializer_list<double> v, TensorOptions opts) {
  return tensor<double>(std::vector<double>(v), Shape{static_cast<int64_t>(v.size())}, opts);
}
Tensor tensor(std::initializer_list<int> v, TensorOptions opts) {
  std::vector<int64_t> w(v.begin(), v.end());
  return tensor<int64_t>(w, Shape{static_cast<int64_t>(w.size())}, opts);
}
Tensor tensor(std::initializer_list<int64_t> v, TensorOptions opts) {
  return tensor<int64_t>(std::vector<int64_t>(v), Shape{static_cast<int64_t>(v.size())}, opts);
}
Tensor tensor(std::initializer_list<bool> v, TensorOptions opts) {
  return tensor<bool>(std::vector<bool>(v), Shape{static_cast<int64_t>(v.size())}, opts);
}

}  // namespace ag
