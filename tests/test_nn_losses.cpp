// ag::nn::functional losses: hand-computed values, finite-difference gradients (first and
// second order), stability on extreme inputs, and refusal of bad labels and shapes.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <functional>
#include <string>

#include "test_util.hpp"

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;
using nn::Reduction;

namespace {

ag::TensorOptions f64() { return ag::TensorOptions(ag::kFloat64); }

std::vector<double> values(const Tensor& t) {
  Tensor c = t.detach().to(ag::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

bool all_finite(const Tensor& t) {
  for (double v : values(t))
    if (!std::isfinite(v)) return false;
  return true;
}


const Reduction kAll[] = {Reduction::Mean, Reduction::Sum, Reduction::None};

}  // namespace

// ---- cross_entropy / nll_loss ----------------------------------------------------------------

TEST(CrossEntropy, HandComputedValues) {
  Tensor logits = ag::tensor({1.0, 2.0, 3.0, 1.0, 1.0, 1.0}, f64()).reshape({2, 3});
  Tensor y = labels({2, 0});
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;  // 0.40760596
  const double l1 = std::log(3.0);
  EXPECT_NEAR(l0, 0.4076059644, 1e-9);
  EXPECT_NEAR(scalar(F::cross_entropy(logits, y)), (l0 + l1) / 2, 1e-14);
  EXPECT_NEAR(scalar(F::cross_entropy(logits, y, Reduction::Sum)), l0 + l1, 1e-14);
  const auto none = values(F::cross_entropy(logits, y, Reduction::None));
  ASSERT_EQ(none.size(), 2u);
  EXPECT_NEAR(none[0], l0, 1e-14);
  EXPECT_NEAR(none[1], l1, 1e-14);
  // float32 too.
  EXPECT_NEAR(scalar(F::cross_entropy(logits.to(ag::kFloat32), y)), (l0 + l1) / 2, 1e-6);
  // The gradient is (softmax - onehot) / N.
  Tensor x = logits.detach().requires_grad_();
  F::cross_entropy(x, y).backward();
  const auto g = values(x.grad());
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(g[0], std::exp(1.0) / z / 2, 1e-14);
  EXPECT_NEAR(g[2], (std::exp(3.0) / z - 1) / 2, 1e-14);
  EXPECT_NEAR(g[3], (1.0 / 3 - 1) / 2, 1e-14);
  EXPECT_NEAR(g[4], 1.0 / 6, 1e-14);
  // Unbatched: [C] logits with a 0-dim label.
  EXPECT_NEAR(scalar(F::cross_entropy(logits[0], ag::tensor(std::vector<int64_t>{2}, ag::Shape{}, ag::TensorOptions(ag::kInt64)))), l0, 1e-14);
  // Class probabilities as target.
  Tensor probs = ag::tensor({0.0, 0.0, 1.0, 0.5, 0.5, 0.0}, f64()).reshape({2, 3});
  EXPECT_NEAR(scalar(F::cross_entropy(logits, probs)), (l0 + l1) / 2, 1e-14);
}

TEST(NllLoss, HandComputedValuesAndEfficientBackward) {
  Tensor lp = ag::tensor({-0.5, -1.0, -2.0, -3.0, -0.1, -4.0}, f64()).reshape({3, 2}).requires_grad_();
  Tensor y = labels({1, 0, 0});
  EXPECT_NEAR(scalar(F::nll_loss(lp, y)), (1.0 + 2.0 + 0.1) / 3, 1e-15);
  EXPECT_NEAR(scalar(F::nll_loss(lp, y, Reduction::Sum)), 3.1, 1e-15);
  EXPECT_EQ(values(F::nll_loss(lp, y, Reduction::None)), (std::vector<double>{1.0, 2.0, 0.1}));
  Tensor loss = F::nll_loss(lp, y, Reduction::Sum);
  // One node for the gather: its backward writes N entries, no [N, C] graph.
  ASSERT_NE(loss.grad_fn(), nullptr);
  EXPECT_EQ(loss.grad_fn()->next_edges()[0].function->name(), "NllLossBackward");
  loss.backward();
  EXPECT_EQ(values(lp.grad()), (std::vector<double>{0, -1, -1, 0, -1, 0}));
  nn::NLLLoss module;
  EXPECT_NEAR(scalar(module(lp, y)), 3.1 / 3, 1e-15);
}

TEST(CrossEntropy, GradcheckAllReductions) {
  ag::manual_seed(3);
  Tensor x = ag::randn({4, 5}, f64().requires_grad(true));
  Tensor y = labels({4, 0, 2, 2});
  for (Reduction r : kAll) {
    EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::cross_entropy(in[0], y, r); }, {x}));
    EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::nll_loss(ag::log_softmax(in[0], 1), y, r); }, {x}));
    EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::nll_loss(in[0], y, r); }, {x}));
  }
  Tensor probs = ag::softmax(ag::randn({4, 5}, f64()), 1).requires_grad_();
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::cross_entropy(in[0], in[1]); }, {x, probs}));
  // Second order through the custom NllLoss node (create_graph).
  EXPECT_TRUE(ag::gradgradcheck([&](const ag::tensor_list& in) { return F::cross_entropy(in[0], y); }, {x}));
  EXPECT_TRUE(ag::gradgradcheck([&](const ag::tensor_list& in) { return F::cross_entropy(in[0], y, Reduction::None); }, {x}));
}

