// The functional helpers (ag/functional.hpp): jacobian, hessian, vjp, jvp, hvp against
// hand-derived matrices, finite differences and each other (float64); higher-order
// derivatives through grad and backward(create_graph=true) (x³, x⁴, the Hessian of a
// 2-layer MLP's loss); bad input; and the error a second backward gives through a
// derivative computed outside autograd (once_differentiable, DelayedError).
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <functional>
#include <vector>

#include "test_util.hpp"

namespace F = ag::nn::functional;
using ag::Shape;
using ag::Tensor;
using ag::tensor_list;

namespace {

Tensor t64(std::vector<double> v, Shape s) { return ag::tensor(std::move(v), std::move(s), kF64); }
Tensor t64(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return t64(std::move(v), Shape{n});
}

// Element i (row-major) of a float64 tensor.
double at(const Tensor& t, int64_t i) { return t.contiguous().data_ptr<double>()[i]; }

// Largest |a - b| over all elements (shapes must match).
double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(ag::shape_str(a.shape()), ag::shape_str(b.shape()));
  ag::NoGradGuard ng;
  return ag::max(ag::abs(a.to(ag::kFloat64) - b.to(ag::kFloat64))).item<double>();
}

// The 3 -> 2 function of the Jacobian test and its hand-derived Jacobian:
//   f(x) = [x0·x1 + sin(x2), x0²·x2]
//   J    = [[x1,      x0, cos(x2)],
//           [2·x0·x2, 0,  x0²   ]]
Tensor f32(const Tensor& x) {
  Tensor a = x.select(0, 0), b = x.select(0, 1), c = x.select(0, 2);
  return ag::stack({a * b + ag::sin(c), a * a * c}, 0);
}
Tensor j32(double x0, double x1, double x2) {
  return t64({x1, x0, std::cos(x2), 2 * x0 * x2, 0.0, x0 * x0}, {2, 3});
}

// Central finite differences of the Jacobian of f at x (float64): [f(x).numel(), x.numel()].
Tensor fd_jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0, double h = 1e-6) {
  ag::NoGradGuard ng;
  Tensor x = x0.detach().clone().contiguous();
  const int64_t n = x.numel();
  const int64_t m = f(x).numel();
  Tensor J = ag::zeros({m, n}, kF64);
  double* px = x.data_ptr<double>();
  double* pj = J.data_ptr<double>();
  for (int64_t k = 0; k < n; ++k) {
    const double s = px[k];
    px[k] = s + h;
    Tensor plus = f(x).contiguous().clone();
    px[k] = s - h;
    Tensor minus = f(x).contiguous().clone();
    px[k] = s;
    for (int64_t j = 0; j < m; ++j) pj[j * n + k] = (at(plus, j) - at(minus, j)) / (2 * h);
  }
  return J;
}

// The gradient of a scalar f at x, by ag (first order only).
Tensor gradient(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0) {
  ag::AutoGradMode on(true);  // fd_jacobian calls it under NoGradGuard
  Tensor x = x0.detach().clone();
  x.requires_grad_(true);
  return ag::grad({f(x)}, {x})[0].detach();
}

}  // namespace

// ---- jacobian ---------------------------------------------------------------------------------

TEST(Jacobian, ThreeToTwoAgainstTheHandDerivedMatrix) {
  const double x0 = 0.7, x1 = -1.3, x2 = 2.1;
  Tensor x = t64({x0, x1, x2});
  const Tensor want = j32(x0, x1, x2);
  for (ag::JacobianMode mode : {ag::JacobianMode::Auto, ag::JacobianMode::Reverse, ag::JacobianMode::Forward}) {
    SCOPED_TRACE(static_cast<int>(mode));
    Tensor J = ag::jacobian(f32, x, mode);
    ASSERT_EQ(J.shape(), (Shape{2, 3}));
    EXPECT_EQ(J.dtype(), ag::kFloat64);
    EXPECT_LT(max_diff(J, want), 1e-12) << J;
    EXPECT_FALSE(J.requires_grad());
  }
  EXPECT_FALSE(x.requires_grad());  // the caller's tensor is left alone
  EXPECT_FALSE(x.grad().defined());
}

