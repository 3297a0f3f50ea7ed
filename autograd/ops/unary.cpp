// Unary maths: exp log sqrt abs sin cos tanh sigmoid relu sign, and the one-pass activation derivative
// ops of sigmoid, tanh and relu (ops in their own right, so create_graph goes through them).
#include "ops/iter.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using detail::BackwardCtx;
using detail::Grads;
using detail::needs_grad;
using detail::record;
using detail::save;
using detail::save_output;
using kernels::UnaryOp;

namespace {
Tensor unary(UnaryOp op, const Tensor& a, const char* name) {
  AG_CHECK(a.defined(), name, ": the operand is undefined");
  AG_CHECK(is_floating(a.dtype()), name, ": expected a floating tensor, got ", dtype_name(a.dtype()),
           " (convert it with .to(ag::kFloat32))");
  return detail::unary_forward(op, a);
}
}  // namespace

Tensor exp(const Tensor& a) {
  Tensor out = unary(UnaryOp::Exp, a, "exp");
  if (needs_grad(a))
    record(out, "ExpBackward0", {a}, {save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {g * c.saved(0)}; },
           /*jvp=*/[&](const tensor_list& t) { return t[0] * out; });
  return out;
}

Tensor log(const Tensor& a) {
  Tensor out = unary(UnaryOp::Log, a, "log");
  if (needs_grad(a))
    record(out, "LogBackward0", {a}, {save(a)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {g / c.saved(0)}; },
           /*jvp=*/[&](const tensor_list& t) { return t[0] / a; });
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = unary(UnaryOp::Sqrt, a, "sqrt");
  if (needs_grad(a))
    record(out, "SqrtBackward0", {a}, {save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {g / (c.saved(0) * 2.0)}; },
           /*jvp=*/[&](const tensor_list& t) { return t[0] / (out * 2.0); });
  return out;
}

Tensor abs(const Tensor& a) {
  Tensor out = unary(UnaryOp::Abs, a, "abs");
  if (needs_grad(a))
    record(out, "AbsBackward0", {a}, {save(a)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {g * sign(c.saved(0))}; });
  return out;
}

Tensor sin(const Tensor& a) {
  Tensor out = unary(UnaryOp::Sin, a, "sin");
  if (needs_grad(a))
    record(out, "SinBackward0", {a}, {save(a)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {g * cos(c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return t[0] * cos(a); });
  return out;
}

Tensor cos(const Tensor& a) {
  Tensor out = unary(UnaryOp::Cos, a, "cos");
  if (needs_grad(a))
    record(out, "CosBackward0", {a}, {save(a)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {-(g * sin(c.saved(0)))}; },
           /*jvp=*/[&](const tensor_list& t) { return -(t[0] * sin(a)); });
  return out;
}

Tensor tanh(const Tensor& a) {
  Tensor out = unary(UnaryOp::Tanh, a, "tanh");
  if (needs_grad(a))
    record(out, "TanhBackward0", {a}, {save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {tanh_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return tanh_backward(t[0], out); });
  return out;
}

Tensor sigmoid(const Tensor& a) {
  Tensor out = unary(UnaryOp::Sigmoid, a, "sigmoid");
  if (needs_grad(a))
    record(out, "SigmoidBackward0", {a}, {save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {sigmoid_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return sigmoid_backward(t[0], out); });
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out = unary(UnaryOp::Relu, a, "relu");
  if (needs_grad(a))
    record(out, "ReluBackward0", {a}, {save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads { return {relu_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return relu_backward(t[0], out); });
  return out;
}

Tensor sign(const Tensor& a) {
  Tensor out = unary(UnaryOp::Sign, a, "sign");
  if (needs_grad(a))
    record(out, "SignBackward0", {a}, {},
           [](const BackwardCtx&, const Tensor& g) -> Grads { return {zeros_like(g)}; });
  return out;
}

// ---- activation derivatives in one pass ------------------------------------------------------------------
namespace {
// out = kernel(g, y) for two same-shape floating tensors.
template <class K>
Tensor pointwise_backward(const Tensor& g0, const Tensor& y0, const char* name, K kernel) {
  AG_CHECK(g0.defined() && y0.defined(), name, ": an operand is undefined");
  AG_CHECK(g0.shape() == y0.shape(), name, ": shapes ", shape_str(g0.shape()), " and ", shape_str(y0.shape()),
           " must be equal");
  AG_CHECK(g0.dtype() == y0.dtype() && is_floating(g0.dtype()), name, ": expected two floating tensors of one dtype");
  const Tensor g = g0.contiguous(), y = y0.contiguous();
  Tensor out = detail::make_tensor(g.shape(), g.dtype());
  dispatch(g.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T* pg = static_cast<const T*>(g.unsafeGetTensorImpl()->raw_data());
      const T* py = static_cast<const T*>(y.unsafeGetTensorImpl()->raw_data());
      T* po = out.data_ptr<T>();
      detail::elementwise_chunks(g.numel(), [&](int64_t b, int64_t e) { kernel(pg + b, py + b, po + b, e - b); });
    }
  });
  return out;
}
}  // namespace

Tensor sigmoid_backward(const Tensor& grad, const Tensor& y) {
  Tensor out = pointwise_backward(grad, y, "sigmoid_backward", [](const auto* g, const auto* yy, auto* o, int64_t n) {
    kernels::sigmoid_backward(g, yy, o, n);
  });
  if (needs_grad(grad, y))
    record(out, "SigmoidBackwardBackward0", {grad, y}, {save(grad), save(y)},
           [](const BackwardCtx& c, const Tensor& gg) -> Grads {
             Tensor g = c.saved(0), yy = c.saved(1);
             return {c.needs(0) ? sigmoid_backward(gg, yy) : Tensor(),
                     c.needs(1) ? gg * g * (1.0 - yy * 2.0) : Tensor()};
           });
  return out;
}

Tensor tanh_backward(const Tensor& grad, const Tensor& y) {
  Tensor out = pointwise_backward(grad, y, "tanh_backward", [](const auto* g, const auto* yy, auto* o, int64_t n) {
    kernels::tanh_backward(g, yy, o, n);
  });
  if (needs_grad(grad, y))
    record(out, "TanhBackwardBackward0", {grad, y}, {save(grad), save(y)},
           [](const BackwardCtx& c, const Tensor& gg) -> Grads {
             Tensor g = c.saved(0), yy = c.saved(1);
             return {c.needs(0) ? tanh_backward(gg, yy) : Tensor(), c.needs(1) ? gg * g * yy * -2.0 : Tensor()};
           });
  return out;
}

Tensor relu_backward(const Tensor& grad, const Tensor& x) {
  Tensor out = pointwise_backward(grad, x, "relu_backward", [](const auto* g, const auto* xx, auto* o, int64_t n) {
    kernels::relu_backward(g, xx, o, n);
  });
  if (needs_grad(grad, x))
    record(out, "ReluBackwardBackward0", {grad, x}, {save(x)},
           [](const BackwardCtx& c, const Tensor& gg) -> Grads {
             // relu' is piecewise constant: no gradient flows to x.
             return {c.needs(0) ? relu_backward(gg, c.saved(0)) : Tensor(), c.needs(1) ? zeros_like(gg) : Tensor()};
           });
  return out;
}

}  // namespace ag
