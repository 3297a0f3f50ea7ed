// ag::optim::Adam and ag::optim::AdamW — adaptive moment estimation, PyTorch's exact
// update rule with bias correction; AdamW decouples the weight decay from the gradient.
//
// What they represent: Optimizers whose step() does, for each parameter p with grad g,
// with t the parameter's step count after incrementing it:
//     Adam:   g = g + weight_decay * p               (when weight_decay != 0)
//     AdamW:  p = p * (1 - lr * weight_decay)
//     m = b1 * m + (1 - b1) * g
//     v = b2 * v + (1 - b2) * g * g
//     amsgrad: vmax = max(vmax, v), and vmax replaces v below
//     p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// in one pass over p's data (the form of torch.optim.Adam: m̂ = m / (1 - b1^t),
// v̂ = v / (1 - b2^t), p -= lr * m̂ / (sqrt(v̂) + eps)). State per parameter: "step",
// "exp_avg" (m), "exp_avg_sq" (v) and, with amsgrad, "max_exp_avg_sq" (vmax), all zero
// before the first step.
//
//   ag::optim::Adam opt(params, ag::optim::AdamOptions(1e-3).betas({0.9, 0.999}));
//   ag::optim::AdamW optw(params, ag::optim::AdamWOptions(1e-3));  // weight_decay 1e-2
#pragma once

#include <tuple>

#include "ag/optim/optimizer.hpp"

namespace ag::optim {

// Requires (checked by validate(), at construction and every step): lr, eps,
// weight_decay finite and >= 0; both betas in [0, 1).
// The options Adam and AdamW share, as one class template over the concrete options class
// (so that each setter returns AdamOptions& or AdamWOptions& and chains as in libtorch).
// The two differ only in their name and in the default weight decay.
template <class Derived>
class AdamFamilyOptions : public OptimizerOptions {
#define AG_ADAM_ARG(T, name)                                            \
 public:                                                                \
  Derived& name(const T& new_##name) {                                  \
    this->name##_ = new_##name;                                         \
    return static_cast<Derived&>(*this);                                \
  }                                                                     \
  const T& name() const noexcept { return this->name##_; }              \
  T& name() noexcept { return this->name##_; }                          \
                                                                        \
 private:                                                               \
  T name##_

 public:
  AdamFamilyOptions(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}
  AG_ADAM_ARG(double, lr);
  typedef std::tuple<double, double> betas_t;
  AG_ADAM_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  AG_ADAM_ARG(double, eps) = 1e-8;
  AG_ADAM_ARG(double, weight_decay);
  AG_ADAM_ARG(bool, amsgrad) = false;
#undef AG_ADAM_ARG

 public:
  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  double get_lr() const override { return lr(); }
  void set_lr(double lr) override { lr_ = lr; }
  std::vector<std::pair<std::string, double>> named_values() const override;
  void set_named_value(const std::string& name, double value) override;
  void validate() const override;
};

class AdamOptions : public AdamFamilyOptions<AdamOptions> {
 public:
  AdamOptions(double lr = 1e-3) : AdamFamilyOptions(lr, 0.0) {}  // NOLINT: implicit, as libtorch
  const char* kind() const override { return "Adam"; }
};

// AdamW's options: Adam's, with weight_decay 1e-2 by default (decoupled).
class AdamWOptions : public AdamFamilyOptions<AdamWOptions> {
 public:
  AdamWOptions(double lr = 1e-3) : AdamFamilyOptions(lr, 1e-2) {}  // NOLINT: implicit, as libtorch
  const char* kind() const override { return "AdamW"; }
};

struct AdamParamState : public OptimizerParamState {
  int64_t step = 0;
  Tensor exp_avg;         // m
  Tensor exp_avg_sq;      // v
  Tensor max_exp_avg_sq;  // vmax, amsgrad only
  std::unique_ptr<OptimizerParamState> clone() const override;
  std::vector<std::pair<std::string, Tensor*>> named_buffers() override;
  std::vector<std::pair<std::string, int64_t*>> named_counters() override { return {{"step", &step}}; }
};
using AdamWParamState = AdamParamState;

// Adam and AdamW: one optimizer over its options class (AdamW decouples the weight decay).
template <class Options>
class AdamFamily : public Optimizer {
 public:
  explicit AdamFamily(std::vector<Tensor> params, Options defaults = {});
  explicit AdamFamily(std::vector<OptimizerParamGroup> param_groups, Options defaults = {});

 protected:
  std::unique_ptr<OptimizerParamState> make_state() const override;
  void check_loaded_state(OptimizerParamState& state, const Tensor& param, const OptimizerOptions& options,
                          const std::string& where) const override;
  void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
              OptimizerParamState& state) override;
};

class Adam : public AdamFamily<AdamOptions> {
 public:
  using AdamFamily::AdamFamily;
};

class AdamW : public AdamFamily<AdamWOptions> {
 public:
  using AdamFamily::AdamFamily;
};

extern template class AdamFamily<AdamOptions>;
extern template class AdamFamily<AdamWOptions>;

}  // namespace ag::optim