TEST(Jacobian, ShapeIsOutputShapeThenInputShapeAndModesAgree) {
  ag::manual_seed(3);
  Tensor x = ag::randn({2, 3}, kF64);
  Tensor w = ag::randn({3, 4}, kF64);
  auto f = [&](const Tensor& a) { return ag::tanh(ag::mm(a, w)) * a.sum(); };  // [2,3] -> [2,4]
  Tensor Jr = ag::jacobian(f, x, ag::JacobianMode::Reverse);
  Tensor Jf = ag::jacobian(f, x, ag::JacobianMode::Forward);
  ASSERT_EQ(Jr.shape(), (Shape{2, 4, 2, 3}));
  EXPECT_LT(max_diff(Jr, Jf), 1e-12);
  EXPECT_LT(max_diff(Jr.reshape({8, 6}), fd_jacobian(f, x)), 1e-8);
  // Scalar in and out, and a 0-dim output.
  Tensor s = t64({0.3}, {});
  Tensor Js = ag::jacobian([](const Tensor& a) { return ag::exp(a * 2.0); }, s);
  ASSERT_EQ(Js.shape(), Shape{});
  EXPECT_NEAR(Js.item<double>(), 2 * std::exp(0.6), 1e-12);
  Tensor Jsum = ag::jacobian([](const Tensor& a) { return (a * a).sum(); }, x);
  ASSERT_EQ(Jsum.shape(), (Shape{2, 3}));
  EXPECT_LT(max_diff(Jsum, x * 2.0), 1e-12);
}

TEST(Jacobian, NonDifferentiableOutputGivesZeros) {
  Tensor x = t64({1.0, 2.0});
  // A constant (no grad_fn), and a function of x through a comparison only.
  Tensor J = ag::jacobian([](const Tensor&) { return ag::ones({3}, kF64); }, x);
  ASSERT_EQ(J.shape(), (Shape{3, 2}));
  EXPECT_EQ(max_diff(J, ag::zeros({3, 2}, kF64)), 0.0);
  Tensor J2 = ag::jacobian([](const Tensor& a) { return (a > 1.5).to(ag::kFloat64); }, x);
  EXPECT_EQ(max_diff(J2, ag::zeros({2, 2}, kF64)), 0.0);
  // An output that ignores part of the input: those columns are zero.
  Tensor J3 = ag::jacobian([](const Tensor& a) { return a.select(0, 0) * 3.0; }, x);
  EXPECT_LT(max_diff(J3, t64({3.0, 0.0})), 1e-15);
}

TEST(Jacobian, CreateGraphMakesItDifferentiable) {
  // J of x -> x³ (elementwise) is diag(3x²); d/dx sum(J) = 6x.
  Tensor x = t64({0.5, -1.5, 2.0});
  x.requires_grad_(true);
  for (ag::JacobianMode mode : {ag::JacobianMode::Reverse, ag::JacobianMode::Forward}) {
    Tensor J = ag::jacobian([](const Tensor& a) { return a * a * a; }, x, mode, /*create_graph=*/true);
    ASSERT_TRUE(J.requires_grad());
    Tensor d = ag::grad({J.sum()}, {x})[0];
    EXPECT_LT(max_diff(d, x.detach() * 6.0), 1e-12) << d;
  }
  EXPECT_FALSE(x.grad().defined());
}

TEST(Jacobian, Float32Works) {
  Tensor x = ag::tensor({0.5f, 1.0f, -2.0f});
  Tensor J = ag::jacobian([](const Tensor& a) { return a * a; }, x);
  EXPECT_EQ(J.dtype(), ag::kFloat32);
  EXPECT_TRUE(ag::allclose(J, ag::tensor(std::vector<float>{1, 0, 0, 0, 2, 0, 0, 0, -4}, Shape{3, 3})));
}

// ---- hessian ----------------------------------------------------------------------------------

TEST(Hessian, AgainstTheHandDerivedMatrixAndFiniteDifferences) {
  // f = x0²·x1 + x1³ + sin(x0·x2)
  // H = [[2x1 - x2² s, 2x0, cos(x0x2) - x0x2 s],
  //      [2x0,         6x1, 0                 ],
  //      [cos - x0x2 s, 0,  -x0² s            ]]   with s = sin(x0·x2)
  auto f = [](const Tensor& x) {
    Tensor a = x.select(0, 0), b = x.select(0, 1), c = x.select(0, 2);
    return a * a * b + b * b * b + ag::sin(a * c);
  };
  const double x0 = 0.4, x1 = -0.8, x2 = 1.7, s = std::sin(x0 * x2), co = std::cos(x0 * x2);
  Tensor x = t64({x0, x1, x2});
  Tensor want = t64({2 * x1 - x2 * x2 * s, 2 * x0, co - x0 * x2 * s,  //
                     2 * x0, 6 * x1, 0.0,                              //
                     co - x0 * x2 * s, 0.0, -x0 * x0 * s},
                    {3, 3});
  Tensor H = ag::hessian(f, x);
  ASSERT_EQ(H.shape(), (Shape{3, 3}));
  EXPECT_LT(max_diff(H, want), 1e-12) << H;
  // Finite differences of the (first-order) gradient.
  Tensor fd = fd_jacobian([&](const Tensor& p) { return gradient(f, p); }, x);
  EXPECT_LT(max_diff(H, fd), 1e-8);
  EXPECT_LT(max_diff(H, H.t()), 1e-15);  // symmetric
}

