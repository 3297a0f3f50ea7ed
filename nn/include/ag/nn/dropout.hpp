// ag::nn::Dropout — random zeroing during training (inverted dropout).
//
// What it represents: a parameter-free module. In training mode forward zeroes each
// element with probability p (ag's seeded generator) and scales the others by 1/(1-p),
// so the expected value is unchanged; in eval mode forward is the identity.
#pragma once

#include "ag/nn/module.hpp"

namespace ag::nn {

struct DropoutOptions {
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: implicit, as in libtorch
  AG_ARG(double, p);
};

class DropoutImpl : public Module {
 public:
  // requires: 0 <= p < 1 (else ag::Error).
  explicit DropoutImpl(const DropoutOptions& options = {});
  explicit DropoutImpl(double p);
  // ensures: functional::dropout(x, p, is_training()).
  Tensor forward(const Tensor& x);
  std::string name() const override { return "Dropout"; }
  void pretty_print(std::ostream& os) const override;
  DropoutOptions options;
};
AG_MODULE(Dropout);

}  // namespace ag::nn
