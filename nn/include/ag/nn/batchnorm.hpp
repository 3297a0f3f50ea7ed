// ag::nn::BatchNorm1d — batch normalisation over the batch dimension.
//
// What it represents: for input [N, C] (or [N, C, L]) a module that normalises each
// channel c:  y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c.
//  - training mode: mean_c and var_c are the batch's (biased variance); the buffers are
//    updated as PyTorch does, with n the number of values per channel:
//      running_mean = (1 - momentum)·running_mean + momentum·mean_c
//      running_var  = (1 - momentum)·running_var  + momentum·var_c·n/(n-1)   (unbiased)
//      num_batches_tracked += 1
//    (momentum = nullopt: cumulative average, factor 1/num_batches_tracked).
//  - eval mode: mean_c and var_c are running_mean and running_var; nothing is updated.
// Parameters (affine): weight [C] = 1, bias [C] = 0. Buffers: running_mean [C] = 0,
// running_var [C] = 1, num_batches_tracked (int64 scalar) = 0.
#pragma once

#include <cstdint>
#include <optional>

#include "ag/nn/module.hpp"

namespace ag::nn {

struct BatchNorm1dOptions {
  BatchNorm1dOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT: implicit, as in libtorch
  AG_ARG(int64_t, num_features);
  AG_ARG(double, eps) = 1e-5;
  AG_ARG(std::optional<double>, momentum) = 0.1;
  AG_ARG(bool, affine) = true;
  AG_ARG(bool, track_running_stats) = true;
};

class BatchNorm1dImpl : public Module {
 public:
  // requires: num_features > 0, eps > 0 (else ag::Error).
  explicit BatchNorm1dImpl(const BatchNorm1dOptions& options);
  BatchNorm1dImpl(int64_t num_features, double eps = 1e-5, double momentum = 0.1);

  // requires: x [N, C] or [N, C, L] with C = num_features, of the parameters' dtype; in
  //           training mode more than one value per channel (else ag::Error).
  // ensures: the normalised tensor (see above); in training mode the buffers are updated.
  Tensor forward(const Tensor& x);
  // ensures: running_mean = 0, running_var = 1, num_batches_tracked = 0.
  void reset_running_stats();
  // ensures: reset_running_stats(); weight = 1, bias = 0.
  void reset_parameters();
  std::string name() const override { return "BatchNorm1d"; }
  void pretty_print(std::ostream& os) const override;

  BatchNorm1dOptions options;
  Tensor weight, bias;                                          // undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;        // undefined unless track_running_stats
};
AG_MODULE(BatchNorm1d);

}  // namespace ag::nn