TEST(Hessian, ShapeAndLinearAndConstantFunctions) {
  Tensor x = t64({1.0, 2.0, 3.0, 4.0}, {2, 2});
  Tensor H = ag::hessian([](const Tensor& a) { return (a * a).sum() * 0.5; }, x);
  ASSERT_EQ(H.shape(), (Shape{2, 2, 2, 2}));
  EXPECT_LT(max_diff(H.reshape({4, 4}), ag::eye(4, kF64)), 1e-15);
  // Linear in x: the gradient has no history, the Hessian is zero.
  Tensor Hl = ag::hessian([](const Tensor& a) { return (a * 3.0).sum(); }, x);
  EXPECT_EQ(max_diff(Hl, ag::zeros({2, 2, 2, 2}, kF64)), 0.0);
  Tensor Hc = ag::hessian([](const Tensor&) { return ag::ones({}, kF64); }, x);
  EXPECT_EQ(max_diff(Hc, ag::zeros({2, 2, 2, 2}, kF64)), 0.0);
}

// ---- vjp / jvp / hvp against jacobian contractions ----------------------------------------

namespace {
// Two inputs a [3], b [2, 3]; two outputs: [2] and [2, 3].
tensor_list two_by_two(const tensor_list& in) {
  const Tensor &a = in[0], &b = in[1];
  return {ag::matmul(b, a), ag::exp(b * a) * ag::sin(a.sum())};
}
}  // namespace

TEST(VjpJvp, AgainstJacobianContractions) {
  ag::manual_seed(11);
  Tensor a = ag::randn({3}, kF64), b = ag::randn({2, 3}, kF64);
  const tensor_list in = {a, b};
  // J[o][i]: the Jacobian of output o with respect to input i, flattened to [m_o, n_i].
  std::vector<std::vector<Tensor>> J(2, std::vector<Tensor>(2));
  for (int o = 0; o < 2; ++o) {
    J[o][0] = ag::jacobian([&](const Tensor& x) { return two_by_two({x, b})[o]; }, a);
    J[o][1] = ag::jacobian([&](const Tensor& x) { return two_by_two({a, x})[o]; }, b);
    const int64_t m = two_by_two(in)[o].numel();
    J[o][0] = J[o][0].reshape({m, 3});
    J[o][1] = J[o][1].reshape({m, 6});
  }
  // vjp: v[o]ᵀ J[o][i], summed over o.
  tensor_list v = {ag::randn({2}, kF64), ag::randn({2, 3}, kF64)};
  auto [outs, vj] = ag::vjp(two_by_two, in, v);
  ASSERT_EQ(outs.size(), 2u);
  ASSERT_EQ(vj.size(), 2u);
  EXPECT_LT(max_diff(outs[1], two_by_two(in)[1]), 1e-15);
  for (int i = 0; i < 2; ++i) {
    Tensor want = ag::zeros({J[0][i].size(1)}, kF64);
    for (int o = 0; o < 2; ++o) want = want + ag::matmul(v[o].reshape({-1}), J[o][i]);
    EXPECT_LT(max_diff(vj[i], want.reshape(in[i].shape())), 1e-10) << "input " << i;
  }
  // jvp: sum over i of J[o][i] t[i].
  tensor_list t = {ag::randn({3}, kF64), ag::randn({2, 3}, kF64)};
  auto [outs2, jv] = ag::jvp(two_by_two, in, t);
  ASSERT_EQ(jv.size(), 2u);
  for (int o = 0; o < 2; ++o) {
    Tensor want = ag::matmul(J[o][0], t[0]) + ag::matmul(J[o][1], t[1].reshape({-1}));
    EXPECT_LT(max_diff(jv[o], want.reshape(outs2[o].shape())), 1e-10) << "output " << o;
    EXPECT_FALSE(jv[o].requires_grad());
  }
}

