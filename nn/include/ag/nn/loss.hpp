// ag::nn loss modules: MSELoss, BCELoss, BCEWithLogitsLoss, NLLLoss, CrossEntropyLoss.
//
// What it represents: the functional losses (ag/nn/functional.hpp) as modules holding
// their reduction, called as loss(input, target). Requirements and results are those
// of the functional forms.
#pragma once

#include "ag/nn/functional.hpp"
#include "ag/nn/module.hpp"

namespace ag::nn {

#define AG_NN_LOSS_MODULE(Name, display)                                       \
  class Name##Impl : public Module {                                           \
   public:                                                                     \
    explicit Name##Impl(Reduction reduction = Reduction::Mean) : reduction(reduction) {} \
    Tensor forward(const Tensor& input, const Tensor& target);                 \
    std::string name() const override { return display; }                     \
    Reduction reduction;                                                       \
  };                                                                           \
  AG_MODULE(Name)

AG_NN_LOSS_MODULE(MSELoss, "MSELoss");
AG_NN_LOSS_MODULE(BCELoss, "BCELoss");
AG_NN_LOSS_MODULE(BCEWithLogitsLoss, "BCEWithLogitsLoss");
AG_NN_LOSS_MODULE(NLLLoss, "NLLLoss");
AG_NN_LOSS_MODULE(CrossEntropyLoss, "CrossEntropyLoss");

#undef AG_NN_LOSS_MODULE

}  // namespace ag::nn
