// Forward-mode AD (ag/forward_ad.hpp): the dual level, make_dual/unpack_dual, propagation
// through every differentiable op (forward J·t against reverse Jᵀv: <J t, v> == <t, Jᵀ v>
// in float64), ag::jvp and jacobian's forward mode, and bad input.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "test_util.hpp"

using ag::Shape;
using ag::Tensor;
using ag::tensor_list;
namespace fwad = ag::forward_ad;
namespace F = ag::nn::functional;

namespace {

// (x, y) -> (x·y, sin x), backward written with ag ops.
struct MulSin : ag::Function<MulSin> {
  static tensor_list forward(ag::AutogradContext* ctx, const Tensor& x, const Tensor& y) {
    ctx->save_for_backward({x, y});
    return {x * y, ag::sin(x)};
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list g) {
    const tensor_list s = ctx->get_saved_variables();
    Tensor gx, gy;
    if (ctx->needs_input_grad(0)) gx = g[0] * s[1] + g[1] * ag::cos(s[0]);
    if (ctx->needs_input_grad(1)) gy = g[0] * s[0];
    return {gx, gy};
  }
};
// exp, saving its output.
struct SavedExp : ag::Function<SavedExp> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    Tensor y = ag::exp(x);
    ctx->save_for_backward({y});
    return y;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list g) {
    return {g[0] * ctx->get_saved_variables()[0]};
  }
};
// Returns its input itself.
struct PassThrough : ag::Function<PassThrough> {
  static Tensor forward(ag::AutogradContext*, const Tensor& x) { return x; }
  static tensor_list backward(ag::AutogradContext*, tensor_list g) { return {g[0]}; }
};
// x³ with a backward computed outside autograd: once marked, once not.
Tensor raw_cube_grad(const Tensor& x, const Tensor& g) {
  Tensor xc = x.contiguous(), gc = g.contiguous();
  Tensor out = ag::empty(x.shape(), kF64);
  for (int64_t i = 0; i < x.numel(); ++i)
    out.data_ptr<double>()[i] = 3.0 * xc.data_ptr<double>()[i] * xc.data_ptr<double>()[i] * gc.data_ptr<double>()[i];
  return out;
}
struct MarkedCubeFw : ag::Function<MarkedCubeFw> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list g) {
    return ag::once_differentiable(ctx, {raw_cube_grad(ctx->get_saved_variables()[0], g[0])}, g);
  }
};
struct RawCubeFw : ag::Function<RawCubeFw> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static tensor_list backward(ag::AutogradContext* ctx, tensor_list g) {
    return {raw_cube_grad(ctx->get_saved_variables()[0], g[0])};
  }
};

struct Case {
  std::string name;
  std::function<Tensor(const tensor_list&)> f;
  std::function<tensor_list()> inputs;
};

// <J t, v> by forward mode and <t, Jᵀ v> by reverse mode, with the same random t and v.
void check_case(const Case& c) {
  SCOPED_TRACE(c.name);
  const tensor_list xs = c.inputs();
  tensor_list ts;
  for (const Tensor& x : xs) ts.push_back(ag::randn(x.shape(), kF64));
  // forward
  Tensor y_fwd, jt;
  {
    fwad::DualLevel level;
    tensor_list duals;
    for (size_t i = 0; i < xs.size(); ++i) duals.push_back(fwad::make_dual(xs[i], ts[i]));
    y_fwd = c.f(duals);
    auto u = fwad::unpack_dual(y_fwd);
    ASSERT_TRUE(u.tangent.defined()) << "no tangent on the output";
    jt = u.tangent;
    EXPECT_EQ(jt.shape(), y_fwd.shape());
    EXPECT_EQ(jt.dtype(), y_fwd.dtype());
    EXPECT_FALSE(jt.requires_grad());
  }
  // after the level: no tangent left
  EXPECT_FALSE(fwad::unpack_dual(y_fwd).tangent.defined());
  // reverse
  tensor_list leaves;
  for (const Tensor& x : xs) {
    Tensor l = x.detach().clone();
    l.requires_grad_(true);
    leaves.push_back(l);
  }
  Tensor y = c.f(leaves);
  ASSERT_TRUE(y.requires_grad());
  Tensor v = ag::randn(y.shape(), kF64);
  tensor_list g = ag::grad({y}, leaves, {v}, false, false, /*allow_unused=*/true);
  double lhs = scalar((jt * v).sum());
  double rhs = 0;
  for (size_t i = 0; i < xs.size(); ++i)
    if (g[i].defined()) rhs += scalar((g[i] * ts[i]).sum());
  const double scale = std::max({1.0, std::abs(lhs), std::abs(rhs)});
  EXPECT_NEAR(lhs, rhs, 1e-10 * scale);
  // The primal is the ordinary forward value.
  EXPECT_NEAR(scalar((y_fwd.detach() - y.detach()).abs().sum()), 0.0, 1e-12);
}

