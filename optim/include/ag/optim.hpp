// ag::optim — optimizers and learning-rate schedulers (libtorch's torch::optim names).
//
// What it holds: ag::optim::Optimizer (param groups, step, zero_grad, state_dict), SGD,
// Adam, AdamW, the schedulers StepLR and CosineAnnealingLR, and save/load of an
// optimizer's state (plus a scheduler's) to a safetensors file.
//
//   auto opt = ag::optim::Adam(model_params, ag::optim::AdamOptions(1e-3));
//   ag::optim::StepLR sched(opt, /*step_size=*/10, /*gamma=*/0.5);
//   for (...) { opt.zero_grad(); loss.backward(); opt.step(); }  sched.step();  // per epoch
#pragma once

#include "ag/optim/optimizer.hpp"
#include "ag/optim/sgd.hpp"
#include "ag/optim/adam.hpp"
#include "ag/optim/schedulers.hpp"
#include "ag/optim/serialize.hpp"