TEST(VjpJvp, ScalarDefaultsAndUnusedParts) {
  Tensor x = t64({2.0}, {});
  // One one-element output: v may be omitted (v = 1); likewise one one-element input for jvp.
  auto [o1, g1] = ag::vjp([](const tensor_list& in) { return tensor_list{in[0] * in[0] * in[0]}; }, {x});
  EXPECT_NEAR(g1[0].item<double>(), 12.0, 1e-12);
  EXPECT_NEAR(o1[0].item<double>(), 8.0, 1e-12);
  auto [o2, j2] = ag::jvp([](const tensor_list& in) { return tensor_list{ag::log(in[0])}; }, {x});
  EXPECT_NEAR(j2[0].item<double>(), 0.5, 1e-12);
  // An input no output uses gets a zero vjp; an output that depends on nothing a zero jvp.
  Tensor a = t64({1.0, 2.0}), b = t64({3.0});
  auto fn = [](const tensor_list& in) { return tensor_list{in[0] * 2.0, ag::ones({2}, kF64)}; };
  auto [o3, v3] = ag::vjp(fn, {a, b}, {t64({1.0, 1.0}), t64({1.0, 1.0})});
  EXPECT_LT(max_diff(v3[0], t64({2.0, 2.0})), 1e-15);
  EXPECT_LT(max_diff(v3[1], t64({0.0})), 1e-15);
  auto [o4, j4] = ag::jvp(fn, {a, b}, {t64({1.0, -1.0}), t64({5.0})});
  EXPECT_LT(max_diff(j4[0], t64({2.0, -2.0})), 1e-15);
  EXPECT_LT(max_diff(j4[1], t64({0.0, 0.0})), 1e-15);
}

TEST(VjpJvp, WorkUnderNoGradAndCreateGraph) {
  Tensor x = t64({0.5, 1.5});
  {
    ag::NoGradGuard ng;
    auto [o, j] = ag::jvp([](const tensor_list& in) { return tensor_list{ag::sin(in[0])}; }, {x}, {t64({1.0, 2.0})});
    EXPECT_LT(max_diff(j[0], t64({std::cos(0.5), 2 * std::cos(1.5)})), 1e-12);
  }
  // create_graph: d/dx of vjp(x ↦ x³, x, v) = 6 x v.
  x.requires_grad_(true);
  Tensor v = t64({1.0, -2.0});
  auto [o, g] = ag::vjp([](const tensor_list& in) { return tensor_list{in[0] * in[0] * in[0]}; }, {x}, {v}, true);
  ASSERT_TRUE(g[0].requires_grad());
  Tensor d = ag::grad({g[0].sum()}, {x})[0];
  EXPECT_LT(max_diff(d, x.detach() * v * 6.0), 1e-12);
  // The same through jvp with create_graph.
  auto [o2, jv] = ag::jvp([](const tensor_list& in) { return tensor_list{in[0] * in[0] * in[0]}; }, {x}, {v}, true);
  ASSERT_TRUE(jv[0].requires_grad());
  Tensor d2 = ag::grad({jv[0].sum()}, {x})[0];
  EXPECT_LT(max_diff(d2, x.detach() * v * 6.0), 1e-12);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Hvp, AgainstHessianTimesV) {
  ag::manual_seed(5);
  Tensor w = ag::randn({4, 4}, kF64);
  auto f = [&](const Tensor& x) { return ag::tanh(ag::matmul(w, x)).pow(2.0).sum() + ag::exp(x).sum() * x.sum(); };
  Tensor x = ag::randn({4}, kF64) * 0.5;
  Tensor v = ag::randn({4}, kF64);
  Tensor H = ag::hessian(f, x);
  auto [y, hv] = ag::hvp([&](const tensor_list& in) { return f(in[0]); }, {x}, {v});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_NEAR(y[0].item<double>(), f(x).item<double>(), 1e-12);
  EXPECT_LT(max_diff(hv[0], ag::matmul(H, v)), 1e-10);
  // Two inputs: the blocks of the joint Hessian, from one hessian over the concatenation.
  Tensor a = ag::randn({2}, kF64), b = ag::randn({3}, kF64);
  auto g = [](const tensor_list& in) { return (ag::sin(in[0]).sum() * in[1] * in[1]).sum() + in[1].pow(3.0).sum(); };
  Tensor ab = ag::cat({a, b}, 0);
  Tensor Hj = ag::hessian([&](const Tensor& z) { return g({z.slice(0, 0, 2), z.slice(0, 2, 5)}); }, ab);
  tensor_list vs = {ag::randn({2}, kF64), ag::randn({3}, kF64)};
  auto [y2, hv2] = ag::hvp(g, {a, b}, vs);
  Tensor want = ag::matmul(Hj, ag::cat(vs, 0));
  EXPECT_LT(max_diff(hv2[0], want.slice(0, 0, 2)), 1e-10);
  EXPECT_LT(max_diff(hv2[1], want.slice(0, 2, 5)), 1e-10);
}