TEST(CrossEntropy, StableOnExtremeLogits) {
  Tensor x = ag::tensor({100.f, -100.f, 0.f, -100.f, 100.f, 100.f}).reshape({2, 3}).requires_grad_();
  Tensor y = labels({1, 0});
  Tensor loss = F::cross_entropy(x, y, Reduction::None);
  ASSERT_TRUE(all_finite(loss));
  const auto l = values(loss);
  EXPECT_NEAR(l[0], 200.0, 1e-4);                  // -(-100) + logsumexp ≈ 100
  EXPECT_NEAR(l[1], 200.0 + std::log(2.0), 1e-4);
  loss.sum().backward();
  ASSERT_TRUE(all_finite(x.grad()));
  const auto g = values(x.grad());
  EXPECT_NEAR(g[0], 1.0, 1e-6);
  EXPECT_NEAR(g[1], -1.0, 1e-6);
  EXPECT_NEAR(g[3], -1.0, 1e-6);
  EXPECT_NEAR(g[4], 0.5, 1e-6);
  // A confident, correct prediction: loss ~ 0, not NaN.
  Tensor x2 = ag::tensor({100.f, -100.f}).reshape({1, 2}).requires_grad_();
  Tensor l2 = F::cross_entropy(x2, labels({0}));
  EXPECT_EQ(scalar(l2), 0.0);
  l2.backward();
  ASSERT_TRUE(all_finite(x2.grad()));
}

TEST(CrossEntropy, RefusesBadLabelsAndShapes) {
  Tensor x = ag::randn({3, 4});
  std::string msg = error_of([&] { F::cross_entropy(x, labels({0, 4, 1})); });
  EXPECT_NE(msg.find("cross_entropy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of bounds"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { F::cross_entropy(x, labels({0, -1, 1})); }), "");
  EXPECT_NE(error_of([&] { F::nll_loss(x, labels({0, 100, 1})); }).find("nll_loss"), std::string::npos);
  msg = error_of([&] { F::cross_entropy(x, labels({0, 1})); });
  EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
  // float labels of the wrong shape (not class probabilities), bool labels, 3-D input.
  EXPECT_NE(error_of([&] { F::cross_entropy(x, ag::zeros({3})); }), "");
  EXPECT_NE(error_of([&] { F::nll_loss(x, ag::zeros({3})); }).find("int64"), std::string::npos);
  EXPECT_NE(error_of([&] { F::cross_entropy(x, ag::zeros({3}, ag::TensorOptions(ag::kBool))); }), "");
  EXPECT_NE(error_of([&] { F::cross_entropy(ag::randn({2, 3, 4}), labels({0, 1})); }), "");
  EXPECT_NE(error_of([&] { F::cross_entropy(x, ag::zeros({3, 1}, ag::TensorOptions(ag::kInt64))); }), "");
  EXPECT_NE(error_of([&] { F::cross_entropy(labels({1, 2}), labels({0})); }), "");
  // A valid call after the refusals still works.
  EXPECT_TRUE(std::isfinite(scalar(F::cross_entropy(x, labels({0, 3, 1})))));
}

// ---- mse_loss ------------------------------------------------------------------------------

TEST(MseLoss, ValuesGradcheckAndErrors) {
  Tensor a = ag::tensor({1.0, 2.0, 3.0, 4.0}, f64()).reshape({2, 2});
  Tensor b = ag::tensor({1.5, 0.0, 3.0, 1.0}, f64()).reshape({2, 2});
  EXPECT_DOUBLE_EQ(scalar(F::mse_loss(a, b)), (0.25 + 4 + 0 + 9) / 4);
  EXPECT_DOUBLE_EQ(scalar(F::mse_loss(a, b, Reduction::Sum)), 13.25);
  EXPECT_EQ(values(F::mse_loss(a, b, Reduction::None)), (std::vector<double>{0.25, 4, 0, 9}));
  EXPECT_DOUBLE_EQ(scalar(nn::MSELoss()(a, b)), 13.25 / 4);
  Tensor x = a.detach().requires_grad_(), t = b.detach().requires_grad_();
  for (Reduction r : kAll)
    EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::mse_loss(in[0], in[1], r); }, {x, t}));
  EXPECT_TRUE(ag::gradgradcheck([&](const ag::tensor_list& in) { return F::mse_loss(in[0], in[1]); }, {x, t}));
  const std::string msg = error_of([&] { F::mse_loss(ag::zeros({4, 1}), ag::zeros({4})); });
  EXPECT_NE(msg.find("mse_loss"), std::string::npos);
  EXPECT_NE(msg.find("[4, 1]"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { F::mse_loss(ag::zeros({4}), ag::zeros({4}, f64())); }), "");
  EXPECT_NE(error_of([&] { F::mse_loss(ag::zeros({4}), Tensor()); }), "");
}

