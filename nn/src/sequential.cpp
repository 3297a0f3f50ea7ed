// ag::nn::Sequential.
#include "ag/nn/sequential.hpp"

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

Tensor SequentialImpl::forward(const Tensor& x) {
  AG_CHECK(!modules_.empty(), "Sequential: cannot call forward() on an empty Sequential");
  Tensor y = modules_[0].forward(x);
  for (size_t i = 1; i < modules_.size(); ++i) y = modules_[i].forward(y);
  return y;
}

}  // namespace ag::nn
