// ag::nn activation modules.
#include "ag/nn/activation.hpp"

#include <ostream>

#include "ag/nn/functional.hpp"

namespace ag::nn {

Tensor SigmoidImpl::forward(const Tensor& x) { return functional::sigmoid(x); }
Tensor ReLUImpl::forward(const Tensor& x) { return functional::relu(x); }
Tensor TanhImpl::forward(const Tensor& x) { return functional::tanh(x); }

Tensor SoftmaxImpl::forward(const Tensor& x) { return functional::softmax(x, options.dim()); }
void SoftmaxImpl::pretty_print(std::ostream& os) const { os << "Softmax(dim=" << options.dim() << ")"; }

Tensor LogSoftmaxImpl::forward(const Tensor& x) { return functional::log_softmax(x, options.dim()); }
void LogSoftmaxImpl::pretty_print(std::ostream& os) const { os << "LogSoftmax(dim=" << options.dim() << ")"; }

}  // namespace ag::nn
