#include <gtest/gtest.h>
#include <ag/ag.hpp>
#include <iostream>
TEST(Smoke, Tour) {
  auto x = ag::arange(4.0);
  x.requires_grad_();
  auto y = 2 * ag::dot(x, x);
  std::cout << y << "\n";
  y.backward();
  std::cout << x.grad() << "\n";
  EXPECT_TRUE(ag::equal(x.grad(), 4 * x));
}
