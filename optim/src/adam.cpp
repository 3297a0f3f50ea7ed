// Adam and AdamW: options, state and the one-pass update loop (PyTorch's torch.optim.Adam
// and torch.optim.AdamW rules; see ag/optim/adam.hpp for the formula). The two share the
// loop; they differ only in where the weight decay enters.
#include "ag/optim/adam.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "util.hpp"

namespace ag::optim {

namespace {

// The options both optimizers have, whichever class holds them.
struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad;
};

template <class O>
std::vector<std::pair<std::string, double>> adam_named_values(const O& o) {
  return {{"lr", o.lr()},
          {"beta1", std::get<0>(o.betas())},
          {"beta2", std::get<1>(o.betas())},
          {"eps", o.eps()},
          {"weight_decay", o.weight_decay()},
          {"amsgrad", o.amsgrad() ? 1.0 : 0.0}};
}

template <class O>
void adam_set_named_value(O& o, const char* who, const std::string& name, double value) {
  if (name == "lr") o.lr(value);
  else if (name == "beta1") o.betas(std::make_tuple(value, std::get<1>(o.betas())));
  else if (name == "beta2") o.betas(std::make_tuple(std::get<0>(o.betas()), value));
  else if (name == "eps") o.eps(value);
  else if (name == "weight_decay") o.weight_decay(value);
  else if (name == "amsgrad") {
    AG_CHECK(value == 0.0 || value == 1.0, who, "Options: amsgrad must be 0 or 1, got ", value);
    o.amsgrad(value != 0.0);
  } else {
    fail(who, "Options: unknown option '", name, "'");
  }
}

template <class O>
void adam_validate(const O& o, const char* who) {
  internal::check_nonneg(who, "learning rate", o.lr());
  internal::check_nonneg(who, "epsilon value", o.eps());
  internal::check_beta(who, "beta parameter at index 0", std::get<0>(o.betas()));
  internal::check_beta(who, "beta parameter at index 1", std::get<1>(o.betas()));
  internal::check_nonneg(who, "weight_decay value", o.weight_decay());
}

template <class O>
AdamHyper hyper(const O& o) {
  return {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay(), o.amsgrad()};
}

// One pass over n elements. Decoupled: AdamW's p *= 1 - lr*wd; else Adam's g += wd*p.
template <bool WeightDecay, bool Decoupled, bool Amsgrad, class T>
void adam_loop(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
               int64_t n, T b1, T one_minus_b1, T b2, T one_minus_b2, T wd, T decay, T step_size, T bc2_sqrt,
               T eps) {
  for (int64_t i = 0; i < n; ++i) {
    T gi = g[i];
    T pi = p[i];
    if constexpr (WeightDecay && Decoupled) pi = pi * decay;
    if constexpr (WeightDecay && !Decoupled) gi = gi + wd * pi;
    const T mi = b1 * m[i] + one_minus_b1 * gi;
    const T vi = b2 * v[i] + one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    T vv = vi;
    if constexpr (Amsgrad) {
      vv = std::max(vmax[i], vi);
      vmax[i] = vv;
    }
    const T denom = std::sqrt(vv) / bc2_sqrt + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

template <bool Decoupled>
void adam_update(const Tensor& param, const Tensor& grad, const AdamHyper& h, AdamParamState& s) {
  if (!s.exp_avg.defined()) {
    s.exp_avg = zeros(param.shape(), TensorOptions(param.dtype()));
    s.exp_avg_sq = zeros(param.shape(), TensorOptions(param.dtype()));
  }
  if (h.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = zeros(param.shape(), TensorOptions(param.dtype()));
  s.step += 1;
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(s.step));
  const double step_size = h.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  internal::with_contiguous(param, grad, [&](auto* p, const auto* g, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    T* m = s.exp_avg.data_ptr<T>();
    T* v = s.exp_avg_sq.data_ptr<T>();
    T* vmax = h.amsgrad ? s.max_exp_avg_sq.data_ptr<T>() : nullptr;
    const T b1 = static_cast<T>(h.beta1), omb1 = static_cast<T>(1.0 - h.beta1);
    const T b2 = static_cast<T>(h.beta2), omb2 = static_cast<T>(1.0 - h.beta2);
    const T wd = static_cast<T>(h.weight_decay), decay = static_cast<T>(1.0 - h.lr * h.weight_decay);
    const T ss = static_cast<T>(step_size), bs = static_cast<T>(bc2_sqrt), eps = static_cast<T>(h.eps);
    const bool has_wd = h.weight_decay != 0;
    internal::in_chunks(n, [&](int64_t i, int64_t len) {  // Note [Parallel update]
      T* vm = vmax ? vmax + i : nullptr;
#define AG_ADAM_LOOP(WD, AMS) \
  adam_loop<WD, Decoupled, AMS>(p + i, g + i, m + i, v + i, vm, len, b1, omb1, b2, omb2, wd, decay, ss, bs, eps)
      if (has_wd) {
        if (h.amsgrad) AG_ADAM_LOOP(true, true);
        else AG_ADAM_LOOP(true, false);
      } else {
        if (h.amsgrad) AG_ADAM_LOOP(false, true);
        else AG_ADAM_LOOP(false, false);
      }
#undef AG_ADAM_LOOP
    });
  });
}

void check_adam_state(const char* who, AdamParamState& s, const OptimizerOptions& options, bool amsgrad,
                      const std::string& where) {
  (void)options;
  AG_CHECK(s.step >= 1, "load_state_dict: ", who, " state of parameter ", where, " has step ", s.step,
           " (must be >= 1)");
  AG_CHECK(s.exp_avg.defined() && s.exp_avg_sq.defined(), "load_state_dict: ", who, " state of parameter ", where,
           " lacks '", where, s.exp_avg.defined() ? ".exp_avg_sq'" : ".exp_avg'");
  AG_CHECK(!amsgrad || s.max_exp_avg_sq.defined(), "load_state_dict: ", who, " state of parameter ", where,
           " lacks '", where, ".max_exp_avg_sq' (amsgrad is on)");
}

}  // namespace

// ---- options --------------------------------------------------------------------------

template <class Derived>
std::vector<std::pair<std::string, double>> AdamFamilyOptions<Derived>::named_values() const {
  return adam_named_values(*this);
}
template <class Derived>
void AdamFamilyOptions<Derived>::set_named_value(const std::string& name, double value) {
  adam_set_named_value(*this, kind(), name, value);
}
template <class Derived>
void AdamFamilyOptions<Derived>::validate() const {
  adam_validate(*this, kind());
}
template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;

// ---- state ----------------------------------------------------------------------------

std::unique_ptr<OptimizerParamState> AdamParamState::clone() const {
  auto s = std::make_unique<AdamParamState>();
  s->step = step;
  if (exp_avg.defined()) s->exp_avg = exp_avg.clone();
  if (exp_avg_sq.defined()) s->exp_avg_sq = exp_avg_sq.clone();
  if (max_exp_avg_sq.defined()) s->max_exp_avg_sq = max_exp_avg_sq.clone();
  return s;
}

std::vector<std::pair<std::string, Tensor*>> AdamParamState::named_buffers() {
  return {{"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}, {"max_exp_avg_sq", &max_exp_avg_sq}};
}

// ---- Adam and AdamW ---------------------------------------------------------------------

template <class Options>
AdamFamily<Options>::AdamFamily(std::vector<Tensor> params, Options defaults)
    : AdamFamily(std::vector<OptimizerParamGroup>{OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}
template <class Options>
AdamFamily<Options>::AdamFamily(std::vector<OptimizerParamGroup> param_groups, Options defaults)
    : Optimizer(std::move(param_groups), std::make_unique<Options>(std::move(defaults))) {}

template <class Options>
std::unique_ptr<OptimizerParamState> AdamFamily<Options>::make_state() const {
  return std::make_unique<AdamParamState>();
}

template <class Options>
void AdamFamily<Options>::check_loaded_state(OptimizerParamState& state, const Tensor&,
                                             const OptimizerOptions& options, const std::string& where) const {
  const auto& o = static_cast<const Options&>(options);
  check_adam_state(o.kind(), static_cast<AdamParamState&>(state), options, o.amsgrad(), where);
}

template <class Options>
void AdamFamily<Options>::update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                                 OptimizerParamState& state) {
  constexpr bool decoupled = std::is_same_v<Options, AdamWOptions>;
  adam_update<decoupled>(param, grad, hyper(static_cast<const Options&>(options)), static_cast<AdamParamState&>(state));
}

template class AdamFamily<AdamOptions>;
template class AdamFamily<AdamWOptions>;

}  // namespace ag::optim
