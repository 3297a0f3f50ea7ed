// ag::nn::init: draws from ag::rand / ag::randn (the seeded generator), copied in place.
#include "ag/nn/init.hpp"

#include <cmath>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"

namespace ag::nn::init {

namespace {
void check_floating(const Tensor& t, const char* op) {
  AG_CHECK(t.defined(), op, ": the tensor is undefined");
  AG_CHECK(t.is_floating_point(), op, ": expected a floating tensor, got dtype ", dtype_name(t.dtype()),
           " (shape ", shape_str(t.shape()), ")");
}

int64_t fan(const Tensor& t, FanMode mode) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return mode == FanMode::FanIn ? in : out;
}

// Writes `values` (same shape) into t without recording a graph.
Tensor assign(Tensor& t, const Tensor& values) {
  NoGradGuard guard;
  t.copy_(values);
  return t;
}
}  // namespace

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv1D:
    case Nonlinearity::Conv2D:
    case Nonlinearity::Conv3D:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  AG_CHECK(t.defined() && t.dim() >= 2, "calculate_fan_in_and_fan_out: fan in and fan out can not be computed "
           "for tensor with fewer than 2 dimensions (shape ", t.defined() ? shape_str(t.shape()) : "undefined", ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(Tensor t, double a, double b) {
  check_floating(t, "uniform_");
  AG_CHECK(a <= b, "uniform_: expected a <= b, got a=", a, " and b=", b);
  // Draw in float64 and round once, so float32 and float64 tensors see the same stream.
  Tensor r = rand(t.shape(), TensorOptions(kFloat64));
  NoGradGuard guard;
  return assign(t, (r * (b - a) + a).to(t.dtype()));
}

Tensor normal_(Tensor t, double mean, double std) {
  check_floating(t, "normal_");
  AG_CHECK(std >= 0.0, "normal_: expected std >= 0, got ", std);
  Tensor r = randn(t.shape(), TensorOptions(kFloat64));
  NoGradGuard guard;
  return assign(t, (r * std + mean).to(t.dtype()));
}

Tensor constant_(Tensor t, double value) {
  AG_CHECK(t.defined(), "constant_: the tensor is undefined");
  NoGradGuard guard;
  t.fill_(value);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

Tensor xavier_uniform_(Tensor t, double gain) {
  check_floating(t, "xavier_uniform_");
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  return uniform_(std::move(t), -bound, bound);
}

Tensor xavier_normal_(Tensor t, double gain) {
  check_floating(t, "xavier_normal_");
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(std::move(t), 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)));
}

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nl) {
  check_floating(t, "kaiming_uniform_");
  const int64_t f = fan(t, mode);
  AG_CHECK(f > 0, "kaiming_uniform_: cannot initialise a tensor with zero fan (shape ", shape_str(t.shape()), ")");
  const double bound = calculate_gain(nl, a) * std::sqrt(3.0 / static_cast<double>(f));
  return uniform_(std::move(t), -bound, bound);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nl) {
  check_floating(t, "kaiming_normal_");
  const int64_t f = fan(t, mode);
  AG_CHECK(f > 0, "kaiming_normal_: cannot initialise a tensor with zero fan (shape ", shape_str(t.shape()), ")");
  return normal_(std::move(t), 0.0, calculate_gain(nl, a) / std::sqrt(static_cast<double>(f)));
}

}  // namespace ag::nn::init
