// ag::nn activation modules: Sigmoid, ReLU, Tanh, Softmax(dim), LogSoftmax(dim).
//
// What it represents: parameter-free modules wrapping the functional forms, so they can
// sit in a Sequential. Each forward requires a floating tensor and ensures the elementwise
// (or, for the softmaxes, along-`dim`) result of the same shape.
#pragma once

#include <cstdint>

#include "ag/nn/module.hpp"

namespace ag::nn {

class SigmoidImpl : public Module {
 public:
  Tensor forward(const Tensor& x);
  std::string name() const override { return "Sigmoid"; }
};
AG_MODULE(Sigmoid);

class ReLUImpl : public Module {
 public:
  Tensor forward(const Tensor& x);
  std::string name() const override { return "ReLU"; }
};
AG_MODULE(ReLU);

class TanhImpl : public Module {
 public:
  Tensor forward(const Tensor& x);
  std::string name() const override { return "Tanh"; }
};
AG_MODULE(Tanh);

struct SoftmaxOptions {
  SoftmaxOptions(int64_t dim) : dim_(dim) {}  // NOLINT: implicit, as in libtorch
  AG_ARG(int64_t, dim);
};

// ensures: forward(x) = softmax(x, dim): non-negative, sums to 1 along dim.
class SoftmaxImpl : public Module {
 public:
  explicit SoftmaxImpl(const SoftmaxOptions& options) : options(options) {}
  explicit SoftmaxImpl(int64_t dim) : options(dim) {}
  Tensor forward(const Tensor& x);
  std::string name() const override { return "Softmax"; }
  void pretty_print(std::ostream& os) const override;
  SoftmaxOptions options;
};
AG_MODULE(Softmax);

using LogSoftmaxOptions = SoftmaxOptions;
// ensures: forward(x) = log_softmax(x, dim), computed stably.
class LogSoftmaxImpl : public Module {
 public:
  explicit LogSoftmaxImpl(const LogSoftmaxOptions& options) : options(options) {}
  explicit LogSoftmaxImpl(int64_t dim) : options(dim) {}
  Tensor forward(const Tensor& x);
  std::string name() const override { return "LogSoftmax"; }
  void pretty_print(std::ostream& os) const override;
  LogSoftmaxOptions options;
};
AG_MODULE(LogSoftmax);

}  // namespace ag::nn
