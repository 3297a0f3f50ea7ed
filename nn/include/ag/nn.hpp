// ag::nn — neural-network building blocks on top of ag's tensors and autograd.
//
// What it represents: the umbrella header of the nn library (target ag::nn):
//   ag/nn/module.hpp      Module, ModuleHolder, AG_MODULE, AG_ARG
//   ag/nn/linear.hpp      Linear
//   ag/nn/activation.hpp  Sigmoid, ReLU, Tanh, Softmax, LogSoftmax
//   ag/nn/dropout.hpp     Dropout
//   ag/nn/batchnorm.hpp   BatchNorm1d
//   ag/nn/sequential.hpp  Sequential, AnyModule, Functional
//   ag/nn/functional.hpp  ag::nn::functional (layers and losses), Reduction
//   ag/nn/loss.hpp        MSELoss, BCELoss, BCEWithLogitsLoss, NLLLoss, CrossEntropyLoss
//   ag/nn/init.hpp        ag::nn::init
//   ag/nn/utils.hpp       ag::nn::utils (clip_grad_norm_, ...)
//   ag/nn/serialize.hpp   save/load (safetensors), save_tensors/load_tensors
#pragma once

#include "ag/nn/activation.hpp"
#include "ag/nn/batchnorm.hpp"
#include "ag/nn/dropout.hpp"
#include "ag/nn/functional.hpp"
#include "ag/nn/init.hpp"
#include "ag/nn/linear.hpp"
#include "ag/nn/loss.hpp"
#include "ag/nn/module.hpp"
#include "ag/nn/sequential.hpp"
#include "ag/nn/serialize.hpp"
#include "ag/nn/utils.hpp"
