// ag::nn::Dropout.
#include "ag/nn/dropout.hpp"

#include <ostream>

#include "ag/nn/functional.hpp"

namespace ag::nn {

DropoutImpl::DropoutImpl(const DropoutOptions& opts) : options(opts) {
  AG_CHECK(options.p() >= 0.0 && options.p() < 1.0, "Dropout: probability has to be in [0, 1), but got ", options.p());
}
DropoutImpl::DropoutImpl(double p) : DropoutImpl(DropoutOptions(p)) {}

Tensor DropoutImpl::forward(const Tensor& x) { return functional::dropout(x, options.p(), is_training()); }

void DropoutImpl::pretty_print(std::ostream& os) const { os << "Dropout(p=" << options.p() << ")"; }

}  // namespace ag::nn