// ---- binary_cross_entropy ------------------------------------------------------------------

TEST(BinaryCrossEntropy, ValuesAndPyTorchsClamp) {
  Tensor p = ag::tensor({0.2, 0.9, 0.5, 0.0, 1.0, 0.0}, f64());
  Tensor y = ag::tensor({0.0, 1.0, 0.3, 0.0, 1.0, 1.0}, f64());
  const auto l = values(F::binary_cross_entropy(p, y, Reduction::None));
  EXPECT_NEAR(l[0], -std::log(0.8), 1e-15);
  EXPECT_NEAR(l[1], -std::log(0.9), 1e-15);
  EXPECT_NEAR(l[2], -(0.3 * std::log(0.5) + 0.7 * std::log(0.5)), 1e-15);
  EXPECT_EQ(l[3], 0.0);
  EXPECT_EQ(l[4], 0.0);
  EXPECT_EQ(l[5], 100.0);  // log(0) clamped at -100
  double sum = 0;
  for (double v : l) sum += v;
  EXPECT_NEAR(scalar(F::binary_cross_entropy(p, y)), sum / 6, 1e-13);
  EXPECT_NEAR(scalar(nn::BCELoss(Reduction::Sum)(p, y)), sum, 1e-13);
  // The gradient is finite at 0 and 1: (p - y) / max(p(1-p), 1e-12).
  Tensor x = p.detach().requires_grad_();
  F::binary_cross_entropy(x, y, Reduction::Sum).backward();
  ASSERT_TRUE(all_finite(x.grad()));
  const auto g = values(x.grad());
  EXPECT_NEAR(g[0], 0.2 / (0.2 * 0.8), 1e-12);
  EXPECT_NEAR(g[1], -0.1 / (0.9 * 0.1), 1e-12);
  EXPECT_EQ(g[3], 0.0);
  EXPECT_EQ(g[5], -1e12);
}

TEST(BinaryCrossEntropy, GradcheckAndErrors) {
  Tensor p = ag::tensor({0.2, 0.7, 0.45, 0.93}, f64()).reshape({2, 2}).requires_grad_();
  Tensor y = ag::tensor({0.0, 1.0, 0.3, 0.6}, f64()).reshape({2, 2}).requires_grad_();
  for (Reduction r : kAll)
    EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::binary_cross_entropy(in[0], in[1], r); }, {p, y}));
  EXPECT_TRUE(ag::gradgradcheck([&](const ag::tensor_list& in) { return F::binary_cross_entropy(in[0], in[1]); }, {p, y}));
  std::string msg = error_of([&] { F::binary_cross_entropy(ag::tensor({0.5f, 1.5f}), ag::tensor({0.f, 1.f})); });
  EXPECT_NE(msg.find("between 0 and 1"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { F::binary_cross_entropy(ag::tensor({NAN}), ag::tensor({0.f})); }), "");
  msg = error_of([&] { F::binary_cross_entropy(ag::full({3, 1}, 0.5), ag::zeros({3})); });
  EXPECT_NE(msg.find("[3, 1]"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { F::binary_cross_entropy(ag::full({3}, 0.5), ag::zeros({3}, ag::TensorOptions(ag::kInt64))); }), "");
}

// ---- binary_cross_entropy_with_logits ----------------------------------------------------

