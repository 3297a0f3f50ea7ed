// Tensor: queries and data access of a handle, and the makers of fresh tensors and views.
// The autograd accessors live with the engine (engine/tensor_autograd.cpp); the maths
// methods forward to the free functions of ag/ops.hpp (ops/tensor_methods.cpp).
#include "ag/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "tensor/make.hpp"
#include "runtime/pool.hpp"

namespace ag {

namespace detail {

Tensor make_tensor(const Shape& shape, Dtype dtype) {
  auto impl = make_pooled<TensorImpl>();
  // The element count, the strides and the byte size must not overflow: a wrapped product
  // would give a tiny buffer behind a huge shape, and every later access would run off
  // its end.
  for (int64_t d : shape) AG_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
  AG_CHECK(shape_fits(shape, dtype), "empty: shape ", shape_str(shape),
           " has too many elements (the size in bytes overflows)");
  impl->numel = shape_numel(shape);
  impl->storage = Storage::allocate(static_cast<size_t>(impl->numel) * element_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = make_pooled<TensorImpl>();
  const TensorImpl& b = *base.unsafeGetTensorImpl();
  impl->storage = b.storage;
  impl->offset = offset;
  impl->numel = shape_numel(shape);
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->dtype = b.dtype;
  impl->is_view = true;
  return Tensor(std::move(impl));
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-dim tensor accepts dim 0 and -1, as in PyTorch
  AG_CHECK(dim >= -n && dim < n, op, ": dimension ", dim, " is out of range for a tensor of ", ndim,
           " dimensions (expected to be in range of [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

namespace {
// The storage offset of element `i` in logical row-major order.
int64_t element_offset(const TensorImpl& impl, int64_t i) {
  int64_t off = impl.offset;
  for (size_t d = impl.shape.size(); d-- > 0;) {
    off += (i % impl.shape[d]) * impl.strides[d];
    i /= impl.shape[d];
  }
  return off;
}
}  // namespace

int64_t read_int64(const Tensor& t, int64_t i) {
  const TensorImpl& impl = *t.unsafeGetTensorImpl();
  return static_cast<const int64_t*>(impl.storage->data())[element_offset(impl, i)];
}

double read_as_double(const Tensor& t, int64_t i) {
  const TensorImpl& impl = *t.unsafeGetTensorImpl();
  const int64_t off = element_offset(impl, i);
  const void* base = impl.storage->data();
  switch (impl.dtype) {
    case kFloat32: return static_cast<const float*>(base)[off];
    case kFloat64: return static_cast<const double*>(base)[off];
    case kInt64: return static_cast<double>(static_cast<const int64_t*>(base)[off]);
    case kBool: return static_cast<const bool*>(base)[off] ? 1.0 : 0.0;
  }
  return 0;
}

}  // namespace detail

// A 0-dim tensor has no size to report: wrap_dim accepts dim 0 there (as reductions do),
// so refuse it here rather than read past the empty shape.
int64_t Tensor::size(int64_t d) const {
  AG_CHECK(dim() > 0, "size: dimension specified as ", d, " but tensor has no dimensions");
  return impl().shape[detail::wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  AG_CHECK(dim() > 0, "stride: dimension specified as ", d, " but tensor has no dimensions");
  return impl().strides[detail::wrap_dim(d, dim(), "stride")];
}

template <class T>
T Tensor::item() const {
  AG_CHECK(numel() == 1, "item: a Tensor with ", numel(), " elements (shape ", shape_str(shape()),
           ") cannot be converted to a scalar");
  double v = detail::read_as_double(*this, 0);
  if (dtype() == kInt64) {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(*static_cast<const int64_t*>(impl().raw_data()));
  }
  return convert<T>(v);
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template int Tensor::item<int>() const;
template bool Tensor::item<bool>() const;

template <class T>
T* Tensor::data_ptr() const {
  AG_CHECK(dtype() == dtype_of<T>::value, "data_ptr: expected a tensor of dtype ", dtype_name(dtype_of<T>::value),
           " but this tensor has dtype ", dtype_name(dtype()));
  return impl().data<T>();
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template bool* Tensor::data_ptr<bool>() const;

}  // namespace ag
