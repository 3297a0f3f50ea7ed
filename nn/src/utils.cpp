// ag::nn::utils: gradient clipping and parameter <-> vector conversion.
#include "ag/nn/utils.hpp"

#include <algorithm>
#include <cmath>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"

namespace ag::nn::utils {

namespace {
// Sum of |g|^p (or max |g| for p = inf) over one tensor, in float64.
double accumulate(const Tensor& g, double p) {
  const Tensor c = g.contiguous();
  double acc = 0.0;
  dispatch(c.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T* d = c.data_ptr<T>();
      const int64_t n = c.numel();
      if (std::isinf(p)) {
        for (int64_t i = 0; i < n; ++i) acc = std::max(acc, std::abs(static_cast<double>(d[i])));
        for (int64_t i = 0; i < n; ++i) if (std::isnan(static_cast<double>(d[i]))) acc = NAN;
      } else if (p == 2.0) {
        for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(d[i]) * static_cast<double>(d[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(d[i])), p);
      }
    }
  });
  return acc;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  AG_CHECK(max_norm >= 0.0, "clip_grad_norm_: max_norm must be non-negative, got ", max_norm);
  AG_CHECK(norm_type > 0.0, "clip_grad_norm_: norm_type must be positive, got ", norm_type);
  std::vector<Tensor> grads;
  for (const auto& p : parameters) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  double total = 0.0;
  if (std::isinf(norm_type)) {
    for (const auto& g : grads) {
      const double m = accumulate(g, norm_type);
      total = std::isnan(m) || std::isnan(total) ? NAN : std::max(total, m);
    }
  } else {
    for (const auto& g : grads) total += accumulate(g, norm_type);
    total = norm_type == 2.0 ? std::sqrt(total) : std::pow(total, 1.0 / norm_type);
  }
  AG_CHECK(!(error_if_nonfinite && !std::isfinite(total)), "clip_grad_norm_: the total norm of order ", norm_type,
           " for gradients from ", grads.size(), " parameters is non-finite (", total,
           "), so it cannot be clipped; set error_if_nonfinite=false to skip this check");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    NoGradGuard guard;
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type, bool error_if_nonfinite) {
  return clip_grad_norm_(std::vector<Tensor>{parameter}, max_norm, norm_type, error_if_nonfinite);
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  AG_CHECK(clip_value >= 0.0, "clip_grad_value_: clip_value must be non-negative, got ", clip_value);
  NoGradGuard guard;
  for (const auto& p : parameters) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (g.defined()) g.copy_(clamp(g, -clip_value, clip_value));
  }
}

Tensor parameters_to_vector(const std::vector<Tensor>& parameters) {
  AG_CHECK(!parameters.empty(), "parameters_to_vector: expected at least one parameter");
  tensor_list flat;
  for (const auto& p : parameters) flat.push_back(p.reshape({-1}));
  return cat(flat, 0);
}

void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters) {
  AG_CHECK(vec.defined() && vec.dim() == 1, "vector_to_parameters: expected a 1-D tensor, got ",
           vec.defined() ? shape_str(vec.shape()) : std::string("undefined"));
  int64_t total = 0;
  for (const auto& p : parameters) total += p.numel();
  AG_CHECK(total == vec.numel(), "vector_to_parameters: the vector has ", vec.numel(),
           " elements but the parameters hold ", total);
  NoGradGuard guard;
  int64_t offset = 0;
  for (auto p : parameters) {
    p.copy_(vec.slice(0, offset, offset + p.numel()).reshape(p.shape()));
    offset += p.numel();
  }
}

}  // namespace ag::nn::utils
