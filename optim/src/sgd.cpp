// SGD: options, state and the one-pass update loop (PyTorch's torch.optim.SGD rule; see
// ag/optim/sgd.hpp for the formula).
#include "ag/optim/sgd.hpp"

#include <type_traits>

#include "util.hpp"

namespace ag::optim {

// ---- options --------------------------------------------------------------------------

SGDOptions::SGDOptions(double lr) : lr_(lr) {}

std::vector<std::pair<std::string, double>> SGDOptions::named_values() const {
  return {{"lr", lr_}, {"momentum", momentum_}, {"dampening", dampening_},
          {"weight_decay", weight_decay_}, {"nesterov", nesterov_ ? 1.0 : 0.0}};
}

void SGDOptions::set_named_value(const std::string& name, double value) {
  if (name == "lr") lr_ = value;
  else if (name == "momentum") momentum_ = value;
  else if (name == "dampening") dampening_ = value;
  else if (name == "weight_decay") weight_decay_ = value;
  else if (name == "nesterov") {
    AG_CHECK(value == 0.0 || value == 1.0, "SGDOptions: nesterov must be 0 or 1, got ", value);
    nesterov_ = value != 0.0;
  } else {
    fail("SGDOptions: unknown option '", name, "'");
  }
}

void SGDOptions::validate() const {
  internal::check_nonneg("SGD", "learning rate", lr_);
  internal::check_nonneg("SGD", "momentum value", momentum_);
  internal::check_nonneg("SGD", "dampening value", dampening_);
  internal::check_nonneg("SGD", "weight_decay value", weight_decay_);
  AG_CHECK(!nesterov_ || (momentum_ > 0 && dampening_ == 0),
           "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ", momentum_,
           ", dampening ", dampening_, ")");
}

std::unique_ptr<OptimizerParamState> SGDParamState::clone() const {
  auto s = std::make_unique<SGDParamState>();
  if (momentum_buffer.defined()) s->momentum_buffer = momentum_buffer.clone();
  return s;
}

// ---- optimizer ------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions defaults)
    : SGD(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

SGD::SGD(std::vector<OptimizerParamGroup> param_groups, SGDOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<SGDOptions>(std::move(defaults))) {}

std::unique_ptr<OptimizerParamState> SGD::make_state() const { return std::make_unique<SGDParamState>(); }

namespace {

// One pass over n elements; the flags are template parameters so that each variant is a
// branch-free loop the compiler vectorises.
template <bool WeightDecay, bool Momentum, bool First, bool Nesterov, class T>
void sgd_loop(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n, T lr, T wd, T mom, T one_minus_damp) {
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if constexpr (WeightDecay) d = d + wd * p[i];
    if constexpr (Momentum) {
      T b;
      if constexpr (First) b = d;
      else b = mom * buf[i] + one_minus_damp * d;
      buf[i] = b;
      if constexpr (Nesterov) d = d + mom * b;
      else d = b;
    }
    p[i] = p[i] - lr * d;
  }
}

template <bool WeightDecay, class T>
void sgd_dispatch(T* p, const T* g, T* buf, int64_t n, const SGDOptions& o, bool first) {
  const T lr = static_cast<T>(o.lr()), wd = static_cast<T>(o.weight_decay()), mom = static_cast<T>(o.momentum());
  const T omd = static_cast<T>(1.0 - o.dampening());
  if (o.momentum() == 0) return sgd_loop<WeightDecay, false, false, false>(p, g, buf, n, lr, wd, mom, omd);
  if (first) {
    if (o.nesterov()) return sgd_loop<WeightDecay, true, true, true>(p, g, buf, n, lr, wd, mom, omd);
    return sgd_loop<WeightDecay, true, true, false>(p, g, buf, n, lr, wd, mom, omd);
  }
  if (o.nesterov()) return sgd_loop<WeightDecay, true, false, true>(p, g, buf, n, lr, wd, mom, omd);
  return sgd_loop<WeightDecay, true, false, false>(p, g, buf, n, lr, wd, mom, omd);
}

}  // namespace

void SGD::update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options, OptimizerParamState& state) {
  const auto& o = static_cast<const SGDOptions&>(options);
  auto& s = static_cast<SGDParamState&>(state);
  bool first = false;
  if (o.momentum() != 0 && !s.momentum_buffer.defined()) {
    s.momentum_buffer = empty(param.shape(), TensorOptions(param.dtype()));
    first = true;
  }
  internal::with_contiguous(param, grad, [&](auto* p, const auto* g, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    T* buf = s.momentum_buffer.defined() ? s.momentum_buffer.data_ptr<T>() : nullptr;
    internal::in_chunks(n, [&](int64_t i, int64_t len) {  // Note [Parallel update]
      T* b = buf ? buf + i : nullptr;
      if (o.weight_decay() != 0) sgd_dispatch<true>(p + i, g + i, b, len, o, first);
      else sgd_dispatch<false>(p + i, g + i, b, len, o, first);
    });
  });
}

}  // namespace ag::optim
