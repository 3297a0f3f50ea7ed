// ag::optim::SGD — stochastic gradient descent with momentum, dampening, Nesterov
// momentum and (L2) weight decay: PyTorch's exact update rule.
//
// What it represents: an Optimizer whose step() does, for each parameter p with grad g,
//     d = g + weight_decay * p                          (when weight_decay != 0)
//     if momentum != 0:
//         buf = d                                        on p's first step
//         buf = momentum * buf + (1 - dampening) * d     afterwards
//         d = nesterov ? d + momentum * buf : buf
//     p = p - lr * d
// in one pass over p's data. State per parameter: "momentum_buffer" (when momentum != 0).
//
//   ag::optim::SGD opt(params, ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
#pragma once

#include "ag/optim/optimizer.hpp"

namespace ag::optim {

// Requires (checked by validate(), at construction and every step): lr finite and >= 0;
// momentum, dampening, weight_decay finite and >= 0; nesterov only with momentum > 0 and
// dampening == 0.
class SGDOptions : public OptimizerOptions {
 public:
  SGDOptions(double lr);  // NOLINT: implicit, as libtorch
  AG_OPTIM_ARG(double, lr);
  AG_OPTIM_ARG(double, momentum) = 0;
  AG_OPTIM_ARG(double, dampening) = 0;
  AG_OPTIM_ARG(double, weight_decay) = 0;
  AG_OPTIM_ARG(bool, nesterov) = false;

 public:
  const char* kind() const override { return "SGD"; }
  std::unique_ptr<OptimizerOptions> clone() const override { return std::make_unique<SGDOptions>(*this); }
  double get_lr() const override { return lr(); }
  void set_lr(double lr) override { lr_ = lr; }
  std::vector<std::pair<std::string, double>> named_values() const override;
  void set_named_value(const std::string& name, double value) override;
  void validate() const override;
};

struct SGDParamState : public OptimizerParamState {
  Tensor momentum_buffer;  // undefined until the first step with momentum != 0
  std::unique_ptr<OptimizerParamState> clone() const override;
  std::vector<std::pair<std::string, Tensor*>> named_buffers() override { return {{"momentum_buffer", &momentum_buffer}}; }
};

class SGD : public Optimizer {
 public:
  // Requires: see Optimizer::add_param_group for the parameters, SGDOptions for defaults.
  explicit SGD(std::vector<Tensor> params, SGDOptions defaults);
  explicit SGD(std::vector<OptimizerParamGroup> param_groups, SGDOptions defaults);

 protected:
  std::unique_ptr<OptimizerParamState> make_state() const override;
  void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
              OptimizerParamState& state) override;
};

}  // namespace ag::optim
