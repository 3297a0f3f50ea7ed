// The module and optimizers that fuzz_safetensors and fuzz_optim_state load into, shared
// with make_corpus.cpp so that the seeds it writes are valid files for them.
#pragma once

#include <vector>

#include <ag/ag.hpp>

namespace ag_fuzz {

// Linear(3, 2) -> BatchNorm1d(2) -> Linear(2, 1, no bias): float32 parameters, float32 and
// int64 buffers.
inline ag::nn::Sequential make_model() {
  ag::manual_seed(1);
  ag::nn::Sequential net;
  net->push_back(ag::nn::Linear(3, 2));
  net->push_back(ag::nn::BatchNorm1d(2));
  net->push_back(ag::nn::Linear(2, 1, /*bias=*/false));
  return net;
}

// A float32 [2, 3] and a float64 [3] parameter.
inline std::vector<ag::Tensor> make_params() {
  ag::manual_seed(2);
  ag::Tensor w = ag::randn({2, 3}).requires_grad_();
  ag::Tensor b = ag::zeros({3}, ag::kFloat64).requires_grad_();
  return {w, b};
}

inline void one_step(ag::optim::Optimizer& opt, const std::vector<ag::Tensor>& params) {
  for (const auto& p : params) p.set_grad(ag::ones_like(p));
  opt.step();
}

inline ag::optim::AdamOptions adam_options() { return ag::optim::AdamOptions(1e-2).betas({0.8, 0.9}).weight_decay(0.1); }
inline ag::optim::SGDOptions sgd_options() { return ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true); }

}  // namespace ag_fuzz
