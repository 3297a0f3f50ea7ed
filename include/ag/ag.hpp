// The umbrella header of ag: tensors, autograd, nn, optim and data.
#pragma once

#include "ag/autograd.hpp"
#include "ag/forward_ad.hpp"
#include "ag/functional.hpp"
#include "ag/gradcheck.hpp"
#include "ag/ops.hpp"
#include "ag/tensor.hpp"
#if __has_include("ag/nn.hpp")
#include "ag/nn.hpp"
#endif
#if __has_include("ag/optim.hpp")
#include "ag/optim.hpp"
#endif
#if __has_include("ag/data.hpp")
#include "ag/data.hpp"
#endif
