// Layer ops (ag/layer_ops.hpp): softmax cross-entropy in one node, and linear (+ bias,
// + activation) in one GEMM call. Each op's forward and derivative side by side:
//
//   cross_entropy:  d logits = (softmax(logits) - onehot(target)) * g   (* 1/N for mean)
//   linear:         d x = g · W,   d W = gᵀ · x,   d b = sum_rows(g)   (raw GEMM calls, or
//                   mm/sum ops under create_graph)
//   act(linear):    g_pre = act_backward(g, y), then as linear
//
// Note [Fused ops keep the unfused graph]: a fused op records the nodes the composition
// would have recorded, under the same names, so users (and tests) that look at grad_fn()
// see PyTorch's graph. act(linear(x)) computes only y in memory; the pre-activation h never
// exists, and nothing needs it: the activation's derivative reads y, linear's reads x and W.
// Its node still needs a tensor to hang from, so h is an alias of y (a view TensorImpl over
// y's storage, no buffer of its own) that carries AddmmBackward0 and is dropped at once; the
// activation node's edge keeps that node alive. h's values are never read. Cross-entropy has no such twin in PyTorch (there it is
// log_softmax + nll_loss), so it is one node, "CrossEntropyLossBackward0".
#include "ag/layer_ops.hpp"

#include <algorithm>

#include "kernels/cross_entropy.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "ops/iter.hpp"
#include "ops/gemm_operand.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag::layer_ops {
using namespace detail;  // the tensor makers and GEMM operands of the ops room

// ---- cross_entropy ---------------------------------------------------------------------

namespace {
// [n, c] of `dtype`: 1 at (i, target[i]), else 0. A constant (no grad).
Tensor one_hot(const Tensor& target, int64_t n, int64_t c, Dtype dtype) {
  Tensor out = zeros({n, c}, TensorOptions(dtype));
  const int64_t* pt = target.data_ptr<int64_t>();
  dispatch(dtype, [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      T* po = out.data_ptr<T>();
      for (int64_t i = 0; i < n; ++i) po[i * c + pt[i]] = T(1);
    }
  });
  return out;
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, LossReduction reduction) {
  AG_CHECK(logits.defined() && target.defined(), "cross_entropy: the input or the target is undefined");
  AG_CHECK(logits.dim() == 2 && is_floating(logits.dtype()), "cross_entropy: expected floating logits of shape [N, C], got ",
           dtype_name(logits.dtype()), " ", shape_str(logits.shape()));
  const int64_t n = logits.size(0), c = logits.size(1);
  AG_CHECK(target.dtype() == kInt64 && target.dim() == 1 && target.size(0) == n,
           "cross_entropy: expected an int64 target of shape [", n, "], got ", dtype_name(target.dtype()), " ",
           shape_str(target.shape()), " (input ", shape_str(logits.shape()), ")");
  const Tensor t = target.contiguous();
  const int64_t* pt = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    AG_CHECK(pt[i] >= 0 && pt[i] < c, "cross_entropy: target ", pt[i], " at index ", i, " is out of bounds for ", c,
             " classes (input ", shape_str(logits.shape()), ")");

  const bool grad = needs_grad(logits);
  const Tensor x = logits.contiguous();
  Tensor out = make_tensor(reduction == LossReduction::None ? Shape{n} : Shape{}, logits.dtype());
  Tensor stats = grad ? make_tensor({n, 2}, logits.dtype()) : Tensor();
  dispatch(logits.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      T* po = out.data_ptr<T>();
      const double total =
          kernels::cross_entropy_forward<T>(static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()), pt, n, c,
                                            reduction == LossReduction::None ? po : nullptr,
                                            grad ? stats.data_ptr<T>() : nullptr);
      if (reduction == LossReduction::Sum) *po = static_cast<T>(total);
      if (reduction == LossReduction::Mean) *po = static_cast<T>(total / static_cast<double>(n));  // n = 0: NaN
    }
  });
  if (grad)
    record(out, "CrossEntropyLossBackward0", {logits}, {save(logits), save(t), save(stats)},
           [reduction, n, c](const BackwardCtx& ctx, const Tensor& g) -> Grads {
             const Tensor logits_s = ctx.saved(0), target_s = ctx.saved(1);
             if (GradMode::is_enabled()) {
               // create_graph: the same formula in ag ops, so that it is differentiable in
               // turn (in the logits through softmax, in g through the product).
               const Tensor d = softmax(logits_s, 1) - one_hot(target_s, n, c, logits_s.dtype());
               switch (reduction) {
                 case LossReduction::None: return {d * g.unsqueeze(1)};
                 case LossReduction::Sum: return {d * g};
                 case LossReduction::Mean: return {d * (g / static_cast<double>(n))};
               }
             }
             const Tensor x = logits_s.contiguous(), gc = g.contiguous(), stats = ctx.saved(2);
             Tensor out = make_tensor({n, c}, x.dtype());
             dispatch(x.dtype(), [&]<class T>() {
               if constexpr (std::is_floating_point_v<T>) {
                 const T scale = reduction == LossReduction::Mean ? static_cast<T>(1.0 / static_cast<double>(n)) : T(1);
                 kernels::cross_entropy_backward<T>(
                     static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()), target_s.data_ptr<int64_t>(),
                     stats.data_ptr<T>(), static_cast<const T*>(gc.unsafeGetTensorImpl()->raw_data()),
                     reduction == LossReduction::None ? 1 : 0, scale, n, c, out.data_ptr<T>());
               }
             });
             return {out};
           },
           /*jvp=*/[&](const tensor_list& tg) {
             // d loss_i = Σ_j (softmax(x)_ij − onehot_ij) t_ij
             const Tensor d = ((softmax(logits, 1) - one_hot(t, n, c, logits.dtype())) * tg[0]).sum(1);
             switch (reduction) {
               case LossReduction::None: return d;
               case LossReduction::Sum: return d.sum();
               case LossReduction::Mean: return d.sum() / static_cast<double>(n);
             }
             return d;
           });
  return out;
}