std::vector<Case> cases() {
  using L = const tensor_list&;
  auto one = [](Shape s, auto gen) { return [s, gen] { return tensor_list{gen(s)}; }; };
  auto two = [](Shape a, Shape b, auto ga, auto gb) { return [a, b, ga, gb] { return tensor_list{ga(a), gb(b)}; }; };
  auto RN = [](const Shape& s) { return normal64(s); };
  auto POS = [](const Shape& s) { return positive64(s); };
  auto AWAY = [](const Shape& s) { return away_from_zero64(s); };
  auto DIST = [](const Shape& s) { return distinct64(s); };
  auto UNIT = [](const Shape& s) { return uniform64(s, 0.05, 0.95); };
  auto TANHY = [](const Shape& s) { return uniform64(s, -0.95, 0.95); };
  std::vector<Case> c;
  // arithmetic, with broadcasting and scalar forms
  c.push_back({"add", [](L x) { return x[0] + x[1]; }, two({3, 4}, {4}, RN, RN)});
  c.push_back({"add_alpha", [](L x) { return ag::add(x[0], x[1], 2.5); }, two({3, 1}, {1, 4}, RN, RN)});
  c.push_back({"sub", [](L x) { return x[0] - x[1]; }, two({3, 4}, {3, 1}, RN, RN)});
  c.push_back({"mul", [](L x) { return x[0] * x[1]; }, two({2, 3, 4}, {3, 4}, RN, RN)});
  c.push_back({"div", [](L x) { return x[0] / x[1]; }, two({3, 4}, {4}, RN, POS)});
  c.push_back({"scalar_forms", [](L x) { return (x[0] + 2.0) * 3.0 - 1.0 / (x[0] * x[0] + 1.0) + 2.0 - x[0] / 4.0; },
               one({5}, RN)});
  c.push_back({"neg", [](L x) { return -x[0]; }, one({3, 4}, RN)});
  c.push_back({"pow_scalar", [](L x) { return ag::pow(x[0], 2.5); }, one({3, 4}, POS)});
  c.push_back({"pow_neg", [](L x) { return ag::pow(x[0], -1.5); }, one({6}, POS)});
  c.push_back({"pow_tensor", [](L x) { return ag::pow(x[0], x[1]); }, two({3, 4}, {3, 4}, POS, RN)});
  c.push_back({"pow_base", [](L x) { return ag::pow(1.7, x[0]); }, one({5}, RN)});
  // unary
  c.push_back({"exp", [](L x) { return ag::exp(x[0]); }, one({3, 4}, RN)});
  c.push_back({"log", [](L x) { return ag::log(x[0]); }, one({3, 4}, POS)});
  c.push_back({"sin", [](L x) { return ag::sin(x[0]); }, one({3, 4}, RN)});
  c.push_back({"cos", [](L x) { return ag::cos(x[0]); }, one({3, 4}, RN)});
  c.push_back({"tanh", [](L x) { return ag::tanh(x[0]); }, one({3, 4}, RN)});
  c.push_back({"sigmoid", [](L x) { return ag::sigmoid(x[0]); }, one({3, 4}, RN)});
  c.push_back({"relu", [](L x) { return ag::relu(x[0]); }, one({3, 4}, AWAY)});
  c.push_back({"sqrt", [](L x) { return ag::sqrt(x[0]); }, one({3, 4}, POS)});
  c.push_back({"abs", [](L x) { return ag::abs(x[0]); }, one({3, 4}, AWAY)});
  c.push_back({"sign_times", [](L x) { return ag::sign(x[0]) * x[0]; }, one({7}, AWAY)});
  c.push_back({"clamp", [](L x) { return ag::clamp(x[0], -0.5, 0.5); }, one({4, 5}, RN)});
  c.push_back({"clamp_min", [](L x) { return ag::clamp(x[0], 0.1); }, one({9}, RN)});
  c.push_back({"maximum", [](L x) { return ag::maximum(x[0], x[1]); }, two({6}, {6}, DIST, DIST)});
  c.push_back({"minimum", [](L x) { return ag::minimum(x[0], x[1]); }, two({6}, {6}, DIST, DIST)});
  c.push_back({"where", [](L x) { return ag::where(x[0] > x[1], x[0] * 2.0, x[1]); }, two({3, 4}, {3, 4}, DIST, DIST)});
  c.push_back({"sigmoid_backward", [](L x) { return ag::sigmoid_backward(x[0], x[1]); },
               two({3, 4}, {3, 4}, RN, UNIT)});
  c.push_back({"tanh_backward", [](L x) { return ag::tanh_backward(x[0], x[1]); }, two({37}, {37}, RN, TANHY)});
  c.push_back({"relu_backward", [](L x) { return ag::relu_backward(x[0], x[1]); }, two({37}, {37}, RN, AWAY)});
  // reductions
  c.push_back({"sum", [](L x) { return ag::sum(x[0]); }, one({3, 4}, RN)});
  c.push_back({"sum_dim", [](L x) { return ag::sum(x[0], 1, true); }, one({3, 4, 2}, RN)});
  c.push_back({"sum_dims", [](L x) { return ag::sum(x[0], Shape{0, 2}); }, one({3, 4, 2}, RN)});
  c.push_back({"mean", [](L x) { return ag::mean(x[0]); }, one({3, 4}, RN)});
  c.push_back({"mean_dim", [](L x) { return ag::mean(x[0], 0); }, one({3, 4}, RN)});
  c.push_back({"max_all", [](L x) { return ag::max(x[0]); }, one({3, 4}, DIST)});
  c.push_back({"min_all", [](L x) { return ag::min(x[0]); }, one({3, 4}, DIST)});
  c.push_back({"max_dim", [](L x) { return std::get<0>(ag::max(x[0], 1)); }, one({3, 4}, DIST)});
  c.push_back({"min_dim", [](L x) { return std::get<0>(ag::min(x[0], 0, true)); }, one({3, 4}, DIST)});
  c.push_back({"norm", [](L x) { return ag::norm(x[0]); }, one({3, 4}, RN)});
  c.push_back({"sum_to", [](L x) { return ag::sum_to(x[0], {1, 4}); }, one({3, 4}, RN)});
  // linear algebra
  c.push_back({"dot", [](L x) { return ag::dot(x[0], x[1]); }, two({5}, {5}, RN, RN)});
  c.push_back({"mm", [](L x) { return ag::mm(x[0], x[1]); }, two({3, 4}, {4, 5}, RN, RN)});
  c.push_back({"mm_t", [](L x) { return ag::mm(x[0].t(), x[1]); }, two({4, 3}, {4, 5}, RN, RN)});
  c.push_back({"bmm", [](L x) { return ag::bmm(x[0], x[1]); }, two({2, 3, 4}, {2, 4, 5}, RN, RN)});
  c.push_back({"matmul_1d_2d", [](L x) { return ag::matmul(x[0], x[1]); }, two({4}, {4, 3}, RN, RN)});
  c.push_back({"matmul_2d_1d", [](L x) { return ag::matmul(x[0], x[1]); }, two({3, 4}, {4}, RN, RN)});
  c.push_back({"matmul_batched", [](L x) { return ag::matmul(x[0], x[1]); }, two({2, 3, 4}, {4, 5}, RN, RN)});
  c.push_back({"addmm", [](L x) { return ag::addmm(x[2], x[0], x[1]); },
               [] { return tensor_list{normal64({3, 4}), normal64({4, 5}), normal64({5})}; }});
  // softmax
  c.push_back({"softmax", [](L x) { return ag::softmax(x[0], 1); }, one({3, 5}, RN)});
  c.push_back({"softmax0", [](L x) { return ag::softmax(x[0], 0); }, one({3, 5}, RN)});
  c.push_back({"log_softmax", [](L x) { return ag::log_softmax(x[0], 1); }, one({3, 5}, RN)});
  // views and copies
  c.push_back({"reshape", [](L x) { return ag::reshape(x[0], {4, 3}) * 1.5; }, one({3, 4}, RN)});
  c.push_back({"view", [](L x) { return ag::view(x[0], {2, 6}); }, one({3, 4}, RN)});
  c.push_back({"flatten", [](L x) { return ag::flatten(x[0]); }, one({2, 3, 2}, RN)});
  c.push_back({"transpose", [](L x) { return ag::transpose(x[0], 0, 2); }, one({2, 3, 4}, RN)});
  c.push_back({"t", [](L x) { return ag::t(x[0]); }, one({3, 4}, RN)});
  c.push_back({"permute", [](L x) { return ag::permute(x[0], {2, 0, 1}); }, one({2, 3, 4}, RN)});
  c.push_back({"squeeze", [](L x) { return ag::squeeze(x[0]); }, one({3, 1, 4}, RN)});
  c.push_back({"squeeze_dim", [](L x) { return ag::squeeze(x[0], 1); }, one({3, 1, 4}, RN)});
  c.push_back({"unsqueeze", [](L x) { return ag::unsqueeze(x[0], 1); }, one({3, 4}, RN)});
  c.push_back({"expand", [](L x) { return ag::expand(x[0], {3, 4}) * x[0]; }, one({1, 4}, RN)});
  c.push_back({"select", [](L x) { return ag::select(x[0], 1, 2); }, one({3, 4}, RN)});
  c.push_back({"slice", [](L x) { return ag::slice(x[0], 1, 0, 4, 2); }, one({3, 5}, RN)});
  c.push_back({"index_select",
               [](L x) { return ag::index_select(x[0], 0, ag::tensor({2.0, 0.0, 2.0}).to(ag::kInt64)); },
               one({3, 4}, RN)});
  c.push_back({"cat", [](L x) { return ag::cat({x[0], x[1]}, 0); }, two({2, 3}, {4, 3}, RN, RN)});
  c.push_back({"stack", [](L x) { return ag::stack({x[0], x[1], x[0]}, 1); }, two({2, 3}, {2, 3}, RN, RN)});
  c.push_back({"clone", [](L x) { return ag::clone(x[0]); }, one({3, 4}, RN)});
  c.push_back({"contiguous", [](L x) { return ag::contiguous(x[0].t()); }, one({3, 4}, RN)});
  c.push_back({"to_f32_f64", [](L x) { return x[0].to(ag::kFloat32).to(ag::kFloat64) * 0.0 + x[0]; }, one({3}, RN)});
  // in-place on non-leaves
  c.push_back({"inplace", [](L x) {
                 Tensor a = x[0] * 1.0;
                 a.mul_(x[1]);
                 a.add_(x[1], 2.0);
                 a.div_(2.0);
                 a.sub_(x[0]);
                 return a;
               },
               two({3, 4}, {3, 4}, RN, RN)});
  // nn functional (fused linear, losses)
  c.push_back({"linear", [](L x) { return F::linear(x[0], x[1], x[2]); },
               [] { return tensor_list{normal64({4, 3}), normal64({5, 3}), normal64({5})}; }});
  c.push_back({"linear_nobias", [](L x) { return F::linear(x[0], x[1]); }, two({4, 3}, {5, 3}, RN, RN)});
  c.push_back({"F_relu", [](L x) { return F::relu(x[0]); }, one({3, 4}, AWAY)});
  for (auto r : {ag::nn::Reduction::Mean, ag::nn::Reduction::Sum, ag::nn::Reduction::None}) {
    const std::string rs = r == ag::nn::Reduction::Mean ? "_mean" : r == ag::nn::Reduction::Sum ? "_sum" : "_none";
    c.push_back({"cross_entropy" + rs,
                 [r](L x) { return F::cross_entropy(x[0], ag::tensor({1.0, 0.0, 3.0}).to(ag::kInt64), r); },
                 one({3, 4}, RN)});
    c.push_back({"cross_entropy_probs" + rs, [r](L x) { return F::cross_entropy(x[0], ag::softmax(x[1], 1), r); },
                 two({3, 4}, {3, 4}, RN, RN)});
    c.push_back({"mse" + rs, [r](L x) { return F::mse_loss(x[0], x[1], r); }, two({3, 4}, {3, 4}, RN, RN)});
    // custom ag::Functions in nn/ (Note [Forward AD through a custom Function])
    c.push_back({"nll_loss" + rs,
                 [r](L x) { return F::nll_loss(ag::log_softmax(x[0], 1), ag::tensor({2.0, 0.0, 3.0}).to(ag::kInt64), r); },
                 one({3, 4}, RN)});
    c.push_back({"nll_loss_raw" + rs,
                 [r](L x) { return F::nll_loss(x[0], ag::tensor({1.0, 1.0, 0.0, 2.0}).to(ag::kInt64), r); },
                 one({4, 3}, RN)});
    c.push_back({"bce" + rs, [r](L x) { return F::binary_cross_entropy(x[0], x[1], r); },
                 two({3, 4}, {3, 4}, UNIT, UNIT)});
    c.push_back({"bce_with_logits" + rs, [r](L x) { return F::binary_cross_entropy_with_logits(x[0], x[1], r); },
                 two({3, 4}, {3, 4}, RN, UNIT)});
  }
  // user custom Functions: two inputs and two outputs; a saved output; an output that is an input
  c.push_back({"function_mul_sin", [](L x) {
                 tensor_list o = MulSin::apply(x[0], x[1]);
                 return o[0] * 2.0 + o[1] * x[1];
               },
               two({3, 4}, {3, 4}, RN, RN)});
  c.push_back({"function_mul_sin_first", [](L x) { return MulSin::apply(x[0], x[1])[0]; }, two({5}, {5}, RN, RN)});
  c.push_back({"function_saved_output", [](L x) { return SavedExp::apply(x[0] * 0.5); }, one({3, 4}, RN)});
  c.push_back({"function_returns_input", [](L x) { return PassThrough::apply(x[0]) * x[0]; }, one({6}, RN)});
  // one operand without tangent (the explicit JVP rules' undefined-tangent branches)
  {
    const Tensor C = normal64({3, 4}), P = positive64({3, 4}), M = normal64({4, 5}), B = normal64({5});
    c.push_back({"const_mixed", [C, P](L x) { return (x[0] * C + C * x[0]) / P + P / x[0] - (C - x[0]) + (x[0] - C) + C / x[0]; },
                 one({3, 4}, POS)});
    c.push_back({"mm_const", [C, M](L x) { return ag::mm(C, x[0]) + ag::mm(x[1], M); }, two({4, 5}, {3, 4}, RN, RN)});
    c.push_back({"addmm_const", [C, M, B](L x) { return ag::addmm(B, x[0], M, 0.5, 2.0) + ag::addmm(x[1], C, M, 1.5); },
                 two({3, 4}, {5}, RN, RN)});
    c.push_back({"bmm_const", [](L x) { return ag::bmm(x[0], ag::ones({2, 4, 3}, kF64)); }, one({2, 3, 4}, RN)});
  }
  // a composite: a two-layer MLP loss
  c.push_back({"mlp", [](L x) {
                 Tensor h = F::relu(F::linear(x[0], x[1], x[2]));
                 return F::cross_entropy(F::linear(h, x[3]), ag::tensor({1.0, 0.0, 2.0, 1.0}).to(ag::kInt64));
               },
               [] { return tensor_list{normal64({4, 3}), normal64({6, 3}), normal64({6}), normal64({3, 6})}; }});
  return c;
}

}  // namespace

