// ag::nn::utils — helpers around parameters and their gradients.
#pragma once

#include <limits>
#include <vector>

#include "ag/tensor.hpp"

namespace ag::nn::utils {

// requires: max_norm >= 0; norm_type > 0 (std::numeric_limits<double>::infinity() for the
//           max-norm).
// ensures: returns the total norm of all defined .grad()s taken together (as one vector),
//          computed in float64; when it exceeds max_norm every gradient is multiplied in
//          place by max_norm / (total + 1e-6), as PyTorch does. Parameters without a
//          gradient are skipped. With error_if_nonfinite a NaN/Inf total throws ag::Error
//          (and nothing is scaled).
double clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
// ensures: every defined gradient clamped in place to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

// ensures: all parameters flattened and concatenated into one 1-D tensor (a copy).
Tensor parameters_to_vector(const std::vector<Tensor>& parameters);
// requires: vec.numel() equals the parameters' total size.
// ensures: the parameters' values are overwritten in place from consecutive slices of vec.
void vector_to_parameters(const Tensor& vec, const std::vector<Tensor>& parameters);

}  // namespace ag::nn::utils
