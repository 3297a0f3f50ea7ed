// Graph size limits: no recursion anywhere on the graph. These run with the default
// 8 MiB stack; a recursive walk, run or destructor would overflow it.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

TEST(GraphScale, TenMillionNodeChain) {
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::scalar_tensor(1.0).requires_grad_(true);
  {
    ag::Tensor y = x;
    constexpr int kSteps = 10'000'000;
    for (int i = 0; i < kSteps; ++i) y = y + 1.0;  // AddBackward0 saves nothing: ~10M small nodes
    EXPECT_EQ(ag::live_node_count(), before + kSteps + 1);  // + the leaf's accumulator
    EXPECT_FLOAT_EQ(y.item<float>(), 1.0f + kSteps);
    y.backward();
  }  // the chain is destroyed here, iteratively
  EXPECT_EQ(ag::live_node_count(), before);
  EXPECT_EQ(x.grad().item<float>(), 1.0f);
}

TEST(GraphScale, MillionWideGraph) {
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::scalar_tensor(2.0).requires_grad_(true);
  {
    ag::tensor_list branches;
    constexpr int kWidth = 1'000'000;
    branches.reserve(kWidth);
    for (int i = 0; i < kWidth; ++i) branches.push_back(x * 3.0);
    ag::Tensor total = ag::stack(branches).sum();
    branches.clear();
    total.backward();
  }
  EXPECT_EQ(ag::live_node_count(), before);
  EXPECT_EQ(x.grad().item<float>(), 3.0f * 1'000'000);
}
