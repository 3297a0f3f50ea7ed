// Tensor: queries, data access and the autograd accessors of a handle.
// The maths methods forward to the free functions of ag/ops.hpp (tensor_methods.cpp).
#include "ag/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "tensor/make.hpp"
#include "tensor/pool.hpp"

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

// ---- autograd accessors --------------------------------------------------------------
Tensor& Tensor::requires_grad_(bool r) {
  std::as_const(*this).requires_grad_(r);
  return *this;
}
const Tensor& Tensor::requires_grad_(bool r) const {
  detail::TensorImpl& i = impl();
  AG_CHECK(!r || is_floating(i.dtype), "requires_grad_: only tensors of floating point dtype can require "
           "gradients (this tensor is ", dtype_name(i.dtype), ")");
  AG_CHECK(i.grad_fn == nullptr || r, "requires_grad_: you can only change requires_grad flags of leaf variables. "
           "Use detach() to get a tensor that does not require grad.");
  i.requires_grad = r;
  return *this;
}

bool Tensor::requires_grad() const {
  const detail::TensorImpl& i = impl();
  return i.requires_grad || i.grad_fn != nullptr;
}

Tensor Tensor::grad() const {
  detail::TensorImpl& i = impl();
  std::lock_guard<detail::SpinLock> lock(i.grad_lock);
  return Tensor(i.grad);
}

Tensor& Tensor::mutable_grad() const {
  // libtorch returns a reference to the stored gradient; a handle is stored here, so we
  // return a thread-local handle that shares it (assigning to it does not change .grad()).
  thread_local Tensor handle;
  handle = grad();
  return handle;
}

void Tensor::set_grad(const Tensor& g) const {
  detail::TensorImpl& i = impl();
  if (g.defined()) {
    // As PyTorch; it would also be a reference cycle, and backward would lock the tensor
    // twice when it adds a create_graph gradient to it.
    AG_CHECK(g.unsafeGetTensorImpl() != &i, "set_grad: can't assign a tensor as its own grad (shape ",
             shape_str(i.shape), ")");
    AG_CHECK(g.shape() == i.shape, "set_grad: assigned grad has shape ", shape_str(g.shape()),
             " but the tensor has shape ", shape_str(i.shape));
    // As PyTorch: a gradient of another dtype would be silently mixed into later sums.
    AG_CHECK(g.dtype() == i.dtype, "set_grad: assigned grad has dtype ", dtype_name(g.dtype()),
             " but the tensor has dtype ", dtype_name(i.dtype));
  }
  std::lock_guard<detail::SpinLock> lock(i.grad_lock);
  i.grad = g.impl_ptr();
}

Tensor Tensor::detach() const {
  const detail::TensorImpl& i = impl();
  Tensor out = detail::make_view(*this, i.shape, i.strides, i.offset);
  // It shares storage and the version counter, but it is not a view for autograd (as in
  // PyTorch, whose detach is not a backward view): an in-place op recorded on it must not
  // be refused as if it had to rewrite a base's history; it has no such history.
  out.unsafeGetTensorImpl()->is_view = false;
  return out;
}

Tensor& Tensor::detach_() {
  detail::TensorImpl& i = impl();
  i.grad_fn.reset();
  i.requires_grad = false;
  return *this;
}

void Tensor::retain_grad() const {
  detail::TensorImpl& i = impl();
  AG_CHECK(requires_grad(), "retain_grad: can't retain_grad on a Tensor that has requires_grad=false");
  if (is_leaf() || i.retains_grad) return;  // leaves keep their grad anyway
  i.retains_grad = true;
  i.grad_fn->retained().emplace_back(i.output_nr, impl_);
}

unsigned Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  detail::TensorImpl& i = impl();
  AG_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  if (is_leaf()) {
    i.hooks.push_back(std::move(hook));
    return static_cast<unsigned>(i.hooks.size() - 1);
  }
  i.grad_fn->pre_hooks().push_back(Node::PreHook{i.output_nr, std::move(hook)});
  return static_cast<unsigned>(i.grad_fn->pre_hooks().size() - 1);
}

unsigned Tensor::register_hook(std::function<void(const Tensor&)> hook) const {
  return register_hook(std::function<Tensor(const Tensor&)>([h = std::move(hook)](const Tensor& g) {
    h(g);
    return Tensor();
  }));
}

}  // namespace ag