TEST(BinaryCrossEntropyWithLogits, ValuesStableAndExactAtZero) {
  Tensor x = ag::tensor({-100.0, -3.0, 0.0, 0.5, 100.0, 30.0}, f64());
  Tensor y = ag::tensor({0.0, 1.0, 0.5, 0.0, 1.0, 0.0}, f64());
  const auto l = values(F::binary_cross_entropy_with_logits(x, y, Reduction::None));
  auto ref = [](double x, double y) {  // -(y log σ(x) + (1-y) log(1-σ(x))), in long double
    const long double s = 1.0L / (1.0L + std::exp(-static_cast<long double>(x)));
    return static_cast<double>(-(y * std::log(s) + (1 - y) * std::log1p(-s)));
  };
  EXPECT_NEAR(l[0], std::log1p(std::exp(-100.0)), 1e-60);
  EXPECT_NEAR(l[1], ref(-3.0, 1.0), 1e-14);
  EXPECT_NEAR(l[2], std::log(2.0), 1e-15);
  EXPECT_NEAR(l[3], ref(0.5, 0.0), 1e-14);
  EXPECT_NEAR(l[4], std::log1p(std::exp(-100.0)), 1e-60);
  EXPECT_NEAR(l[5], 30.0 + std::log1p(std::exp(-30.0)), 1e-13);
  // Gradient sigmoid(x) - y everywhere, including x = 0 where relu/|x| compositions fail.
  Tensor xg = x.detach().requires_grad_();
  F::binary_cross_entropy_with_logits(xg, y, Reduction::Sum).backward();
  const auto g = values(xg.grad());
  EXPECT_NEAR(g[2], 0.0, 1e-15);  // sigmoid(0) - 0.5
  EXPECT_NEAR(g[3], 1 / (1 + std::exp(-0.5)), 1e-15);
  EXPECT_NEAR(g[0], 0.0, 1e-40);
  EXPECT_NEAR(g[4], 0.0, 1e-40);
  Tensor x0 = ag::zeros({1}, f64().requires_grad(true));
  F::binary_cross_entropy_with_logits(x0, ag::ones({1}, f64())).backward();
  EXPECT_DOUBLE_EQ(values(x0.grad())[0], -0.5);
  // float32 with ±100: finite loss and gradients.
  Tensor xf = ag::tensor({-100.f, 100.f, -100.f, 100.f}).requires_grad_();
  Tensor yf = ag::tensor({1.f, 0.f, 0.f, 1.f});
  Tensor lf = F::binary_cross_entropy_with_logits(xf, yf, Reduction::None);
  ASSERT_TRUE(all_finite(lf));
  EXPECT_NEAR(values(lf)[0], 100.0, 1e-4);
  EXPECT_NEAR(values(lf)[1], 100.0, 1e-4);
  EXPECT_NEAR(values(lf)[2], 0.0, 1e-40);  // log1p(exp(-100)) = 3.8e-44, a float32 denormal
  lf.sum().backward();
  ASSERT_TRUE(all_finite(xf.grad()));
  const auto gf = values(xf.grad());
  const double expected_gf[] = {-1, 1, 0, 0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(gf[i], expected_gf[i], 1e-30);
  EXPECT_NEAR(scalar(nn::BCEWithLogitsLoss()(x, y)), (l[0] + l[1] + l[2] + l[3] + l[4] + l[5]) / 6, 1e-13);
}

TEST(BinaryCrossEntropyWithLogits, GradcheckAndErrors) {
  Tensor x = ag::tensor({-2.0, 0.0, 0.3, 4.0, -0.7, 1.1}, f64()).reshape({3, 2}).requires_grad_();
  Tensor y = ag::tensor({0.0, 1.0, 0.2, 1.0, 0.5, 0.0}, f64()).reshape({3, 2}).requires_grad_();
  for (Reduction r : kAll)
    EXPECT_TRUE(ag::gradcheck(
        [&](const ag::tensor_list& in) { return F::binary_cross_entropy_with_logits(in[0], in[1], r); }, {x, y}));
  EXPECT_TRUE(ag::gradgradcheck(
      [&](const ag::tensor_list& in) { return F::binary_cross_entropy_with_logits(in[0], in[1]); }, {x, y}));
  const std::string msg = error_of([&] { F::binary_cross_entropy_with_logits(ag::zeros({2, 3}), ag::zeros({3, 2})); });
  EXPECT_NE(msg.find("binary_cross_entropy_with_logits"), std::string::npos);
  EXPECT_NE(msg.find("[3, 2]"), std::string::npos) << msg;
}

TEST(LossModules, MatchFunctional) {
  ag::manual_seed(8);
  Tensor x = ag::randn({6, 4});
  Tensor y = labels({0, 1, 2, 3, 3, 0});
  EXPECT_EQ(scalar(nn::CrossEntropyLoss()(x, y)), scalar(F::cross_entropy(x, y)));
  EXPECT_EQ(scalar(nn::CrossEntropyLoss(Reduction::Sum)(x, y)), scalar(F::cross_entropy(x, y, Reduction::Sum)));
  EXPECT_EQ(nn::CrossEntropyLoss(nn::kNone)(x, y).shape(), (std::vector<int64_t>{6}));
  EXPECT_EQ(nn::CrossEntropyLoss()->name(), "CrossEntropyLoss");
}
