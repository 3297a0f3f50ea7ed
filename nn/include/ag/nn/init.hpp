// ag::nn::init — in-place initialisation of parameters, as torch::nn::init.
//
// What it represents: functions that overwrite a tensor's values (under NoGradGuard, so
// they work on parameters that require grad) with draws from ag's seeded generator.
// The same ag::manual_seed gives the same values on every run and machine.
// Each requires: `t` defined and floating (constant_/zeros_/ones_ accept any dtype).
// Each ensures: t's values are replaced, the same handle is returned; shape, dtype,
// requires_grad and .grad() are unchanged.
#pragma once

#include <cstdint>
#include <utility>

#include "ag/tensor.hpp"

namespace ag::nn::init {

enum class Nonlinearity { Linear, Conv1D, Conv2D, Conv3D, Sigmoid, Tanh, ReLU, LeakyReLU };
enum class FanMode { FanIn, FanOut };
inline constexpr Nonlinearity kLinear = Nonlinearity::Linear;
inline constexpr Nonlinearity kSigmoid = Nonlinearity::Sigmoid;
inline constexpr Nonlinearity kTanh = Nonlinearity::Tanh;
inline constexpr Nonlinearity kReLU = Nonlinearity::ReLU;
inline constexpr Nonlinearity kLeakyReLU = Nonlinearity::LeakyReLU;
inline constexpr FanMode kFanIn = FanMode::FanIn;
inline constexpr FanMode kFanOut = FanMode::FanOut;

// ensures: PyTorch's recommended gain (ReLU: sqrt(2), Tanh: 5/3, LeakyReLU with slope
//          `param`: sqrt(2 / (1 + param^2)), Linear/Conv/Sigmoid: 1).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
// requires: t.dim() >= 2 (else ag::Error).  ensures: {fan_in, fan_out} as PyTorch
//           computes them: size(1)·receptive field, size(0)·receptive field.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor uniform_(Tensor t, double a = 0.0, double b = 1.0);       // U(a, b)
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0);   // N(mean, std^2)
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
// U(-b, b) with b = gain·sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor t, double gain = 1.0);
// N(0, s^2) with s = gain·sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor t, double gain = 1.0);
// U(-b, b) with b = calculate_gain(nonlinearity, a)·sqrt(3 / fan). The default a = 0 is
// PyTorch's; nn::Linear uses a = sqrt(5), which gives b = 1/sqrt(fan_in).
Tensor kaiming_uniform_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
// N(0, s^2) with s = calculate_gain(nonlinearity, a) / sqrt(fan).
Tensor kaiming_normal_(Tensor t, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

}  // namespace ag::nn::init
