// Checking derivatives against finite differences.
//
// gradcheck(f, inputs): f maps a list of float64 tensors to one tensor. For every input
// that requires grad, the Jacobian computed by backward is compared with central finite
// differences, entry by entry: |analytic - numeric| <= atol + rtol * |numeric|.
// Returns true when all entries pass; otherwise prints the worst entry to stderr and
// returns false. Inputs must be float64 (float32 finite differences are too coarse).
//
// gradgradcheck(f, inputs): the same for the second derivative — it checks, with
// gradcheck, the function x -> <grad_x <f(x), v>, w> for fixed random v and w, whose
// backward runs through the graph that create_graph=true records.
#pragma once

#include <functional>

#include "ag/tensor.hpp"

namespace ag {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

using TensorFunction = std::function<Tensor(const tensor_list&)>;

bool gradcheck(const TensorFunction& f, const tensor_list& inputs, GradcheckOptions opts = {});
bool gradgradcheck(const TensorFunction& f, const tensor_list& inputs, GradcheckOptions opts = {});

}  // namespace ag
