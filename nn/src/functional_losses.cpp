// ag::nn::functional losses: mse_loss, binary_cross_entropy(_with_logits), nll_loss,
// cross_entropy.
//
// Note [Losses as custom Functions]: the three losses whose textbook composition has a
// bad gradient are ag::Function nodes with PyTorch's derivative formulas:
//  - binary_cross_entropy: clamp(log(x), -100) composed gives 0·inf = NaN at x = 0 or 1;
//    PyTorch's (x - y) / max(x(1-x), 1e-12) is finite everywhere.
//  - binary_cross_entropy_with_logits: relu and |x| composed give the wrong derivative
//    at x = 0 (their subgradients disagree); sigmoid(x) - y is exact everywhere.
//  - nll_loss: a gather; its backward writes N entries into zeros instead of building
//    an [N, C] one-hot graph.
// cross_entropy with class indices is none of these: it is the fused op
// ag::detail::cross_entropy (one node; forward and backward one kernel pass each).
// Forward passes are raw loops over contiguous data (no graph is recorded inside a
// Function's forward); backward passes are ag ops, so create_graph works through them.
// The structs live at global scope so that grad_fn()->name() reads "NllLossBackward".
#include <algorithm>
#include <cmath>

#include "ag/autograd.hpp"
#include "ag/layer_ops.hpp"
#include "ag/nn/functional.hpp"
#include "ag/ops.hpp"

namespace {

using ag::AutogradContext;
using ag::Tensor;
using ag::tensor_list;

template <class T>
const T* cdata(const Tensor& t) {
  return t.data_ptr<T>();
}

// The forward of a pointwise loss: loss(x[i], y[i]) for every element, in one loop over
// contiguous data. loss is a generic lambda (T x, T y) -> T.
template <class Loss>
Tensor pointwise_loss(const Tensor& x, const Tensor& y, Loss loss) {
  const Tensor xc = x.contiguous(), yc = y.contiguous();
  Tensor out = ag::empty(x.shape(), ag::TensorOptions(x.dtype()));
  ag::dispatch(x.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T *px = cdata<T>(xc), *py = cdata<T>(yc);
      T* po = out.data_ptr<T>();
      for (int64_t i = 0; i < out.numel(); ++i) po[i] = loss(px[i], py[i]);
    }
  });
  return out;
}

}  // namespace

struct BinaryCrossEntropy : ag::Function<BinaryCrossEntropy> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    ctx->save_for_backward({x, y});
    return pointwise_loss(x, y, []<class T>(T xi, T yi) {
      return (yi - T(1)) * std::max(std::log1p(-xi), T(-100)) - yi * std::max(std::log(xi), T(-100));
    });
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &y = saved[1], &g = grads[0];
    Tensor gx, gy;
    if (ctx->needs_input_grad(0)) gx = g * (x - y) / ag::clamp((1.0 - x) * x, 1e-12);
    if (ctx->needs_input_grad(1)) gy = g * (ag::clamp(ag::log(1.0 - x), -100.0) - ag::clamp(ag::log(x), -100.0));
    return {gx, gy};
  }
};

struct BinaryCrossEntropyWithLogits : ag::Function<BinaryCrossEntropyWithLogits> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    ctx->save_for_backward({x, y});
    return pointwise_loss(x, y, []<class T>(T xi, T yi) {
      return std::max(xi, T(0)) - xi * yi + std::log1p(std::exp(-std::abs(xi)));
    });
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &y = saved[1], &g = grads[0];
    Tensor gx, gy;
    if (ctx->needs_input_grad(0)) gx = g * (ag::sigmoid(x) - y);
    if (ctx->needs_input_grad(1)) gy = -(g * x);
    return {gx, gy};
  }
};

// input [N, C] log-probabilities, target [N] int64 already checked to lie in [0, C).
// Returns the per-sample losses -input[i, target[i]], shape [N].
struct NllLoss : ag::Function<NllLoss> {
  static Tensor forward(AutogradContext* ctx, const Tensor& input, const Tensor& target) {
    const Tensor t = target.contiguous();
    ctx->save_for_backward({t});
    const int64_t n = input.size(0), c = input.size(1);
    ctx->saved_data = {static_cast<double>(c)};
    const Tensor in = input.contiguous();
    Tensor out = ag::empty({n}, ag::TensorOptions(input.dtype()));
    const int64_t* pt = t.data_ptr<int64_t>();
    ag::dispatch(input.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        const T* pi = cdata<T>(in);
        T* po = out.data_ptr<T>();
        for (int64_t i = 0; i < n; ++i) po[i] = -pi[i * c + pt[i]];
      }
    });
    return out;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const Tensor t = ctx->get_saved_variables()[0];
    const Tensor& g = grads[0];
    const int64_t n = t.numel(), c = static_cast<int64_t>(ctx->saved_data[0]);
    const int64_t* pt = t.data_ptr<int64_t>();
    const bool record = ag::GradMode::is_enabled() && g.requires_grad();  // create_graph
    Tensor out = ag::zeros({n, c}, ag::TensorOptions(g.dtype()));
    const Tensor gc = g.contiguous();
    ag::dispatch(g.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        T* po = out.data_ptr<T>();
        const T* pg = cdata<T>(gc);
        for (int64_t i = 0; i < n; ++i) po[i * c + pt[i]] = record ? T(-1) : -pg[i];
      }
    });
    // Under create_graph the result must depend on g through a recorded op.
    if (record) out = out * g.unsqueeze(1);
    return {out, Tensor()};
  }
};

