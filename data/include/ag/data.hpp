// ag::data — everything that feeds a model: datasets, the DataLoader, file readers and
// synthetic sets. One include for all of it (the umbrella ag/ag.hpp includes this too).
//
//   auto train = ag::data::FashionMNIST("/usr/share/datasets/fashion-mnist", /*train=*/true);
//   ag::data::DataLoader loader(train, ag::data::DataLoaderOptions(128).shuffle(true).seed(1));
//   for (auto& batch : loader) { ... batch.input [128, 784] float32, batch.target [128] int64 ... }
#pragma once

#include "ag/data/csv.hpp"
#include "ag/data/dataloader.hpp"
#include "ag/data/dataset.hpp"
#include "ag/data/mnist.hpp"
#include "ag/data/synthetic.hpp"
