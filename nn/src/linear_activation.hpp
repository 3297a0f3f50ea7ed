// Internal to ag::nn: the fused forms the modules use where fusing cannot be observed.
#pragma once

#include "ag/layer_ops.hpp"
#include "ag/tensor.hpp"

namespace ag::nn::functional {

// requires: x 2-D, and what linear() requires.
// ensures: act(linear(x, weight, bias)) in one GEMM call (bias and activation in its
//          epilogue), recording the same graph as the composition (Note [Fused ops keep
//          the unfused graph] in autograd/ops/layer_ops.cpp). Sequential uses it for a Linear
//          directly followed by a ReLU (Note [Sequential fuses Linear + ReLU]).
Tensor linear_activation(const Tensor& x, const Tensor& weight, const Tensor& bias, layer_ops::Activation act);

}  // namespace ag::nn::functional
