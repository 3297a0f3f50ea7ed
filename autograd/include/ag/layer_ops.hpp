// Layer ops: the two differentiable ops that ag::nn's layers and losses are made of, each
// computed in one kernel call (nn::functional::linear, nn::Sequential and
// nn::functional::cross_entropy are their usual faces; call these directly to build a
// layer of your own).
//
// What they represent: compositions of public ops computed in one kernel call each, with
// their derivative written beside them (autograd/ops/layer_ops.cpp). The graph they record
// looks like the unfused composition's, node names included, so fusing is invisible to
// grad_fn()->name() and to create_graph (double backward goes through ag ops).
#pragma once

#include <cstdint>

#include "ag/tensor.hpp"

// In a namespace of their own: ag::linear would be found by argument-dependent lookup
// beside nn::functional::linear and make unqualified calls ambiguous.

namespace ag::layer_ops {

enum class LossReduction : uint8_t { None, Mean, Sum };

// requires: logits [N, C] floating (C >= 1 unless N == 0), target int64 [N] with values
//           in [0, C) (else ag::Error).
// ensures: the softmax cross-entropy -log_softmax(logits, 1)[i, target[i]], reduced:
//          None gives [N], Mean and Sum a 0-dim tensor. One node "CrossEntropyLossBackward0"
//          whose derivative (softmax - onehot) * g (/ N for Mean) is one kernel pass, or,
//          when grad mode is on during backward (create_graph), composed ag ops.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, LossReduction reduction);

enum class Activation : uint8_t { None, Sigmoid, Tanh, Relu };

// requires: x [M, K], weight [N, K], bias undefined or [N], one floating dtype (else ag::Error).
// ensures: act(x · weightᵀ + bias) of shape [M, N], computed by one GEMM call with the bias
//          and the activation in its epilogue (no pass over the output besides the
//          product's own). The graph is the unfused one's: "AddmmBackward0" (or
//          "MmBackward0" without bias) with edges to x, weight, bias, and for an activation
//          a "SigmoidBackward0" / "TanhBackward0" / "ReluBackward0" node in front of it
//          whose derivative is the fused sigmoid/tanh/relu backward op.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, Activation act = Activation::None);

}  // namespace ag::layer_ops
