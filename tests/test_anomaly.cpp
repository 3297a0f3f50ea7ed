// Anomaly detection (ag::DetectAnomalyGuard): a node that returns a NaN or Inf gradient
// makes backward throw, naming the node and the forward op that recorded it; off, nothing
// is checked. Also with the parallel scheduler (tasks forced on two threads).
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <cmath>
#include <string>

#include "engine/engine.hpp"

namespace {

struct AnomalyOff {  // every test starts and ends with the mode off
  AnomalyOff() { ag::set_detect_anomaly(false); }
  ~AnomalyOff() { ag::set_detect_anomaly(false); }
};

std::string backward_error(const ag::Tensor& loss) {
  try {
    loss.backward();
  } catch (const ag::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Anomaly, NanGradientNamesTheNodeAndItsForwardOp) {
  AnomalyOff off;
  auto x = ag::zeros({3}).requires_grad_(true);
  auto loss = (ag::sqrt(x) * 0.0).sum();  // d sqrt at 0 is inf, times 0: nan
  ag::DetectAnomalyGuard guard;
  const std::string msg = backward_error(loss);
  EXPECT_NE(msg.find("Function 'SqrtBackward0' returned nan values in its 0th output"), std::string::npos) << msg;
  EXPECT_NE(msg.find("forward op 'sqrt'"), std::string::npos) << msg;
  EXPECT_FALSE(x.grad().defined());  // the bad gradient reached no .grad()
}

TEST(Anomaly, InfGradientIsReportedAsInf) {
  AnomalyOff off;
  auto x = ag::zeros({2}, ag::TensorOptions(ag::Dtype::Float64)).requires_grad_(true);
  auto loss = ag::log(x).sum();  // 1 / 0
  ag::DetectAnomalyGuard guard;
  const std::string msg = backward_error(loss);
  EXPECT_NE(msg.find("Function 'LogBackward0' returned inf values in its 0th output"), std::string::npos) << msg;
  EXPECT_NE(msg.find("forward op 'log'"), std::string::npos) << msg;
}

TEST(Anomaly, OffChecksNothing) {
  AnomalyOff off;
  auto x = ag::zeros({3}).requires_grad_(true);
  (ag::sqrt(x) * 0.0).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(x.grad()[i].item<float>()));
}

TEST(Anomaly, FiniteGradientsPassUnchanged) {
  AnomalyOff off;
  ag::DetectAnomalyGuard guard;
  auto x = ag::ones({4}).requires_grad_(true);
  (ag::sqrt(x) * 2.0).sum().backward();
  for (int64_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(x.grad()[i].item<float>(), 1.0f);
}

TEST(Anomaly, GuardRestoresThePreviousMode) {
  AnomalyOff off;
  EXPECT_FALSE(ag::is_anomaly_enabled());
  {
    ag::DetectAnomalyGuard g;
    EXPECT_TRUE(ag::is_anomaly_enabled());
    {
      ag::DetectAnomalyGuard inner;
      EXPECT_TRUE(ag::is_anomaly_enabled());
    }
    EXPECT_TRUE(ag::is_anomaly_enabled());  // the outer guard still holds
  }
  EXPECT_FALSE(ag::is_anomaly_enabled());
  ag::set_detect_anomaly(true);
  { ag::DetectAnomalyGuard g; }
  EXPECT_TRUE(ag::is_anomaly_enabled());
}

// A wide graph on two threads, tasks forced: sixteen healthy branches, each into its own
// leaf, and one whose SqrtBackward0 returns nan. The error is the right one; the nan leaf
// gets nothing; a healthy leaf either has its whole gradient (its accumulator ran before
// the error) or none — never part of one. PyTorch leaves the same: what ran before the
// failing node stays accumulated, the rest does not run.
TEST(Anomaly, ParallelBackwardThrowsTheRightErrorAndWritesNoPartialGradient) {
  AnomalyOff off;
  const int prev_threads = ag::get_num_threads();
  const int64_t prev_work = ag::engine::inline_work();
  ag::set_num_threads(2);
  ag::engine::set_inline_work(-1);
  constexpr int kBranches = 16;
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<ag::Tensor> leaves;
    auto bad = ag::zeros({64}).requires_grad_(true);
    ag::Tensor total = (ag::sqrt(bad) * 0.0).sum();
    for (int i = 0; i < kBranches; ++i) {
      leaves.push_back(ag::ones({64}).requires_grad_(true));
      total = total + (leaves.back() * static_cast<double>(i + 1)).exp().sum();
    }
    ag::DetectAnomalyGuard guard;
    const std::string msg = backward_error(total);
    EXPECT_NE(msg.find("Function 'SqrtBackward0' returned nan values in its 0th output"), std::string::npos) << msg;
    EXPECT_NE(msg.find("forward op 'sqrt'"), std::string::npos) << msg;
    EXPECT_FALSE(bad.grad().defined());
    for (int i = 0; i < kBranches; ++i) {
      const ag::Tensor g = leaves[i].grad();
      if (!g.defined()) continue;
      const float want = static_cast<float>((i + 1) * std::exp(static_cast<double>(i + 1)));
      for (int64_t j = 0; j < 64; ++j) ASSERT_FLOAT_EQ(g[j].item<float>(), want) << "leaf " << i << " element " << j;
    }
  }
  ag::engine::set_inline_work(prev_work);
  ag::set_num_threads(prev_threads);
}

}  // namespace
