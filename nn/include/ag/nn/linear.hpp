// ag::nn::Linear — the affine layer y = x·Wᵀ + b.
//
// What it represents: a module with parameters weight [out_features, in_features] and
// (unless bias(false)) bias [out_features], initialised as PyTorch does:
// weight ~ kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), bias ~ the same
// bound. Drawn from ag's seeded generator, so ag::manual_seed makes it reproducible.
#pragma once

#include <cstdint>

#include "ag/nn/module.hpp"

namespace ag::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  AG_ARG(int64_t, in_features);
  AG_ARG(int64_t, out_features);
  AG_ARG(bool, bias) = true;
};

class LinearImpl : public Module {
 public:
  // requires: in_features >= 0, out_features >= 0 (else ag::Error).
  // ensures: registered parameters "weight" and (with bias) "bias", initialised by reset_parameters().
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  explicit LinearImpl(const LinearOptions& options);

  // requires: x [*, in_features] of the parameters' dtype.
  // ensures: x·weightᵀ + bias of shape [*, out_features] (one addmm for 2-D x).
  Tensor forward(const Tensor& x);
  // ensures: weight and bias redrawn as described above, in place.
  void reset_parameters();
  std::string name() const override { return "Linear"; }
  void pretty_print(std::ostream& os) const override;

  LinearOptions options;
  Tensor weight;
  Tensor bias;  // undefined with bias(false)
};
AG_MODULE(Linear);

}  // namespace ag::nn