// ---- linear ------------------------------------------------------------------------------

namespace {

using Operand = detail::GemmOperand;
constexpr auto as_operand = detail::as_gemm_operand;

kernels::GemmActivation gemm_act(Activation a) {
  switch (a) {
    case Activation::None: return kernels::GemmActivation::None;
    case Activation::Sigmoid: return kernels::GemmActivation::Sigmoid;
    case Activation::Tanh: return kernels::GemmActivation::Tanh;
    case Activation::Relu: return kernels::GemmActivation::Relu;
  }
  return kernels::GemmActivation::None;
}

// linear's derivative as raw GEMM calls, for backward without create_graph: no transposed
// views, no reduction op, just the three results (undefined where not needed).
//   d x [M, K] = g [M, N] · W [N, K];  d W [N, K] = gᵀ · x [M, K];  d b [N] = column sums of g
// Returns (d b, d x, d W) with a bias, (d x, d W) without: the node's edge order.
Grads linear_backward_kernels(const Tensor& g0, const Tensor& x, const Tensor& weight, bool need_x, bool need_w,
                                    bool with_bias, bool need_b) {
  const Tensor g = g0.contiguous();
  const int64_t M = g.size(0), N = g.size(1), K = x.size(1);
  Tensor gx = need_x ? make_tensor({M, K}, g.dtype()) : Tensor();
  Tensor gw = need_w ? make_tensor({N, K}, g.dtype()) : Tensor();
  Tensor gb = need_b ? make_tensor({N}, g.dtype()) : Tensor();
  dispatch(g.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T* pg = static_cast<const T*>(g.unsafeGetTensorImpl()->raw_data());
      // An empty inner dimension (N or M = 0) gives zeros, without a GEMM call.
      if (need_x && M * K > 0) {
        T* px = gx.data_ptr<T>();
        if (N == 0) {
          std::fill(px, px + M * K, T(0));
        } else {
          const Operand W = as_operand(weight);
          kernels::gemm<T>(false, W.trans, M, K, N, T(1), pg, N, static_cast<const T*>(W.ptr), W.ld, T(0), px, K);
        }
      }
      if (need_w && N * K > 0) {
        T* pw = gw.data_ptr<T>();
        if (M == 0) {
          std::fill(pw, pw + N * K, T(0));
        } else {
          const Operand X = as_operand(x);
          kernels::gemm<T>(true, X.trans, N, K, M, T(1), pg, N, static_cast<const T*>(X.ptr), X.ld, T(0), pw, K);
        }
      }
      if (need_b) {
        T* pb = gb.data_ptr<T>();
        std::fill(pb, pb + N, T(0));
        for (int64_t i = 0; i < M; ++i) kernels::axpy<T>(T(1), pg + i * N, pb, N);
      }
    }
  });
  if (with_bias) return {gb, gx, gw};
  return {gx, gw};
}

