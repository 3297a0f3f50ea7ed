// The autograd accessors of a Tensor handle: requires_grad, .grad(), detach, retain_grad
// and hooks. They live with the engine because they reach into the graph (grad_fn and its
// hooks); the rest of the handle is in tensor/tensor.cpp.
#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "ag/tensor.hpp"
#include "tensor/make.hpp"

namespace ag {

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

void Tensor::set_data(const Tensor& new_data) const {
  AG_CHECK(new_data.defined(), "set_data: the new data is an undefined tensor");
  detail::TensorImpl& i = impl();
  const detail::TensorImpl& src = new_data.impl();
  if (&src == &i) return;
  // An accumulator made before knows the old shape and dtype (it checks what it adds).
  if (src.dtype != i.dtype || src.shape != i.shape) i.grad_accumulator.reset();
  i.storage = src.storage;
  i.offset = src.offset;
  i.shape = src.shape;
  i.strides = src.strides;
  i.numel = src.numel;
  i.dtype = src.dtype;
  i.is_view = false;
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
