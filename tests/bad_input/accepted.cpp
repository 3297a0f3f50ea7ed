// Not errors: inputs at the edge that PyTorch accepts, and so does ag (the other side of the
// bad-input catalogue).
#include <gtest/gtest.h>

#include <vector>

#include "harness.hpp"

using namespace bad_input;

TEST(BadInputCatalogue, OptimizerSkipsParametersWithoutGrad) {
  auto ps = stepped_params();
  optim::Adam adam(ps, optim::AdamOptions(0.1));
  ps[0].set_grad(ag::ones_like(ps[0]));  // ps[1] has no grad: skipped, as in PyTorch
  const Tensor before1 = ps[1].detach().clone();
  adam.step();
  EXPECT_TRUE(ag::equal(ps[1].detach(), before1));
  EXPECT_EQ(adam.state_of(ps[1]), nullptr);
  EXPECT_NE(adam.state_of(ps[0]), nullptr);
}

// PyTorch casts a gradient of another floating dtype to the output's; so does ag.
TEST(BadInputCatalogue, BackwardCastsAGradientOfAnotherDtype) {
  Tensor x = ag::tensor({1.f, 2.f}, kGrad);
  (x * x).backward(ag::ones({2}, ag::kFloat64));
  EXPECT_EQ(x.grad().dtype(), ag::kFloat32);
  EXPECT_TRUE(ag::equal(x.grad(), ag::tensor({2.f, 4.f})));
}

TEST(BadInputCatalogue, EmptyAndZeroSizeTensorsWork) {
  Tensor e = ag::zeros({0, 3}, kGrad);
  Tensor s = (e * 2.0).sum();
  s.backward();
  EXPECT_EQ(s.item<float>(), 0.f);
  EXPECT_EQ(e.grad().shape(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(ag::mm(ag::ones({2, 0}), ag::ones({0, 4})).sum().item<float>(), 0.f);
  EXPECT_EQ(ag::cat({ag::zeros({0, 2}), ag::ones({1, 2})}).shape(), (std::vector<int64_t>{1, 2}));
  data::DataLoader loader(data::TensorDataset(ag::zeros({0, 2}), ag::zeros({0})), data::DataLoaderOptions(4));
  int batches = 0;
  for (const auto& b : loader) batches += static_cast<int>(b.input.size(0) >= 0);
  EXPECT_EQ(batches, 0);
}
