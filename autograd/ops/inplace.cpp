// In-place ops: add_ sub_ mul_ div_ zero_ fill_ copy_ and the compound assignments.
//
// Without autograd (grad mode off, or nothing requires grad — the optimizer's case) they
// write straight into the tensor's storage. When autograd must record them, the op runs
// out of place on a snapshot of the tensor, and the tensor takes over the result's
// values and history ("rebase"), so nodes that saved the old value still find it intact.
// Every write bumps the storage's version counter (see SavedVariable).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/iter.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using kernels::BinaryOp;

namespace {

// Also true when a tangent must be propagated (ag::forward_ad): the out-of-place path
// computes it, and rebase() hands it to self.
bool records(const Tensor& self, const Tensor* other) {
  if (GradMode::is_enabled() && (self.requires_grad() || (other && other->defined() && other->requires_grad())))
    return true;
  return detail::fw_active() && (detail::has_tangent(self) || (other && detail::has_tangent(*other)));
}

void check_target(const Tensor& self, const char* op) {
  AG_CHECK(self.defined(), op, ": the tensor is undefined");
  AG_CHECK(!(GradMode::is_enabled() && self.is_leaf() && self.requires_grad()), op,
           ": a leaf Variable that requires grad is being used in an in-place operation "
           "(wrap the update in ag::NoGradGuard, as optimizers do)");
}

// Makes `self` hold `result`'s values and history.
void rebase(const Tensor& self, const Tensor& result, const char* op) {
  detail::TensorImpl* s = self.unsafeGetTensorImpl();
  // Forward mode only (no reverse history to rewrite): a view takes the tangent too (its
  // base's tangent is not updated, Note [Forward AD design]).
  AG_CHECK(!s->is_view || !result.requires_grad(), op, ": an in-place operation that autograd must record cannot be applied to a view "
           "(shape ", shape_str(self.shape()), "); clone() the tensor first");
  AG_CHECK(result.shape() == self.shape(), op, ": output with shape ", shape_str(self.shape()),
           " doesn't match the broadcast shape ", shape_str(result.shape()));
  AG_CHECK(result.dtype() == self.dtype(), op, ": result type ", dtype_name(result.dtype()),
           " can't be cast to the desired output type ", dtype_name(self.dtype()));
  detail::copy_into(self, result.detach());
  s->storage->bump_version();
  s->grad_fn = result.grad_fn();
  s->output_nr = result.output_nr();
  if (detail::fw_active()) detail::set_fw_tangent(self, detail::fw_tangent(result));
}

// self = f(self, other), recorded or not.
template <class F>
void apply_binary(const Tensor& self, const Tensor& other, BinaryOp op, const char* name, F out_of_place) {
  check_target(self, name);
  AG_CHECK(other.defined(), name, ": the other operand is undefined");
  if (records(self, &other)) {
    rebase(self, out_of_place(clone(self), other), name);
  } else {
    detail::binary_inplace(op, self, other, name);
  }
}

Tensor scalar_for(const Tensor& self, double s) { return detail::scalar_like(s, self); }

}  // namespace

const Tensor& Tensor::add_(const Tensor& o, double alpha) const {
  if (alpha == 1.0)
    apply_binary(*this, o, BinaryOp::Add, "add_", [](const Tensor& a, const Tensor& b) { return ag::add(a, b); });
  else
    apply_binary(*this, o * alpha, BinaryOp::Add, "add_", [](const Tensor& a, const Tensor& b) { return ag::add(a, b); });
  return *this;
}
Tensor& Tensor::add_(const Tensor& o, double alpha) {
  std::as_const(*this).add_(o, alpha);
  return *this;
}
Tensor& Tensor::add_(double s) { return add_(scalar_for(*this, s)); }
Tensor& Tensor::sub_(const Tensor& o, double alpha) { return add_(o, -alpha); }
Tensor& Tensor::sub_(double s) { return add_(scalar_for(*this, -s)); }