TEST(ForwardAD, TraceExample) {
  // f(x1, x2) = ln(x1) + x1·x2 − sin(x2) at (2, 5), tangent (1, 0): 1/2 + 5 = 5.5.
  fwad::DualLevel level;
  Tensor x1 = fwad::make_dual(ag::tensor({2.0}, kF64), ag::tensor({1.0}, kF64));
  Tensor x2 = fwad::make_dual(ag::tensor({5.0}, kF64), ag::tensor({0.0}, kF64));
  Tensor y = ag::log(x1) + x1 * x2 - ag::sin(x2);
  auto u = fwad::unpack_dual(y);
  EXPECT_NEAR(scalar(u.primal), std::log(2.0) + 10.0 - std::sin(5.0), 1e-14);
  EXPECT_NEAR(scalar(u.tangent), 5.5, 1e-14);
}

TEST(ForwardAD, EveryOpMatchesReverseMode) {
  ag::manual_seed(7);
  const auto cs = cases();
  EXPECT_GE(cs.size(), 80u);
  for (const Case& c : cs) check_case(c);
}

TEST(ForwardAD, WithReverseModeTogether) {
  // A dual input that also requires grad: tangents propagate and backward still works.
  Tensor x = ag::tensor({0.3, -0.7, 1.1}, kF64);
  x.requires_grad_(true);
  fwad::DualLevel level;
  Tensor d = fwad::make_dual(x, ag::ones({3}, kF64));
  Tensor y = (ag::sin(d) * d).sum();
  ASSERT_TRUE(y.requires_grad());
  Tensor jt = fwad::unpack_dual(y).tangent;
  y.backward();
  // d/dx sum(x sin x) = sin x + x cos x, for the tangent 1: its sum.
  Tensor expect = (ag::sin(x.detach()) + x.detach() * ag::cos(x.detach()));
  EXPECT_NEAR(scalar(jt), scalar(expect.sum()), 1e-12);
  EXPECT_NEAR(scalar((x.grad() - expect).abs().sum()), 0.0, 1e-12);
  // No-grad: tangents still propagate, nothing is recorded.
  ag::NoGradGuard ng;
  Tensor z = ag::exp(d);
  EXPECT_FALSE(z.requires_grad());
  EXPECT_NEAR(scalar((fwad::unpack_dual(z).tangent - ag::exp(x.detach())).abs().sum()), 0.0, 1e-12);
}