// Records linear's node on `pre` (the product plus bias). Edges in addmm's order:
// (bias, x, weight), or (x, weight) without bias, as PyTorch's AddmmBackward0 / MmBackward0.
// Under create_graph the derivative is written in ag ops, so that it is recorded in turn.
void record_linear(Tensor& pre, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (bias.defined())
    record(pre, "AddmmBackward0", {bias, x, weight}, {save(x), save(weight)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
             if (!GradMode::is_enabled()) {
               return linear_backward_kernels(g, c.saved(0), c.saved(1), c.needs(1), c.needs(2), true, c.needs(0));
             }
             return {c.needs(0) ? g.sum(0) : Tensor(), c.needs(1) ? mm(g, c.saved(1)) : Tensor(),
                     c.needs(2) ? mm(g.t(), c.saved(0)) : Tensor()};
           },
           /*jvp=*/[&](const tensor_list& t) {
             Tensor r = t[0];
             if (t[1].defined()) r = fw_add(r, mm(t[1], weight.t()));
             if (t[2].defined()) r = fw_add(r, mm(x, t[2].t()));
             return r;
           });
  else
    record(pre, "MmBackward0", {x, weight}, {save(x), save(weight)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
             if (!GradMode::is_enabled()) {
               return linear_backward_kernels(g, c.saved(0), c.saved(1), c.needs(0), c.needs(1), false, false);
             }
             return {c.needs(0) ? mm(g, c.saved(1)) : Tensor(), c.needs(1) ? mm(g.t(), c.saved(0)) : Tensor()};
           },
           /*jvp=*/[&](const tensor_list& t) {
             return fw_add(t[0].defined() ? mm(t[0], weight.t()) : Tensor(), t[1].defined() ? mm(x, t[1].t()) : Tensor());
           });
}

// act(pre) for the K == 0 case, where the product is empty and GEMM is not called.
Tensor apply_activation(const Tensor& pre, Activation act) {
  switch (act) {
    case Activation::None: return pre;
    case Activation::Sigmoid: return sigmoid(pre);
    case Activation::Tanh: return tanh(pre);
    case Activation::Relu: return relu(pre);
  }
  return pre;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  AG_CHECK(x.defined() && weight.defined(), "linear: the input or the weight is undefined");
  AG_CHECK(x.dim() == 2 && weight.dim() == 2, "linear: expected a 2-D input and a 2-D weight, got shapes ",
           shape_str(x.shape()), " and ", shape_str(weight.shape()));
  AG_CHECK(x.size(1) == weight.size(1), "linear: input of shape ", shape_str(x.shape()), " does not end in in_features=",
           weight.size(1), " (weight of shape ", shape_str(weight.shape()), ")");
  AG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias of shape ",
           bias.defined() ? shape_str(bias.shape()) : "", " does not match out_features=", weight.size(0));
  AG_CHECK(is_floating(x.dtype()) && x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
           "linear: expected floating input, weight and bias of one dtype, got ", dtype_name(x.dtype()), " and ",
           dtype_name(weight.dtype()));
  const int64_t M = x.size(0), K = x.size(1), N = weight.size(0);
  Tensor out = make_tensor({M, N}, x.dtype());
  if (K == 0 && M * N > 0) {
    // An empty product: act(bias) (or act(0)) in every row, no GEMM call.
    NoGradGuard ng;
    const Tensor pre = bias.defined() ? bias.unsqueeze(0).expand({M, N}) : zeros({M, N}, TensorOptions(x.dtype()));
    copy_into(out, apply_activation(pre, act));
  } else if (M * N > 0) {
    const Operand A = as_operand(x), B = as_operand(weight);
    const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    dispatch(x.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        const kernels::GemmEpilogue<T> epilogue{b.defined() ? static_cast<const T*>(b.unsafeGetTensorImpl()->raw_data())
                                                            : nullptr,
                                                gemm_act(act)};
        // op(B) = weightᵀ: a row-major weight is handed transposed, a transposed one as is.
        kernels::gemm<T>(A.trans, !B.trans, M, N, K, T(1), static_cast<const T*>(A.ptr), A.ld,
                         static_cast<const T*>(B.ptr), B.ld, T(0), out.data_ptr<T>(), N, epilogue);
      }
    });
  }
  if (!needs_grad(x, weight, bias)) return out;
  if (act == Activation::None) {
    record_linear(out, x, weight, bias);
    return out;
  }
  // Note [Fused ops keep the unfused graph]
  Tensor pre = make_view(out, out.shape(), out.strides(), out.unsafeGetTensorImpl()->offset);
  record_linear(pre, x, weight, bias);
  switch (act) {
    case Activation::Sigmoid:
      record(out, "SigmoidBackward0", {pre}, {save_output()},
             [](const BackwardCtx& c, const Tensor& g) -> Grads { return {sigmoid_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return sigmoid_backward(t[0], out); });
      break;
    case Activation::Tanh:
      record(out, "TanhBackward0", {pre}, {save_output()},
             [](const BackwardCtx& c, const Tensor& g) -> Grads { return {tanh_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return tanh_backward(t[0], out); });
      break;
    case Activation::Relu:  // relu(h) > 0 exactly where h > 0: the output serves as the mask
      record(out, "ReluBackward0", {pre}, {save_output()},
             [](const BackwardCtx& c, const Tensor& g) -> Grads { return {relu_backward(g, c.saved(0))}; },
           /*jvp=*/[&](const tensor_list& t) { return relu_backward(t[0], out); });
      break;
    case Activation::None: break;
  }
  return out;
}

}  // namespace ag::layer_ops