// ---- higher order through grad and backward ----------------------------------------------

TEST(HigherOrder, SecondAndThirdDerivativesOfPowers) {
  Tensor x = t64({-1.5, 0.5, 2.0});
  x.requires_grad_(true);
  // d²/dx² x³ = 6x, through ag::grad twice.
  Tensor g1 = ag::grad({(x * x * x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_LT(max_diff(g1, x.detach() * x.detach() * 3.0), 1e-12);
  Tensor g2 = ag::grad({g1.sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_LT(max_diff(g2, x.detach() * 6.0), 1e-12);
  // Third derivative: d³/dx³ x³ = 6, and of x⁴: 24x.
  Tensor g3 = ag::grad({g2.sum()}, {x})[0];
  EXPECT_LT(max_diff(g3, ag::full({3}, 6.0, kF64)), 1e-12);
  Tensor h1 = ag::grad({ag::pow(x, 4.0).sum()}, {x}, {}, std::nullopt, true)[0];
  Tensor h2 = ag::grad({h1.sum()}, {x}, {}, std::nullopt, true)[0];
  Tensor h3 = ag::grad({h2.sum()}, {x})[0];
  EXPECT_LT(max_diff(h3, x.detach() * 24.0), 1e-12);
  // Through backward(create_graph=true): x.grad() is 3x² with history.
  Tensor z = t64({2.0});
  z.requires_grad_(true);
  (z * z * z).sum().backward({}, std::nullopt, /*create_graph=*/true);
  Tensor dz = z.grad();
  ASSERT_TRUE(dz.requires_grad());
  EXPECT_NEAR(dz.item<double>(), 12.0, 1e-12);
  Tensor d2 = ag::grad({dz.sum()}, {z})[0];
  EXPECT_NEAR(d2.item<double>(), 12.0, 1e-12);  // 6 · 2
  // The same through ag::hessian and jacobian-of-jacobian.
  Tensor s = t64({1.25}, {});
  EXPECT_NEAR(ag::hessian([](const Tensor& a) { return a * a * a; }, s).item<double>(), 7.5, 1e-12);
}

namespace {
// A 2-layer MLP's loss as a function of all its parameters flattened into one vector:
// W1 [h, d], b1 [h], W2 [c, h], b2 [c].
struct Mlp {
  Tensor x, labels, targets;
  int64_t d, h, c;
  bool tanh_ce;  // tanh + cross-entropy, else sigmoid + MSE
  int64_t size() const { return h * d + h + c * h + c; }
  Tensor loss(const Tensor& theta) const {
    int64_t at = 0;
    auto take = [&](Shape s) {
      int64_t n = 1;
      for (int64_t k : s) n *= k;
      Tensor p = theta.slice(0, at, at + n).reshape(s);
      at += n;
      return p;
    };
    Tensor W1 = take({h, d}), b1 = take({h}), W2 = take({c, h}), b2 = take({c});
    if (tanh_ce) {
      Tensor hid = ag::tanh(F::linear(x, W1, b1));
      return F::cross_entropy(F::linear(hid, W2, b2), labels);
    }
    Tensor hid = ag::sigmoid(ag::matmul(x, W1.t()) + b1);
    return F::mse_loss(ag::matmul(hid, W2.t()) + b2, targets);
  }
};
}  // namespace

TEST(HigherOrder, HessianOfATwoLayerMlpLossAgainstFiniteDifferences) {
  ag::manual_seed(21);
  for (bool tanh_ce : {true, false}) {
    SCOPED_TRACE(tanh_ce ? "tanh + cross_entropy" : "sigmoid + mse");
    Mlp net{ag::randn({5, 3}, kF64), ag::tensor(std::vector<int64_t>{0, 2, 1, 1, 0}, Shape{5}),
            ag::randn({5, 3}, kF64), 3, 4, 3, tanh_ce};
    Tensor theta = ag::randn({net.size()}, kF64) * 0.7;
    auto f = [&](const Tensor& p) { return net.loss(p); };
    Tensor H = ag::hessian(f, theta);
    const int64_t n = net.size();
    ASSERT_EQ(H.shape(), (Shape{n, n}));
    Tensor fd = fd_jacobian([&](const Tensor& p) { return gradient(f, p); }, theta, 1e-5);
    EXPECT_LT(max_diff(H, fd), 1e-7);
    EXPECT_LT(max_diff(H, H.t()), 1e-12);
    // Second differences of the loss itself on the diagonal (no gradient involved).
    ag::NoGradGuard ng;
    const double eps = 1e-4;
    for (int64_t k = 0; k < n; k += 5) {
      Tensor e = ag::zeros({n}, kF64);
      e.select(0, k).fill_(eps);
      const double d2 = (f(theta + e).item<double>() - 2 * f(theta).item<double>() + f(theta - e).item<double>()) /
                        (eps * eps);
      EXPECT_NEAR(at(H, k * n + k), d2, 1e-5) << "parameter " << k;
    }
    // hvp agrees with the Hessian.
    Tensor v = ag::randn({n}, kF64);
    auto [y, hv] = ag::hvp([&](const tensor_list& in) { return f(in[0]); }, {theta}, {v});
    EXPECT_LT(max_diff(hv[0], ag::matmul(H, v)), 1e-10);
  }
}

// ---- bad input ------------------------------------------------------------------------------

TEST(FunctionalErrors, ClearMessages) {
  Tensor x = t64({1.0, 2.0, 3.0});
  auto sq = [](const tensor_list& in) { return tensor_list{in[0] * in[0]}; };
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                               : ::testing::AssertionFailure() << "\"" << msg << "\" lacks \"" << part << "\"";
  };
  // Tangents / v of the wrong shape, dtype or count.
  std::string m = error_of([&] { ag::jvp(sq, {x}, {t64({1.0, 2.0})}); });
  EXPECT_TRUE(has(m, "jvp: tangents[0] has shape [2] but input 0 has shape [3]"));
  m = error_of([&] { ag::jvp(sq, {x}, {ag::ones({3})}); });
  EXPECT_TRUE(has(m, "jvp: tangents[0] has dtype float32 but input 0 has dtype float64"));
  m = error_of([&] { ag::jvp(sq, {x}, {x, x}); });
  EXPECT_TRUE(has(m, "jvp: got 2 tangents for 1 inputs"));
  m = error_of([&] { ag::jvp(sq, {x}); });
  EXPECT_TRUE(has(m, "jvp: tangents may be omitted only for a single input with one element"));
  m = error_of([&] { ag::vjp(sq, {x}, {ag::ones({3, 1}, kF64)}); });
  EXPECT_TRUE(has(m, "vjp: v[0] has shape [3, 1] but output 0 has shape [3]"));
  m = error_of([&] { ag::vjp(sq, {x}, {ag::ones({3})}); });
  EXPECT_TRUE(has(m, "vjp: v[0] has dtype float32 but output 0 has dtype float64"));
  m = error_of([&] { ag::vjp(sq, {x}, {x, x}); });
  EXPECT_TRUE(has(m, "vjp: got 2 v for 1 outputs"));
  m = error_of([&] { ag::vjp(sq, {x}); });
  EXPECT_TRUE(has(m, "vjp: v may be omitted only for a single output with one element"));
  m = error_of([&] { ag::vjp(sq, {x}, {Tensor()}); });
  EXPECT_TRUE(has(m, "vjp: v[0] is undefined"));
  m = error_of([&] { ag::hvp([](const tensor_list& in) { return in[0].sum(); }, {x}, {x, x}); });
  EXPECT_TRUE(has(m, "hvp: got 2 v for 1 inputs"));
  // f returning undefined tensors, or nothing.
  m = error_of([&] { ag::vjp([](const tensor_list&) { return tensor_list{Tensor()}; }, {x}, {x}); });
  EXPECT_TRUE(has(m, "vjp: f returned an undefined tensor at index 0"));
  m = error_of([&] { ag::jvp([](const tensor_list&) { return tensor_list{}; }, {x}, {x}); });
  EXPECT_TRUE(has(m, "jvp: f returned no tensors"));
  m = error_of([&] { ag::jacobian([](const Tensor&) { return Tensor(); }, x); });
  EXPECT_TRUE(has(m, "jacobian: f returned an undefined tensor"));
  m = error_of([&] { ag::hessian([](const Tensor&) { return Tensor(); }, x); });
  EXPECT_TRUE(has(m, "hessian: f returned an undefined tensor"));
  // hessian / hvp of a non-scalar function.
  m = error_of([&] { ag::hessian([](const Tensor& a) { return a * a; }, x); });
  EXPECT_TRUE(has(m, "hessian: f must return a single-element tensor (a scalar), got shape [3]"));
  m = error_of([&] { ag::hvp([](const tensor_list& in) { return in[0] * 2.0; }, {x}, {x}); });
  EXPECT_TRUE(has(m, "hvp: f must return a single-element tensor, got shape [3]"));
  // Inputs and outputs that cannot be differentiated.
  Tensor idx = ag::tensor(std::vector<int64_t>{1, 2}, Shape{2});
  m = error_of([&] { ag::jacobian([](const Tensor& a) { return a * 2.0; }, idx); });
  EXPECT_TRUE(has(m, "jacobian: input 0 has dtype int64 and shape [2]; only floating tensors can be differentiated"));
  m = error_of([&] { ag::vjp(sq, {Tensor()}, {x}); });
  EXPECT_TRUE(has(m, "vjp: input 0 is undefined"));
  m = error_of([&] { ag::vjp(sq, {}, {x}); });
  EXPECT_TRUE(has(m, "vjp: the list of inputs is empty"));
  m = error_of([&] { ag::jacobian([](const Tensor& a) { return ag::argmax(a); }, x); });
  EXPECT_TRUE(has(m, "jacobian: output 0 of f has dtype int64"));
  m = error_of([&] { ag::jacobian(ag::UnaryFunction(), x); });
  EXPECT_TRUE(has(m, "jacobian: f is empty"));
}

// ---- derivatives that cannot be differentiated again ---------------------------------------

namespace {
// 3x²·g by raw loops: correct values, invisible to autograd.
Tensor raw_cube_derivative(const Tensor& x0, const Tensor& g0) {
  const Tensor x = x0.contiguous(), g = g0.contiguous();
  Tensor out = ag::empty(x.shape(), kF64);
  const double *px = x.data_ptr<double>(), *pg = g.data_ptr<double>();
  for (int64_t i = 0; i < x.numel(); ++i) out.data_ptr<double>()[i] = 3 * px[i] * px[i] * pg[i];
  return out;
}
}  // namespace

// x³ whose backward runs raw loops, unmarked: the node detects what it can.
struct RawCube : ag::Function<RawCube> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list grads) {
    return {raw_cube_derivative(ctx->get_saved_variables()[0], grads[0])};
  }
};

// The same, marked with ag::once_differentiable.
struct MarkedCube : ag::Function<MarkedCube> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list grads) {
    return ag::once_differentiable(ctx, {raw_cube_derivative(ctx->get_saved_variables()[0], grads[0])}, grads);
  }
};

