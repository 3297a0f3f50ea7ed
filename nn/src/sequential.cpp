// ag::nn::Sequential.
#include "ag/nn/sequential.hpp"

#include <typeinfo>

#include "ag/nn/activation.hpp"
#include "ag/nn/linear.hpp"
#include "linear_activation.hpp"

namespace ag::nn {

SequentialImpl::SequentialImpl(std::vector<std::pair<std::string, AnyModule>> named) {
  for (auto& [n, m] : named) push_back(std::move(n), std::move(m));
}

void SequentialImpl::push_back(AnyModule module) { push_back(std::to_string(modules_.size()), std::move(module)); }

void SequentialImpl::push_back(std::string name, AnyModule module) {
  AG_CHECK(!module.is_empty(), "Sequential::push_back: module '", name, "' is empty");
  register_module(std::move(name), module.ptr());  // checks the name first: nothing changes on error
  modules_.push_back(std::move(module));
}

void SequentialImpl::extend(const SequentialImpl& other) {
  AG_CHECK(&other != this, "Sequential::extend: cannot extend a Sequential with itself");
  for (const auto& m : other.modules_) push_back(m);
}

const AnyModule& SequentialImpl::at_any(size_t i) const {
  AG_CHECK(i < modules_.size(), "Sequential: index ", i, " is out of range for a Sequential of size ", modules_.size());
  return modules_[i];
}

namespace {

// Note [Sequential fuses Linear + ReLU]: a Linear directly followed by a ReLU, fed a 2-D
// input, runs as one GEMM call with the bias and the relu in its epilogue. Nothing
// observable changes: relu is exact, so the values are bitwise those of the two modules,
// and the recorded graph is the composition's, node names included (Note [Fused ops keep
// the unfused graph] in autograd/ops/layer_ops.cpp). Sigmoid and Tanh are not fused here: the
// GEMM epilogue evaluates them per tile while ag::sigmoid/ag::tanh run over the whole
// tensor with a scalar tail, so an element may differ in its last bit, and Sequential
// promises the composition's bits (tests/test_nn.cpp). Use ag::detail::linear with an
// activation where that does not matter. Only the exact module types fuse: a subclass may
// have its own forward, and other ranks would order the reshape nodes differently.
template <class T>
bool is_exactly(const AnyModule& m) {
  const Module& mod = *m.ptr();
  return typeid(mod) == typeid(T);
}

}  // namespace

Tensor SequentialImpl::forward(const Tensor& x) {
  AG_CHECK(!modules_.empty(), "Sequential: cannot call forward() on an empty Sequential");
  Tensor y = x;
  for (size_t i = 0; i < modules_.size(); ++i) {
    if (i + 1 < modules_.size() && y.dim() == 2 && is_exactly<LinearImpl>(modules_[i]) &&
        is_exactly<ReLUImpl>(modules_[i + 1])) {  // Note [Sequential fuses Linear + ReLU]
      const auto& lin = static_cast<const LinearImpl&>(*modules_[i].ptr());
      y = functional::linear_activation(y, lin.weight, lin.bias, layer_ops::Activation::Relu);
      ++i;
      continue;
    }
    y = modules_[i].forward(y);
  }
  return y;
}

}  // namespace ag::nn