Tensor& Tensor::mul_(const Tensor& o) {
  apply_binary(*this, o, BinaryOp::Mul, "mul_", [](const Tensor& a, const Tensor& b) { return ag::mul(a, b); });
  return *this;
}
const Tensor& Tensor::mul_(double s) const {
  apply_binary(*this, scalar_for(*this, s), BinaryOp::Mul, "mul_", [](const Tensor& a, const Tensor& b) { return ag::mul(a, b); });
  return *this;
}
Tensor& Tensor::mul_(double s) {
  std::as_const(*this).mul_(s);
  return *this;
}
Tensor& Tensor::div_(const Tensor& o) {
  AG_CHECK(defined() && is_floating_point(), "div_: in-place true division needs a floating tensor");
  apply_binary(*this, o, BinaryOp::Div, "div_", [](const Tensor& a, const Tensor& b) { return ag::div(a, b); });
  return *this;
}
Tensor& Tensor::div_(double s) {
  AG_CHECK(defined() && is_floating_point(), "div_: in-place true division needs a floating tensor");
  apply_binary(*this, scalar_for(*this, s), BinaryOp::Div, "div_", [](const Tensor& a, const Tensor& b) { return ag::div(a, b); });
  return *this;
}

const Tensor& Tensor::fill_(double v) const {
  check_target(*this, "fill_");
  detail::TensorImpl* s = unsafeGetTensorImpl();
  // A constant has no history: a non-leaf that is overwritten stops carrying gradient.
  if (GradMode::is_enabled() && s->grad_fn) {
    AG_CHECK(!s->is_view, "fill_: cannot overwrite a view that requires grad; clone() it first");
    s->grad_fn.reset();
  }
  if (is_contiguous()) {
    // Every step's zero_grad(set_to_none = false) comes here: no 0-dim fill value and no
    // strided loop's index vectors, and memset for zeros (all-zero bytes are +0.0).
    if (v == 0.0 && !std::signbit(v)) {
      if (numel() > 0) std::memset(s->raw_data(), 0, static_cast<size_t>(numel()) * element_size(dtype()));
    } else {
      dispatch(dtype(), [&]<class T>() { std::fill_n(data_ptr<T>(), numel(), convert<T>(v)); });  // as copy_ converts
    }
  } else {
    detail::copy_into(*this, scalar_tensor(v, TensorOptions(kFloat64)));
  }
  s->storage->bump_version();
  if (detail::fw_active() && detail::has_tangent(*this)) detail::set_fw_tangent(*this, zeros_like(*this));
  return *this;
}
Tensor& Tensor::fill_(double v) {
  std::as_const(*this).fill_(v);
  return *this;
}
const Tensor& Tensor::zero_() const { return fill_(0.0); }
Tensor& Tensor::zero_() { return fill_(0.0); }

const Tensor& Tensor::copy_(const Tensor& src) const {
  check_target(*this, "copy_");
  AG_CHECK(src.defined(), "copy_: the source is undefined");
  if (records(*this, &src)) {
    AG_CHECK(is_floating_point(), "copy_: cannot record a copy into a tensor of dtype ", dtype_name(dtype()));
    Tensor r = src.to(dtype()).expand(shape()).clone();
    rebase(*this, r, "copy_");
    return *this;
  }
  detail::copy_into(*this, src);
  unsafeGetTensorImpl()->storage->bump_version();
  return *this;
}
Tensor& Tensor::copy_(const Tensor& src) {
  std::as_const(*this).copy_(src);
  return *this;
}

Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator+=(Tensor& a, double s) { return a.add_(s); }
Tensor& operator-=(Tensor& a, double s) { return a.sub_(s); }
Tensor& operator*=(Tensor& a, double s) { return a.mul_(s); }
Tensor& operator/=(Tensor& a, double s) { return a.div_(s); }

// ---- shape helpers and checks ----------------------------------------------------------
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1)
      fail(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot broadcast (dimension ", i, ": ", x, " vs ", y, ")");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  AG_CHECK(a.defined() && b.defined(), "allclose: an operand is undefined");
  NoGradGuard ng;
  broadcast_shapes(a.shape(), b.shape(), "allclose");
  Tensor x = a.to(kFloat64), y = b.to(kFloat64);
  Tensor diff = abs(x - y), tol = abs(y) * rtol + atol;
  // NaN never compares close; infinities are close only to themselves (an infinite
  // difference is never within tolerance, even an infinite one).
  Tensor ok = ((diff <= tol) & (diff < INFINITY)) | (x == y);
  return all(ok).item<bool>();
}

bool equal(const Tensor& a, const Tensor& b) {
  AG_CHECK(a.defined() && b.defined(), "equal: an operand is undefined");
  if (a.shape() != b.shape()) return false;
  NoGradGuard ng;
  return all(a == b).item<bool>();
}

}  // namespace ag