TEST(ForwardAD, UnpackAndLevelExit) {
  Tensor p = ag::tensor({1.0, 2.0}, kF64);
  Tensor d;
  {
    fwad::DualLevel level;
    d = fwad::make_dual(p, ag::tensor({3.0, 4.0}, kF64));
    auto u = fwad::unpack_dual(d);
    EXPECT_FALSE(fwad::unpack_dual(u.primal).tangent.defined());
    EXPECT_FALSE(fwad::unpack_dual(p).tangent.defined());
    EXPECT_EQ(u.primal.data_ptr<double>(), p.data_ptr<double>());  // views primal's data
    EXPECT_DOUBLE_EQ(u.tangent.data_ptr<double>()[1], 4.0);
    // A tensor without tangent through an op: no tangent.
    EXPECT_FALSE(fwad::unpack_dual(p * 2.0).tangent.defined());
  }
  EXPECT_FALSE(fwad::unpack_dual(d).tangent.defined());
  EXPECT_FALSE(d.unsafeGetTensorImpl()->fw_grad);  // dropped, not just hidden
  // A new level after the first one exited.
  fwad::DualLevel again;
  EXPECT_FALSE(fwad::unpack_dual(d).tangent.defined());
}

TEST(ForwardAD, BadInput) {
  Tensor p = ag::tensor({1.0, 2.0, 3.0}, kF64);
  // make_dual outside a level
  std::string m = error_of([&] { fwad::make_dual(p, ag::ones({3}, kF64)); });
  EXPECT_NE(m.find("make_dual"), std::string::npos) << m;
  EXPECT_NE(m.find("DualLevel"), std::string::npos) << m;
  fwad::DualLevel level;
  // wrong shape
  m = error_of([&] { fwad::make_dual(p, ag::ones({2, 3}, kF64)); });
  EXPECT_NE(m.find("make_dual"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3]"), std::string::npos) << m;
  // wrong dtype
  m = error_of([&] { fwad::make_dual(p, ag::ones({3}, ag::TensorOptions(ag::kFloat32))); });
  EXPECT_NE(m.find("make_dual"), std::string::npos) << m;
  EXPECT_NE(m.find("float32"), std::string::npos) << m;
  EXPECT_NE(m.find("float64"), std::string::npos) << m;
  // integer primal
  m = error_of([&] { fwad::make_dual(ag::ones({3}, ag::TensorOptions(ag::kInt64)), ag::ones({3}, ag::TensorOptions(ag::kInt64))); });
  EXPECT_NE(m.find("make_dual"), std::string::npos) << m;
  // nested level
  m = error_of([&] { fwad::DualLevel inner; });
  EXPECT_NE(m.find("DualLevel"), std::string::npos) << m;
  // state unchanged: p has no tangent, same values; the outer level still works
  EXPECT_FALSE(fwad::unpack_dual(p).tangent.defined());
  EXPECT_DOUBLE_EQ(p.data_ptr<double>()[2], 3.0);
  Tensor d = fwad::make_dual(p, ag::ones({3}, kF64));
  EXPECT_NEAR(scalar(fwad::unpack_dual((d * d).sum()).tangent), 12.0, 1e-14);
}

TEST(ForwardAD, JvpAndJacobianUseForwardMode) {
  auto f = [](const tensor_list& x) { return tensor_list{ag::log(x[0]) + x[0] * x[1] - ag::sin(x[1])}; };
  Tensor a = ag::tensor({2.0}, kF64), b = ag::tensor({5.0}, kF64);
  auto [outs, jt] = ag::jvp(f, {a, b}, {ag::tensor({1.0}, kF64), ag::tensor({0.0}, kF64)});
  EXPECT_NEAR(scalar(jt[0]), 5.5, 1e-14);
  EXPECT_NEAR(scalar(outs[0]), std::log(2.0) + 10.0 - std::sin(5.0), 1e-14);
  EXPECT_FALSE(jt[0].requires_grad());
  // jacobian, forward against reverse
  Tensor x = ag::randn({3}, kF64);
  auto g = [](const Tensor& v) { return ag::tanh(ag::matmul(ag::ones({5, 3}, kF64), v * v)); };
  Tensor Jf = ag::jacobian(g, x, ag::JacobianMode::Forward);
  Tensor Jr = ag::jacobian(g, x, ag::JacobianMode::Reverse);
  EXPECT_NEAR(scalar((Jf - Jr).abs().sum()), 0.0, 1e-12);
  // create_graph still works (double-vjp path).
  Tensor xg = ag::tensor({0.5, 1.5}, kF64);
  xg.requires_grad_(true);
  auto [o2, jt2] = ag::jvp([](const tensor_list& v) { return tensor_list{v[0] * v[0] * v[0]}; }, {xg},
                           {ag::ones({2}, kF64)}, true);
  ASSERT_TRUE(jt2[0].requires_grad());
  Tensor h = ag::grad({jt2[0].sum()}, {xg})[0];  // d/dx 3x² = 6x
  EXPECT_NEAR(scalar((h - xg.detach() * 6.0).abs().sum()), 0.0, 1e-12);
}

TEST(ForwardAD, CustomFunction) {
  fwad::DualLevel level;
  Tensor x0 = ag::randn({3, 4}, kF64), t = ag::randn({3, 4}, kF64);
  Tensor x = fwad::make_dual(x0, t);
  Tensor labels = ag::tensor({1.0, 0.0, 3.0}).to(ag::kInt64);
  // nll_loss (a custom Function in nn/) with Reduction::None: J·t = -t[i, label[i]].
  Tensor y = F::nll_loss(x, labels, ag::nn::Reduction::None);
  Tensor jt = fwad::unpack_dual(y).tangent;
  ASSERT_TRUE(jt.defined());
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t l = labels.data_ptr<int64_t>()[i];
    EXPECT_NEAR(jt.data_ptr<double>()[i], -t.contiguous().data_ptr<double>()[i * 4 + l], 1e-14);
  }
  // An output that is the input: a new handle with the same tangent; the input keeps its own.
  Tensor p = PassThrough::apply(x);
  EXPECT_FALSE(p.is_same(x));
  EXPECT_NEAR(scalar((fwad::unpack_dual(p).tangent - t).abs().sum()), 0.0, 1e-15);
  // A backward computed outside autograd has no derivative to run: a clear error naming the
  // Function, whether marked once_differentiable or not.
  Tensor c0 = ag::tensor({1.0, 2.0}, kF64);
  Tensor c = fwad::make_dual(c0, ag::ones({2}, kF64));
  for (const char* fname : {"MarkedCubeFwBackward", "RawCubeFwBackward"}) {
    std::string m = error_of([&] {
      if (std::string(fname) == "MarkedCubeFwBackward") MarkedCubeFw::apply(c);
      else RawCubeFw::apply(c);
    });
    EXPECT_NE(m.find(fname), std::string::npos) << m;
    EXPECT_NE(m.find("does not support forward mode AD"), std::string::npos) << m;
    EXPECT_NE(m.find("differentiable"), std::string::npos) << m;
  }
  // Without tangents such a Function runs as usual inside the level; reverse mode still works.
  EXPECT_FALSE(fwad::unpack_dual(RawCubeFw::apply(c0)).tangent.defined());
  Tensor r = c0.detach().clone();
  r.requires_grad_(true);
  EXPECT_NEAR(scalar(ag::grad({MarkedCubeFw::apply(r).sum()}, {r})[0].sum()), 15.0, 1e-12);
}
