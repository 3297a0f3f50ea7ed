// ag::nn::functional: the stateless layers (linear, activations, softmax, dropout).
#include "ag/nn/functional.hpp"

#include "ag/autograd.hpp"
#include "ag/layer_ops.hpp"
#include "ag/ops.hpp"
#include "linear_activation.hpp"

namespace ag::nn::functional {

namespace {
void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  AG_CHECK(x.defined() && weight.defined(), "linear: the input or the weight is undefined");
  AG_CHECK(weight.dim() == 2, "linear: expected a 2-D weight [out_features, in_features], got shape ",
           shape_str(weight.shape()));
  AG_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input of shape ", shape_str(x.shape()),
           " does not end in in_features=", weight.size(1), " (weight of shape ", shape_str(weight.shape()), ")");
  AG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias of shape ",
           bias.defined() ? shape_str(bias.shape()) : "", " does not match out_features=", weight.size(0));
  AG_CHECK(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == weight.dtype()),
           "linear: input (", dtype_name(x.dtype()), ") and weight (", dtype_name(weight.dtype()),
           ") must have the same dtype (did you forget module->to(dtype)?)");
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear(x, weight, bias);
  // 2-D: one GEMM with the bias in its epilogue (ag/layer_ops.hpp); the node is
  // AddmmBackward0 (MmBackward0 without bias), as for PyTorch's linear.
  if (x.dim() == 2) return layer_ops::linear(x, weight, bias);
  if (x.dim() == 1) return linear(x.unsqueeze(0), weight, bias).squeeze(0);
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  return linear(x.reshape({-1, weight.size(1)}), weight, bias).reshape(out_shape);
}

Tensor linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias, layer_ops::Activation act) {
  check_linear(x, weight, bias);
  AG_CHECK(x.dim() == 2, "linear: the fused activation takes a 2-D input, got shape ", shape_str(x.shape()));
  return layer_ops::linear(x, weight, bias, act);
}

Tensor sigmoid(const Tensor& x) { return ag::sigmoid(x); }
Tensor relu(const Tensor& x) { return ag::relu(x); }
Tensor tanh(const Tensor& x) { return ag::tanh(x); }
Tensor softmax(const Tensor& x, int64_t dim) { return ag::softmax(x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return ag::log_softmax(x, dim); }

Tensor dropout(const Tensor& x, double p, bool training) {
  AG_CHECK(p >= 0.0 && p < 1.0, "dropout: probability has to be in [0, 1), but got ", p);
  AG_CHECK(x.defined(), "dropout: the input is undefined");
  if (!training || p == 0.0) return x;
  AG_CHECK(x.is_floating_point(), "dropout: expected a floating input, got dtype ", dtype_name(x.dtype()),
           " (shape ", shape_str(x.shape()), ")");
  // mask = keep / (1 - p): 0 or exactly T(1 / (1 - p)); one multiply forward and backward.
  Tensor mask;
  {
    NoGradGuard guard;
    mask = (rand(x.shape(), TensorOptions(x.dtype())) >= p).to(x.dtype()) * (1.0 / (1.0 - p));
  }
  return x * mask;
}

}  // namespace ag::nn::functional
