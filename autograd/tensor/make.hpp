// Internal helpers to create tensors and views. Not part of the public API.
#pragma once

#include "ag/tensor.hpp"

namespace ag::detail {

// A new contiguous tensor of `shape` and `dtype`, uninitialised.
Tensor make_tensor(const Shape& shape, Dtype dtype);
// A view of `base`'s storage with the given geometry (shares the version counter).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// Normalises a possibly negative dimension index for a tensor of `ndim` dims.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);
// Reads element `i` (in logical row-major order) of any tensor as a double.
double read_as_double(const Tensor& t, int64_t i);
// Reads element `i` of an int64 tensor exactly (a double cannot hold every int64).
int64_t read_int64(const Tensor& t, int64_t i);

}  // namespace ag::detail