namespace ag::nn::functional {

namespace {

Tensor reduce(const Tensor& losses, Reduction r) {
  switch (r) {
    case Reduction::Mean: return losses.mean();
    case Reduction::Sum: return losses.sum();
    case Reduction::None: return losses;
  }
  return losses;
}

// input and target: defined, same shape, same floating dtype.
void check_pointwise(const Tensor& input, const Tensor& target, const char* op) {
  AG_CHECK(input.defined() && target.defined(), op, ": the input or the target is undefined");
  AG_CHECK(input.is_floating_point(), op, ": expected a floating input, got dtype ", dtype_name(input.dtype()),
           " (shape ", shape_str(input.shape()), ")");
  AG_CHECK(input.shape() == target.shape(), op, ": target of shape ", shape_str(target.shape()),
           " must have the same shape as the input ", shape_str(input.shape()));
  AG_CHECK(target.dtype() == input.dtype(), op, ": target has dtype ", dtype_name(target.dtype()), " but input has ",
           dtype_name(input.dtype()), " (shapes ", shape_str(input.shape()), ")");
}

// The [N, C] / [N] views of a (possibly unbatched) classification call; checks labels.
struct Batch {
  Tensor input, target;
  bool unbatched;
};
Batch check_classification(const Tensor& input, const Tensor& target, const char* op) {
  AG_CHECK(input.defined() && target.defined(), op, ": the input or the target is undefined");
  AG_CHECK(input.is_floating_point(), op, ": expected a floating input, got dtype ", dtype_name(input.dtype()),
           " (shape ", shape_str(input.shape()), ")");
  AG_CHECK(input.dim() == 1 || input.dim() == 2, op, ": expected input of shape [N, C] or [C], got ",
           shape_str(input.shape()));
  AG_CHECK(target.dtype() == kInt64, op, ": expected target of dtype int64 (class indices), got ",
           dtype_name(target.dtype()), " (input ", shape_str(input.shape()), ", target ", shape_str(target.shape()), ")");
  const bool unbatched = input.dim() == 1;
  const Shape expected = unbatched ? Shape{} : Shape{input.size(0)};
  AG_CHECK(target.shape() == expected, op, ": expected target of shape ", shape_str(expected), " for input of shape ",
           shape_str(input.shape()), ", got ", shape_str(target.shape()));
  // (A 1-D contiguous target is used as is: this runs every training step.)
  Batch b{unbatched ? input.unsqueeze(0) : input,
          target.dim() == 1 && target.is_contiguous() ? target : target.reshape({-1}).contiguous(), unbatched};
  const int64_t c = b.input.size(1);
  const int64_t* pt = b.target.data_ptr<int64_t>();
  for (int64_t i = 0; i < b.target.numel(); ++i)
    AG_CHECK(pt[i] >= 0 && pt[i] < c, op, ": target ", pt[i], " at index ", i, " is out of bounds for ", c,
             " classes (input ", shape_str(input.shape()), ", target ", shape_str(target.shape()), ")");
  return b;
}

Tensor nll(const Batch& b, Reduction r) {
  Tensor losses = NllLoss::apply(b.input, b.target);
  if (r == Reduction::None && b.unbatched) return losses.reshape({});
  return reduce(losses, r);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_pointwise(input, target, "mse_loss");
  const Tensor d = input - target;
  return reduce(d * d, reduction);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_pointwise(input, target, "binary_cross_entropy");
  const Tensor x = input.contiguous();
  dispatch(x.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T* p = x.data_ptr<T>();
      for (int64_t i = 0; i < x.numel(); ++i)
        AG_CHECK(p[i] >= T(0) && p[i] <= T(1), "binary_cross_entropy: all elements of input should be between 0 and 1"
                 " (element ", i, " is ", p[i], ", input of shape ", shape_str(input.shape()), ")");
    }
  });
  return reduce(BinaryCrossEntropy::apply(input, target), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_pointwise(input, target, "binary_cross_entropy_with_logits");
  return reduce(BinaryCrossEntropyWithLogits::apply(input, target), reduction);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return nll(check_classification(input, target, "nll_loss"), reduction);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (target.defined() && target.is_floating_point()) {
    // Class probabilities.
    AG_CHECK(input.defined() && input.is_floating_point() && (input.dim() == 1 || input.dim() == 2),
             "cross_entropy: expected a floating input of shape [N, C] or [C], got ",
             input.defined() ? shape_str(input.shape()) : std::string("undefined"));
    check_pointwise(input, target, "cross_entropy");
    const int64_t dim = input.dim() - 1;
    const Tensor losses = -(target * ag::log_softmax(input, dim)).sum(dim);
    return reduce(losses, reduction);
  }
  // Class indices: one fused node, softmax and the loss in one kernel pass each way
  // (ag/layer_ops.hpp), instead of log_softmax + nll_loss + the reduction.
  const Batch b = check_classification(input, target, "cross_entropy");
  const layer_ops::LossReduction r = reduction == Reduction::Mean  ? layer_ops::LossReduction::Mean
                                  : reduction == Reduction::Sum ? layer_ops::LossReduction::Sum
                                                                : layer_ops::LossReduction::None;
  Tensor loss = layer_ops::cross_entropy(b.input, b.target, r);
  return reduction == Reduction::None && b.unbatched ? loss.reshape({}) : loss;
}

}  // namespace ag::nn::functional
