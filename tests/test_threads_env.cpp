// AG_NUM_THREADS is checked as set_num_threads checks its argument. Each ctest entry
// (tests/CMakeLists.txt) runs this program with one AG_NUM_THREADS value and, in
// AG_TEST_EXPECT, what must happen: "threads=N" or "error=<a part of the message>".
#include <gtest/gtest.h>

#include <ag/autograd.hpp>
#include <ag/ops.hpp>

#include <cstdlib>
#include <string>

#include "test_util.hpp"

TEST(ThreadsEnv, AsExpected) {
  const char* expect = std::getenv("AG_TEST_EXPECT");
  ASSERT_NE(expect, nullptr) << "run through ctest: AG_TEST_EXPECT says what to expect";
  const std::string e = expect;
  if (e.rfind("threads=", 0) == 0) {
    EXPECT_EQ(ag::get_num_threads(), std::stoi(e.substr(8)));
    return;
  }
  ASSERT_EQ(e.rfind("error=", 0), 0u) << e;
  const std::string msg = error_of([] { ag::get_num_threads(); });
  EXPECT_NE(msg.find("AG_NUM_THREADS"), std::string::npos) << msg;
  EXPECT_NE(msg.find(e.substr(6)), std::string::npos) << msg;
  // A backward reads the thread count too: the same error, and the leaf's gradient stays
  // untouched.
  ag::Tensor x = ag::ones({3}).requires_grad_(true);
  const std::string msg2 = error_of([&] { (x * x).sum().backward(); });
  EXPECT_NE(msg2.find("AG_NUM_THREADS"), std::string::npos) << msg2;
  EXPECT_FALSE(x.grad().defined());
  // An explicit set_num_threads overrides the environment.
  ag::set_num_threads(2);
  EXPECT_EQ(ag::get_num_threads(), 2);
}