// x³ whose backward is written with ag ops: differentiable twice.
struct AgCube : ag::Function<AgCube> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list grads) {
    const Tensor x = ctx->get_saved_variables()[0];
    return {grads[0] * x * x * 3.0};
  }
};

TEST(OnceDifferentiable, SecondBackwardThroughAMarkedFunctionThrowsNamingIt) {
  Tensor x = t64({1.0, 2.0});
  x.requires_grad_(true);
  // First order is unaffected, with or without create_graph.
  Tensor g = ag::grad({MarkedCube::apply(x).sum()}, {x})[0];
  EXPECT_LT(max_diff(g, t64({3.0, 12.0})), 1e-15);
  Tensor gc = ag::grad({MarkedCube::apply(x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_LT(max_diff(gc, t64({3.0, 12.0})), 1e-15);
  ASSERT_TRUE(gc.requires_grad());
  EXPECT_EQ(gc.grad_fn()->name(), "DelayedError");
  std::string m = error_of([&] { ag::grad({gc.sum()}, {x}); });
  EXPECT_NE(m.find("trying to backward through the derivative of MarkedCubeBackward"), std::string::npos) << m;
  EXPECT_NE(m.find("not implemented"), std::string::npos) << m;
  // ag::hessian reaches it too.
  m = error_of([&] { ag::hessian([](const Tensor& a) { return MarkedCube::apply(a).sum(); }, x); });
  EXPECT_NE(m.find("MarkedCubeBackward"), std::string::npos) << m;
}

TEST(OnceDifferentiable, AnUnrecordedBackwardIsDetectedWhenItsIncomingGradientHasHistory) {
  Tensor x = t64({1.0, 2.0});
  x.requires_grad_(true);
  // RawCube(x) · x: the gradient RawCube receives is x (with history) under create_graph, so
  // a result without history cannot be right. Its second backward must fail, not give
  // a silently wrong second derivative.
  Tensor g = ag::grad({(RawCube::apply(x) * x).sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_LT(max_diff(g, t64({4.0, 32.0})), 1e-12);  // 4x³
  std::string m = error_of([&] { ag::grad({g.sum()}, {x}); });
  EXPECT_NE(m.find("RawCubeBackward"), std::string::npos) << m;
  // jvp differentiates the backward with respect to its incoming gradient (forward mode's
  // generic rule for a custom Function, as the double-vjp trick does).
  m = error_of([&] { ag::jvp([](const tensor_list& in) { return tensor_list{RawCube::apply(in[0])}; }, {x}, {x}); });
  EXPECT_NE(m.find("RawCubeBackward"), std::string::npos) << m;
  // A custom Function written with ag ops is differentiated twice as usual: 6x.
  Tensor y = t64({1.5});
  EXPECT_NEAR(ag::hessian([](const Tensor& a) { return AgCube::apply(a).sum(); }, y).item<double>(), 9.0, 1e-12);
  Tensor gy = ag::grad({(AgCube::apply(x) * x).sum()}, {x}, {}, std::nullopt, true)[0];
  EXPECT_LT(max_diff(ag::grad({gy.sum()}, {x})[0], x.detach() * x.detach() * 12.0), 1e-12);  // d/dx 4x³
}

TEST(OnceDifferentiable, JacobianAutoModeChoosesForwardOnlyForFewerInputsThanOutputs) {
  // Observable through a derivative that only reverse mode can use: forward mode needs
  // J·t through RawCube, which it gets by differentiating RawCube's backward (forward
  // mode's generic rule for a custom Function, or the double-vjp trick) — computed outside
  // autograd, so it throws naming the Function.
  Tensor x1 = t64({2.0});
  auto widen = [](const Tensor& a) { return RawCube::apply(a.expand({3}) * 1.0); };  // 1 input, 3 outputs
  std::string m = error_of([&] { ag::jacobian(widen, x1); });                         // Auto: forward
  EXPECT_NE(m.find("RawCubeBackward"), std::string::npos) << m;
  Tensor J = ag::jacobian(widen, x1, ag::JacobianMode::Reverse);
  EXPECT_LT(max_diff(J, t64({12.0, 12.0, 12.0}, {3, 1})), 1e-12);
  // 3 inputs, 1 output: Auto picks reverse, which never differentiates the backward.
  Tensor x3 = t64({1.0, 2.0, 3.0});
  Tensor J2 = ag::jacobian([](const Tensor& a) { return RawCube::apply(a).sum(); }, x3);
  EXPECT_LT(max_diff(J2, t64({3.0, 12.0, 27.0})), 1e-12);
  // Square Jacobians (n == m) go to reverse as well.
  Tensor J3 = ag::jacobian([](const Tensor& a) { return RawCube::apply(a); }, x3);
  EXPECT_LT(max_diff(J3, ag::eye(3, kF64) * t64({3.0, 12.0, 27.0})), 1e-12);
}

TEST(HigherOrder, HessianAndHvpWithCreateGraphGiveThirdDerivatives) {
  // f = sum(x⁴)/12: H = diag(x²), d/dx sum(H) = 2x; H·v = x²v, d/dx sum(x² v) = 2xv.
  Tensor x = t64({0.5, -1.0, 2.0});
  x.requires_grad_(true);
  auto f = [](const Tensor& a) { return ag::pow(a, 4.0).sum() / 12.0; };
  Tensor H = ag::hessian(f, x, /*create_graph=*/true);
  ASSERT_TRUE(H.requires_grad());
  EXPECT_LT(max_diff(H, ag::eye(3, kF64) * (x.detach() * x.detach())), 1e-12);
  EXPECT_LT(max_diff(ag::grad({H.sum()}, {x})[0], x.detach() * 2.0), 1e-12);
  Tensor v = t64({1.0, 2.0, -1.0});
  auto [y, hv] = ag::hvp([&](const tensor_list& in) { return f(in[0]); }, {x}, {v}, /*create_graph=*/true);
  ASSERT_TRUE(hv[0].requires_grad());
  EXPECT_LT(max_diff(ag::grad({hv[0].sum()}, {x})[0], x.detach() * v * 2.0), 1e-12);
  EXPECT_FALSE(x.grad().defined());
}
