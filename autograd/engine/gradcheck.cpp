#include "ag/gradcheck.hpp"

#include <cmath>
#include <cstdio>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"

namespace ag {

namespace {

// Element k (row-major) of a float64 tensor, by reference into its storage.
double& element(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (k % t.size(d)) * t.stride(d);
    k /= t.size(d);
  }
  return t.data_ptr<double>()[off];
}

Tensor eval(const TensorFunction& f, const tensor_list& inputs) {
  Tensor out = f(inputs);
  AG_CHECK(out.defined(), "gradcheck: the function returned an undefined tensor");
  AG_CHECK(out.dtype() == kFloat64, "gradcheck: the function must return float64, got ", dtype_name(out.dtype()));
  return out;
}

}  // namespace

bool gradcheck(const TensorFunction& f, const tensor_list& inputs, GradcheckOptions o) {
  tensor_list diff;  // the inputs that require grad
  for (size_t i = 0; i < inputs.size(); ++i) {
    AG_CHECK(inputs[i].defined(), "gradcheck: input ", i, " is undefined");
    if (!inputs[i].requires_grad()) continue;
    AG_CHECK(inputs[i].dtype() == kFloat64, "gradcheck: input ", i, " has dtype ", dtype_name(inputs[i].dtype()),
             "; gradcheck needs float64 inputs");
    diff.push_back(inputs[i]);
  }
  AG_CHECK(!diff.empty(), "gradcheck: no input requires grad");

  // Analytic Jacobian, one output element at a time: rows[j][i] = d out[j] / d input i.
  Tensor out = eval(f, inputs);
  const int64_t m = out.numel();
  std::vector<tensor_list> rows;
  for (int64_t j = 0; j < m; ++j) {
    Tensor onehot = zeros(out.shape(), TensorOptions(kFloat64));
    element(onehot, j) = 1.0;
    if (!out.requires_grad()) {
      rows.emplace_back(diff.size());
      continue;
    }
    rows.push_back(grad({out}, diff, {onehot}, /*retain_graph=*/true, false, /*allow_unused=*/true));
  }

  // Numeric Jacobian by central differences, compared entry by entry.
  double worst = 0;
  bool ok = true;
  size_t wi = 0;
  int64_t wk = 0, wj = 0;
  double wa = 0, wn = 0;
  NoGradGuard ng;
  for (size_t i = 0; i < diff.size(); ++i) {
    const Tensor& x = diff[i];
    for (int64_t k = 0; k < x.numel(); ++k) {
      double& v = element(x, k);
      const double saved = v;
      v = saved + o.eps;
      // clone(): the output may be a view of the input we are about to perturb again.
      Tensor plus = eval(f, inputs).clone();
      v = saved - o.eps;
      Tensor minus = eval(f, inputs).clone();
      v = saved;
      for (int64_t j = 0; j < m; ++j) {
        const double num = (plus.data_ptr<double>()[j] - minus.data_ptr<double>()[j]) / (2 * o.eps);
        const Tensor& g = rows[j][i];
        const double ana = g.defined() ? element(g.contiguous(), k) : 0.0;
        const double err = std::fabs(ana - num);
        const double excess = err - (o.atol + o.rtol * std::fabs(num));
        if (!(excess <= 0)) ok = false;  // NaN fails too
        if (!(excess <= worst)) {
          worst = std::isnan(excess) ? INFINITY : excess;
          wi = i; wk = k; wj = j; wa = ana; wn = num;
        }
      }
    }
  }
  if (!ok)
    std::fprintf(stderr,
                 "gradcheck failed: input %zu element %lld, output element %lld: analytic %.10g vs numeric %.10g "
                 "(atol %g, rtol %g)\n",
                 wi, static_cast<long long>(wk), static_cast<long long>(wj), wa, wn, o.atol, o.rtol);
  return ok;
}

bool gradgradcheck(const TensorFunction& f, const tensor_list& inputs, GradcheckOptions o) {
  tensor_list diff;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) diff.push_back(t);
  AG_CHECK(!diff.empty(), "gradgradcheck: no input requires grad");
  Tensor out0 = eval(f, inputs);
  // Fixed random directions for the output (v) and for each gradient (w).
  Tensor v = randn(out0.shape(), TensorOptions(kFloat64));
  tensor_list w;
  for (const auto& t : diff) w.push_back(randn(t.shape(), TensorOptions(kFloat64)));
  TensorFunction first = [&](const tensor_list& xs) {
    // gradcheck evaluates this under NoGradGuard for its finite differences; the inner
    // gradient needs a graph all the same.
    AutoGradMode on(true);
    Tensor out = eval(f, xs);
    if (!out.requires_grad()) return zeros({}, TensorOptions(kFloat64));
    tensor_list g = grad({out}, diff, {v}, true, /*create_graph=*/true, /*allow_unused=*/true);
    Tensor s = zeros({}, TensorOptions(kFloat64));
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i].defined()) s = s + (g[i] * w[i]).sum();
    return s;
  };
  return gradcheck(first, inputs, o);
}

}  // namespace ag
