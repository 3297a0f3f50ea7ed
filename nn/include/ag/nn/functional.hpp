// ag::nn::functional — stateless layers and losses (libtorch's torch::nn::functional).
//
// What it represents: the maths behind the modules, as free functions on tensors. All of
// them are differentiable through ag's autograd (create_graph included). Users commonly
// write `namespace F = ag::nn::functional;`.
//
// Losses take an `ag::nn::Reduction` (libtorch passes it inside an options struct):
//   Mean (default) — the mean over all elements (over the batch for cross_entropy/nll_loss),
//   Sum            — the sum,
//   None           — no reduction: one loss per element (per sample for cross_entropy/nll).
// Every misuse (wrong shapes or dtypes, labels out of range, probabilities outside [0, 1])
// throws ag::Error naming the loss and the shapes involved.
#pragma once

#include <cstdint>

#include "ag/tensor.hpp"

namespace ag::nn {

enum class Reduction { Mean, Sum, None };
inline constexpr Reduction kMean = Reduction::Mean;
inline constexpr Reduction kSum = Reduction::Sum;
inline constexpr Reduction kNone = Reduction::None;

namespace functional {

// ---- layers ----------------------------------------------------------------------------
// requires: x [*, in] (at least 1-D), weight [out, in], bias undefined or [out], one floating dtype.
// ensures: x · weightᵀ + bias, of shape [*, out]; 2-D inputs go through one GEMM call with
//          the bias added in its epilogue (grad_fn AddmmBackward0, or MmBackward0 without bias).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// requires: 0 <= p < 1, x floating.
// ensures: when training and p > 0: each element is zeroed with probability p (drawn
//          from ag's seeded generator) and the others are multiplied by 1/(1-p);
//          otherwise x itself is returned.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);

// ---- losses ----------------------------------------------------------------------------
// requires: input and target of the same shape and the same floating dtype (PyTorch
//           would broadcast different shapes with a warning; ag refuses them).
// ensures: (input - target)^2, reduced.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// requires: as mse_loss; input values in [0, 1].
// ensures: -(y·log(x) + (1-y)·log(1-x)) with each log clamped at -100 as PyTorch does,
//          so x = 0 or 1 gives a finite loss; the gradient is PyTorch's
//          (x - y) / max(x(1-x), 1e-12), finite everywhere.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// requires: as mse_loss (input holds logits).
// ensures: max(x,0) - x·y + log1p(exp(-|x|)), computed stably for any logit; gradient
//          sigmoid(x) - y.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);
// requires: input [N, C] (or [C] for one sample) of log-probabilities; target int64 [N]
//           (or 0-dim) with values in [0, C).
// ensures: -input[i, target[i]], reduced (Mean divides by N). The backward writes the
//          gradient straight into the target entries: no per-element graph.
Tensor nll_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// requires: input [N, C] (or [C]) of logits; target int64 [N] (or 0-dim) with values in
//           [0, C) — or a floating target of input's shape holding class probabilities.
// ensures: nll_loss(log_softmax(input, 1), target); with probabilities,
//          -sum_c target[i,c]·log_softmax(input)[i,c], reduced over the batch.
Tensor cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

}  // namespace functional
}  // namespace ag::nn
