// Reverse-mode autograd with PyTorch's semantics: .grad() accumulation, backward with and
// without a gradient, retain_graph, detach, retain_grad, node names, grad mode, ag::grad
// (allow_unused, create_graph), custom Functions, version counters, hooks, dynamic control
// flow, the seed examples, fan-in, long chains and the release of the graph.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using Dims = std::vector<int64_t>;

std::vector<float> values(const ag::Tensor& t) {
  ag::Tensor c = t.to(ag::kFloat32).contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}


bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// A user-defined cube with its derivative 3x² (global namespace: its node is "CubeBackward").
struct Cube : ag::Function<Cube> {
  static ag::Tensor forward(ag::AutogradContext* ctx, const ag::Tensor& x) {
    ctx->save_for_backward({x});
    return x * x * x;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    ag::Tensor x = ctx->get_saved_variables()[0];
    return {grads[0] * 3.0 * x * x};
  }
};

// x * y * scale, with a non-tensor argument and two tensor inputs.
struct ScaledMul : ag::Function<ScaledMul> {
  static ag::Tensor forward(ag::AutogradContext* ctx, const ag::Tensor& x, const ag::Tensor& y, double scale) {
    ctx->save_for_backward({x, y});
    ctx->saved_data.push_back(scale);
    return x * y * scale;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const double scale = ctx->saved_data[0];
    return {grads[0] * s[1] * scale, grads[0] * s[0] * scale, ag::Tensor()};
  }
};

// Returns two gradients for its one input: a misuse the engine reports.
struct TooManyGrads : ag::Function<TooManyGrads> {
  static ag::Tensor forward(ag::AutogradContext*, const ag::Tensor& x) { return x * 2.0; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list grads) { return {grads[0], grads[0]}; }
};

namespace custom_ns {
struct Square : ag::Function<Square> {
  static ag::Tensor forward(ag::AutogradContext* ctx, const ag::Tensor& x) {
    ctx->save_for_backward({x});
    return x * x;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list grads) {
    return {grads[0] * 2.0 * ctx->get_saved_variables()[0]};
  }
};
}  // namespace custom_ns

// ---- .grad() -------------------------------------------------------------------------------

TEST(Grad, UndefinedBeforeBackward) {
  ag::Tensor x = leaf({1.f, 2.f});
  EXPECT_FALSE(x.grad().defined());
  ag::Tensor y = (x * x).sum();
  EXPECT_FALSE(x.grad().defined());  // the forward pass does not create it
  y.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(x.grad().dtype(), x.dtype());
  EXPECT_FALSE(x.grad().requires_grad());
}

TEST(Grad, AccumulatesAcrossBackwardCalls) {
  ag::Tensor x = leaf({1.f, 2.f, 3.f});
  (x * x).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 4, 6}));
  (x * x).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{4, 8, 12}));
  (x * 10.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{14, 18, 22}));
}

TEST(Grad, ZeroInPlace) {
  ag::Tensor x = leaf({1.f, 2.f});
  (x * x).sum().backward();
  ag::Tensor g = x.grad();
  x.grad().zero_();
  EXPECT_EQ(values(g), (std::vector<float>{0, 0}));  // the same buffer was reset
  (x * 3.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{3, 3}));
  EXPECT_EQ(x.grad().data_ptr<float>(), g.data_ptr<float>());  // accumulated into it in place
}

// ---- backward ------------------------------------------------------------------------------

TEST(Backward, OnScalar) {
  ag::Tensor x = leaf({3.f});
  ag::Tensor y = (x * x * x).sum();
  EXPECT_EQ(y.dim(), 0);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 27.f);
  // A one-element tensor that is not 0-dim also takes an implicit gradient, as in PyTorch.
  ag::Tensor z = leaf({2.f});
  (z * z).backward();
  EXPECT_FLOAT_EQ(z.grad().item<float>(), 4.f);
}

TEST(Backward, WithGradientForNonScalar) {
  ag::Tensor x = leaf({1.f, 2.f, 3.f});
  ag::Tensor y = x * x;
  y.backward(ag::ones_like(y));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 4, 6}));
  ag::Tensor w = leaf({1.f, 2.f, 3.f});
  (w * w).backward(ag::tensor({1.f, 0.f, -1.f}));
  EXPECT_EQ(values(w.grad()), (std::vector<float>{2, 0, -6}));
}

TEST(Backward, NonScalarWithoutGradientThrows) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = x * x;
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "grad can be implicitly created only for scalar outputs")) << msg;
  EXPECT_FALSE(x.grad().defined());
  y.sum().backward();  // the graph is still usable
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 4}));
}

TEST(Backward, RetainGraphAllowsSecondBackward) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor s = (x * x).sum();  // MulBackward0 saves x twice
  s.backward({}, true);
  s.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{4, 8}));
}

TEST(Backward, SecondBackwardWithoutRetainGraphThrows) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor s = (x * x).sum();
  s.backward();
  const std::string msg = error_of([&] { s.backward(); });
  EXPECT_TRUE(contains(msg, "retain_graph")) << msg;
  EXPECT_TRUE(contains(msg, "MulBackward0")) << msg;
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 4}));  // the failed pass left .grad() alone
}

TEST(Backward, DifferentiatingANonDifferentiableTensorThrows) {
  ag::Tensor x = ag::tensor({1.f, 2.f});
  EXPECT_THROW(x.sum().backward(), ag::Error);
}

// ---- detach ---------------------------------------------------------------------------------

TEST(Detach, SharesStorageNoHistory) {
  ag::Tensor x = leaf({1.f, 2.f, 3.f});
  ag::Tensor y = x * x;
  ag::Tensor u = y.detach();
  EXPECT_EQ(u.data_ptr<float>(), y.data_ptr<float>());
  EXPECT_FALSE(u.requires_grad());
  EXPECT_EQ(u.grad_fn(), nullptr);
  EXPECT_TRUE(u.is_leaf());
  // The d2l example: z = u * x treats u as a constant.
  ag::Tensor z = u * x;
  z.sum().backward();
  EXPECT_TRUE(ag::equal(x.grad(), u));
  x.grad().zero_();
  y.sum().backward();  // the original graph is untouched
  EXPECT_TRUE(ag::equal(x.grad(), 2.0 * x.detach()));
}

TEST(Detach, InPlaceDetach) {
  ag::Tensor x = leaf({2.f});
  ag::Tensor y = x * 3.0;
  y.detach_();
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FLOAT_EQ(y.item<float>(), 6.f);
}

// ---- retain_grad, grad_fn, is_leaf ------------------------------------------------------------

TEST(RetainGrad, NonLeaf) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = x * 2.0;
  ag::Tensor w = x * 3.0;  // not retained
  y.retain_grad();
  EXPECT_TRUE(y.retains_grad());
  ((y * y).sum() + w.sum()).backward();
  ASSERT_TRUE(y.grad().defined());
  EXPECT_EQ(values(y.grad()), (std::vector<float>{4, 8}));  // d(y²)/dy = 2y
  EXPECT_FALSE(w.grad().defined());
  EXPECT_EQ(values(x.grad()), (std::vector<float>{11, 19}));  // 2y * 2 + 3 = 8x + 3
  ((y * y).sum()).backward();
  EXPECT_EQ(values(y.grad()), (std::vector<float>{8, 16}));  // accumulates like a leaf's
}

TEST(GradFn, NamesAndLeaves) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor c = ag::tensor({3.f, 4.f});
  EXPECT_EQ(x.grad_fn(), nullptr);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(c.is_leaf());
  EXPECT_EQ((x * x).grad_fn()->name(), "MulBackward0");
  EXPECT_EQ((x * 2.0).grad_fn()->name(), "MulBackward0");
  EXPECT_EQ((2.0 * x).grad_fn()->name(), "MulBackward0");
  EXPECT_EQ((x + c).grad_fn()->name(), "AddBackward0");
  EXPECT_EQ((x + 1.0).grad_fn()->name(), "AddBackward0");
  EXPECT_EQ((x - c).grad_fn()->name(), "SubBackward0");
  EXPECT_EQ((1.0 - x).grad_fn()->name(), "RsubBackward1");
  EXPECT_EQ((x / c).grad_fn()->name(), "DivBackward0");
  EXPECT_EQ((-x).grad_fn()->name(), "NegBackward0");
  EXPECT_EQ(x.sum().grad_fn()->name(), "SumBackward0");
  EXPECT_EQ(x.mean().grad_fn()->name(), "MeanBackward0");
  EXPECT_EQ(ag::dot(x, c).grad_fn()->name(), "DotBackward0");
  EXPECT_EQ(x.exp().grad_fn()->name(), "ExpBackward0");
  EXPECT_EQ(x.sigmoid().grad_fn()->name(), "SigmoidBackward0");
  EXPECT_EQ(x.pow(2.0).grad_fn()->name(), "PowBackward0");
  EXPECT_EQ(x.reshape({2, 1}).grad_fn()->name(), "ViewBackward0");
  EXPECT_EQ(x.unsqueeze(0).grad_fn()->name(), "UnsqueezeBackward0");
  EXPECT_EQ(x.select(0, 1).grad_fn()->name(), "SelectBackward0");
  EXPECT_EQ(ag::mm(x.reshape({1, 2}), c.reshape({2, 1})).grad_fn()->name(), "MmBackward0");
  ag::Tensor y = x * x;
  EXPECT_FALSE(y.is_leaf());
  ASSERT_EQ(y.grad_fn()->next_edges().size(), 2u);
  // The edges of a node lead to the leaf's accumulator (never a grad_fn of the leaf).
  EXPECT_EQ(y.grad_fn()->next_edges()[0].function->name(), "AccumulateGrad");
  EXPECT_EQ(y.grad_fn()->next_edges()[0].function, y.grad_fn()->next_edges()[1].function);
  EXPECT_FALSE((x * c).grad_fn()->next_edges()[1].valid());  // c needs no gradient
}

TEST(GradMode, NoGradGuard) {
  ag::Tensor x = leaf({1.f, 2.f});
  EXPECT_TRUE(ag::GradMode::is_enabled());
  {
    ag::NoGradGuard ng;
    EXPECT_FALSE(ag::GradMode::is_enabled());
    ag::Tensor y = x * x;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_TRUE(y.is_leaf());
    {
      ag::NoGradGuard inner;
      EXPECT_FALSE(ag::GradMode::is_enabled());
    }
    EXPECT_FALSE(ag::GradMode::is_enabled());
    x.add_(1.0);  // an in-place update of a leaf is allowed without grad mode (optimizers)
    {
      ag::AutoGradMode on(true);
      EXPECT_TRUE((x * x).requires_grad());
    }
  }
  EXPECT_TRUE(ag::GradMode::is_enabled());
  EXPECT_EQ(values(x), (std::vector<float>{2, 3}));
  EXPECT_TRUE((x * x).requires_grad());
}

TEST(GradMode, RequiresGradPropagation) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor c = ag::tensor({3.f, 4.f});
  EXPECT_TRUE(x.requires_grad());
  EXPECT_FALSE(c.requires_grad());
  EXPECT_TRUE((x * c).requires_grad());
  EXPECT_TRUE((c + x).requires_grad());
  EXPECT_FALSE((c * c).requires_grad());
  EXPECT_EQ((c * c).grad_fn(), nullptr);
  EXPECT_TRUE(x.sum().requires_grad());
  EXPECT_TRUE(x.reshape({2, 1}).requires_grad());
  EXPECT_FALSE((x > c).requires_grad());  // comparisons are not differentiable
  EXPECT_FALSE(x.argmax().requires_grad());
  EXPECT_FALSE(x.to(ag::kInt64).requires_grad());
  EXPECT_TRUE(x.to(ag::kFloat64).requires_grad());
  ag::Tensor y = x * 2.0;
  EXPECT_THROW(y.requires_grad_(false), ag::Error);  // only leaves change the flag
  c.requires_grad_();
  EXPECT_TRUE(c.requires_grad());
  c.requires_grad_(false);
  EXPECT_FALSE(c.requires_grad());
}

// ---- ag::grad ---------------------------------------------------------------------------------

TEST(AgGrad, ReturnsWithoutTouchingGrad) {
  ag::Tensor x = leaf({1.f, 2.f, 3.f});
  ag::Tensor w = leaf({2.f});
  ag::Tensor y = (x * x * w).sum();
  ag::tensor_list g = ag::grad({y}, {x, w});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(values(g[0]), (std::vector<float>{4, 8, 12}));
  EXPECT_EQ(g[1].shape(), w.shape());
  EXPECT_FLOAT_EQ(g[1].item<float>(), 14.f);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  // With grad_outputs for a non-scalar output.
  ag::Tensor v = x * x;
  ag::tensor_list gv = ag::grad({v}, {x}, {ag::tensor({1.f, 1.f, 0.5f})});
  EXPECT_EQ(values(gv[0]), (std::vector<float>{2, 4, 3}));
  // With respect to a non-leaf.
  ag::Tensor a = x * 2.0;
  ag::Tensor b = (a * a).sum();
  EXPECT_EQ(values(ag::grad({b}, {a})[0]), (std::vector<float>{4, 8, 12}));
  EXPECT_FALSE(a.grad().defined());
}

TEST(AgGrad, AllowUnused) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor unused = leaf({5.f});
  {
    ag::Tensor y = (x * x).sum();
    const std::string msg = error_of([&] { ag::grad({y}, {x, unused}); });
    EXPECT_TRUE(contains(msg, "allow_unused")) << msg;
  }
  ag::Tensor y = (x * x).sum();
  ag::tensor_list g = ag::grad({y}, {x, unused}, {}, std::nullopt, false, /*allow_unused=*/true);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(values(g[0]), (std::vector<float>{2, 4}));
  EXPECT_FALSE(g[1].defined());
  EXPECT_FALSE(unused.grad().defined());
}

TEST(AgGrad, CreateGraphSecondDerivative) {
  ag::Tensor x = leaf({-1.f, 0.5f, 2.f});
  ag::Tensor y = (x * x * x).sum();
  ag::Tensor g = ag::grad({y}, {x}, {}, true, /*create_graph=*/true)[0];
  EXPECT_TRUE(g.requires_grad());
  EXPECT_TRUE(ag::allclose(g, 3.0 * x.detach() * x.detach()));
  ag::Tensor g2 = ag::grad({g.sum()}, {x})[0];
  EXPECT_TRUE(ag::allclose(g2, 6.0 * x.detach())) << g2;  // d²/dx² x³ = 6x
  // The same through pow and backward(create_graph=true).
  ag::Tensor z = leaf({2.f});
  ag::pow(z, 3.0).sum().backward({}, std::nullopt, /*create_graph=*/true);
  ag::Tensor dz = z.grad();
  EXPECT_FLOAT_EQ(dz.item<float>(), 12.f);
  ASSERT_TRUE(dz.requires_grad());
  ag::Tensor d2 = ag::grad({dz.sum()}, {z})[0];
  EXPECT_FLOAT_EQ(d2.item<float>(), 12.f);  // 6 * 2
  // z.grad's history leads to z's accumulator, which holds z weakly: no reference cycle
  // (PyTorch has one here, "backward with create_graph=True will create a reference
  // cycle"); the asan step's LeakSanitizer checks it.
  // Third order.
  ag::Tensor t = leaf({1.5f});
  ag::Tensor t1 = ag::grad({ag::pow(t, 4.0).sum()}, {t}, {}, true, true)[0];
  ag::Tensor t2 = ag::grad({t1.sum()}, {t}, {}, true, true)[0];
  ag::Tensor t3 = ag::grad({t2.sum()}, {t})[0];
  EXPECT_FLOAT_EQ(t3.item<float>(), 24.f * 1.5f);
}

// ---- custom functions ------------------------------------------------------------------------

TEST(CustomFunction, CubeForwardBackward) {
  ag::Tensor x = leaf({1.f, -2.f, 3.f});
  ag::Tensor y = Cube::apply(x);
  EXPECT_EQ(values(y), (std::vector<float>{1, -8, 27}));
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_TRUE(contains(y.grad_fn()->name(), "Cube")) << y.grad_fn()->name();
  y.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{3, 12, 27}));
  // No input requiring grad: no node.
  EXPECT_EQ(Cube::apply(ag::tensor({2.f})).grad_fn(), nullptr);
  // Composes with built-in ops and with itself.
  ag::Tensor z = leaf({2.f});
  Cube::apply(z * 2.0).sum().backward();
  EXPECT_FLOAT_EQ(z.grad().item<float>(), 3.f * 16.f * 2.f);
}

TEST(CustomFunction, SeveralInputsAndSavedData) {
  ag::Tensor x = leaf({2.f});
  ag::Tensor y = leaf({5.f});
  ag::Tensor out = ScaledMul::apply(x, y, 0.5);
  EXPECT_FLOAT_EQ(out.item<float>(), 5.f);
  out.sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 2.5f);
  EXPECT_FLOAT_EQ(y.grad().item<float>(), 1.f);
  // Only one input requires grad.
  ag::Tensor k = ag::tensor({3.f});
  ScaledMul::apply(x, k, 2.0).sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 2.5f + 6.f);
}

TEST(CustomFunction, WrongNumberOfGradientsThrows) {
  ag::Tensor x = leaf({1.f});
  ag::Tensor y = TooManyGrads::apply(x);
  const std::string msg = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "incorrect number of gradients")) << msg;
  EXPECT_FALSE(x.grad().defined());
}

TEST(CustomFunction, SavedVariablesFreedAfterBackward) {
  ag::Tensor x = leaf({2.f});
  ag::Tensor y = Cube::apply(x).sum();
  y.backward({}, true);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 24.f);
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "retain_graph")) << msg;
}

TEST(CustomFunction, NamespacedNameIsReadable) {
  ag::Tensor x = leaf({3.f});
  ag::Tensor y = custom_ns::Square::apply(x);
  y.sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 6.f);
  const std::string name = y.grad_fn()->name();
  EXPECT_TRUE(contains(name, "Square")) << name;
  EXPECT_FALSE(contains(name, "N9custom_ns")) << "mangled node name: " << name;
}

// ---- version counters and in-place ------------------------------------------------------------

TEST(Version, InPlaceOnSavedNonLeafThrowsNamingTheNode) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor a = x * 2.0;
  ag::Tensor b = a * a;  // MulBackward0 saves a
  const uint32_t v = a._version();
  a.add_(1.0);
  EXPECT_GT(a._version(), v);
  const std::string msg = error_of([&] { b.sum().backward(); });
  EXPECT_TRUE(contains(msg, "modified by an inplace operation")) << msg;
  EXPECT_TRUE(contains(msg, "MulBackward0")) << msg;
}

TEST(Version, InPlaceOnSavedOutputThrows) {
  ag::Tensor x = leaf({0.f, 1.f});
  ag::Tensor y = x.sigmoid();  // SigmoidBackward0 saves its output
  y.mul_(2.0);
  const std::string msg = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "SigmoidBackward0")) << msg;
}

TEST(Version, InPlaceOnUnsavedNonLeafIsRecorded) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor a = x * 2.0;  // MulBackward0 with a scalar saves nothing
  a.mul_(3.0);
  a.add_(x);
  EXPECT_EQ(values(a), (std::vector<float>{7, 14}));
  a.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{7, 7}));
}

TEST(Version, InPlaceOnLeafRequiringGradThrows) {
  ag::Tensor x = leaf({1.f, 2.f});
  const std::string msg = error_of([&] { x.add_(1.0); });
  EXPECT_TRUE(contains(msg, "leaf")) << msg;
  EXPECT_THROW(x.mul_(2.0), ag::Error);
  EXPECT_THROW(x.zero_(), ag::Error);
  EXPECT_EQ(values(x), (std::vector<float>{1, 2}));
  {
    ag::NoGradGuard ng;
    x.mul_(2.0);
  }
  EXPECT_EQ(values(x), (std::vector<float>{2, 4}));
}

TEST(Version, CountsWrites) {
  ag::Tensor t = ag::zeros({3});
  const uint32_t v0 = t._version();
  t.add_(1.0);
  t.mul_(2.0);
  t.fill_(3.0);
  t.copy_(ag::ones({3}));
  EXPECT_EQ(t._version(), v0 + 4);
  ag::Tensor u = t + 1.0;
  EXPECT_EQ(t._version(), v0 + 4);  // out-of-place ops do not bump it
  EXPECT_EQ(u._version(), 0u);
}

// ---- hooks --------------------------------------------------------------------------------

TEST(Hooks, LeafHookDoublesGradient) {
  ag::Tensor x = leaf({1.f, 2.f});
  x.register_hook([](const ag::Tensor& g) { return g * 2.0; });
  (x * 3.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{6, 6}));
}

TEST(Hooks, NonLeafHookDoublesGradient) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = x * 3.0;
  ag::Tensor seen;
  y.register_hook([&seen](const ag::Tensor& g) { seen = g.clone(); });  // inspects only
  y.register_hook([](const ag::Tensor& g) { return g * 2.0; });
  (y * y).sum().backward();  // dL/dy = 2y = [6, 12]
  ASSERT_TRUE(seen.defined());
  EXPECT_EQ(values(seen), (std::vector<float>{6, 12}));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{36, 72}));  // 2 * 2y * 3
}

TEST(Hooks, RequiresGrad) {
  ag::Tensor c = ag::tensor({1.f});
  EXPECT_THROW(c.register_hook([](const ag::Tensor& g) { return g; }), ag::Error);
}

// ---- dynamic control flow ---------------------------------------------------------------------

namespace {
// d2l's example: the graph depends on the data.
ag::Tensor f(const ag::Tensor& a) {
  ag::Tensor b = a * 2.0;
  while (b.norm().item<float>() < 1000.f) b = b * 2.0;
  ag::Tensor c = b.sum().item<float>() > 0 ? b : 100.0 * b;
  return c;
}
}  // namespace

TEST(ControlFlow, ScalarGradIsDOverA) {
  ag::manual_seed(7);
  for (int trial = 0; trial < 4; ++trial) {
    ag::Tensor a = ag::randn({});
    a.requires_grad_();
    ag::Tensor d = f(a);
    d.backward();
    EXPECT_TRUE(ag::allclose(a.grad(), d.detach() / a.detach(), 1e-5, 1e-6))
        << "a=" << a << " grad=" << a.grad() << " d/a=" << d.detach() / a.detach();
  }
}

TEST(ControlFlow, MatrixGradIsDOverA) {
  ag::manual_seed(8);
  for (int trial = 0; trial < 4; ++trial) {
    ag::Tensor a = ag::randn({2, 3});
    a.requires_grad_();
    ag::Tensor d = f(a);
    d.sum().backward();
    EXPECT_EQ(a.grad().shape(), (Dims{2, 3}));
    EXPECT_TRUE(ag::allclose(a.grad(), d.detach() / a.detach(), 1e-5, 1e-6));
  }
}

// ---- the seed examples ---------------------------------------------------------------------

TEST(Seed, TwoXDotX) {
  ag::Tensor x = ag::arange(4.0);
  x.requires_grad_();
  ag::Tensor y = 2.0 * ag::dot(x, x);
  EXPECT_FLOAT_EQ(y.item<float>(), 28.f);
  y.backward();
  EXPECT_TRUE(ag::equal(x.grad(), 4.0 * x.detach()));
  EXPECT_EQ(values(x.grad()), (std::vector<float>{0, 4, 8, 12}));
}

TEST(Seed, LnSinTrace) {
  ag::Tensor x1 = ag::tensor({2.0}, ag::TensorOptions().requires_grad(true));
  ag::Tensor x2 = ag::tensor({5.0}, ag::TensorOptions().requires_grad(true));
  ag::Tensor f = ag::log(x1) + x1 * x2 - ag::sin(x2);
  EXPECT_NEAR(f.item<double>(), 11.652, 5e-4);
  f.backward();
  EXPECT_NEAR(x1.grad().item<double>(), 5.5, 1e-12);
  EXPECT_NEAR(x2.grad().item<double>(), 1.716, 5e-4);
  EXPECT_NEAR(x2.grad().item<double>(), 2.0 - std::cos(5.0), 1e-12);
}

// ---- graph shapes -----------------------------------------------------------------------------

TEST(Graph, FanInHundredUses) {
  ag::Tensor x = leaf({1.f, -2.f, 0.5f});
  ag::Tensor total;
  for (int i = 1; i <= 100; ++i) {
    ag::Tensor t = x * static_cast<double>(i);
    total = total.defined() ? total + t : t;
  }
  total.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{5050, 5050, 5050}));
  // The same leaf as both operands of many products.
  ag::Tensor z = leaf({3.f});
  ag::Tensor acc = ag::zeros({1});
  for (int i = 0; i < 100; ++i) acc = acc + z * z;
  acc.sum().backward();
  EXPECT_FLOAT_EQ(z.grad().item<float>(), 600.f);
}

TEST(Graph, LongChainNoStackOverflow) {
  const int64_t before = ag::live_node_count();
  ag::Tensor x = leaf({1.f});
  {
    ag::Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = (i % 2) ? y + 1.0 : y * 1.0;
    EXPECT_GE(ag::live_node_count(), before + 100000);
    EXPECT_FLOAT_EQ(y.item<float>(), 1.f + 50000.f);
    y.sum().backward();
    EXPECT_FLOAT_EQ(x.grad().item<float>(), 1.f);
  }
  EXPECT_EQ(ag::live_node_count(), before);
  // Destroyed without running backward too.
  {
    ag::Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * 1.0;
  }
  EXPECT_EQ(ag::live_node_count(), before);
}

TEST(Graph, NodesReleasedWhenTensorsDie) {
  const int64_t before = ag::live_node_count();
  {
    ag::Tensor x = leaf({1.f, 2.f});
    ag::Tensor y = (x.sigmoid() * x).exp().sum();
    EXPECT_GT(ag::live_node_count(), before);
    y.backward({}, true);
    ag::Tensor g = ag::grad({(x * x * x).sum()}, {x}, {}, true, true)[0];
    ag::grad({g.sum()}, {x});
  }
  EXPECT_EQ(ag::live_node_count(), before);
  {
    ag::Tensor x = leaf({1.f});
    Cube::apply(x).sum().backward();
    ag::Tensor y = Cube::apply(x);  // never backpropagated
  }
  EXPECT_EQ(ag::live_node_count(), before);
}

TEST(Graph, SharedSubgraphAndViews) {
  ag::Tensor x = leaf({1.f, 2.f, 3.f, 4.f});
  ag::Tensor m = x.reshape({2, 2});
  ag::Tensor s = m.t().select(0, 1) * m.select(1, 0);  // [x1*x0, x3*x2]
  ag::Tensor loss = s.sum() + x.slice(0, 1, 3).sum();
  loss.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 2, 5, 3}));
}

// ---- more PyTorch semantics ---------------------------------------------------------------------

TEST(Backward, OnALeafItself) {
  ag::Tensor x = ag::scalar_tensor(3.0).requires_grad_(true);
  x.backward();
  EXPECT_EQ(x.grad().item<float>(), 1.f);
  ag::tensor_list g = ag::grad({x}, {x});
  EXPECT_EQ(g[0].item<float>(), 1.f);
}

TEST(Backward, GradientOfOtherDtypeIsConverted) {
  ag::Tensor x = leaf({1.f, 2.f});
  (x * x).backward(ag::tensor({1.0, 1.0}));
  EXPECT_EQ(x.grad().dtype(), ag::kFloat32);
  EXPECT_EQ(values(x.grad()), (std::vector<float>{2, 4}));
}

TEST(Backward, BroadcastGradientsHaveInputShapes) {
  ag::Tensor a = ag::ones({3, 1}, ag::TensorOptions().requires_grad(true));
  ag::Tensor b = ag::tensor({1.f, 2.f, 3.f, 4.f}, ag::TensorOptions().requires_grad(true));
  ag::Tensor s = ag::scalar_tensor(2.0).requires_grad_(true);
  ((a * b) * s).sum().backward();
  EXPECT_EQ(a.grad().shape(), (Dims{3, 1}));
  EXPECT_EQ(values(a.grad()), (std::vector<float>{20, 20, 20}));  // s * sum(b)
  EXPECT_EQ(b.grad().shape(), (Dims{4}));
  EXPECT_EQ(values(b.grad()), (std::vector<float>{6, 6, 6, 6}));  // s * sum(a)
  EXPECT_EQ(s.grad().dim(), 0);
  EXPECT_FLOAT_EQ(s.grad().item<float>(), 30.f);  // sum(a * b)
}

TEST(Backward, DtypeConversionInGraph) {
  ag::Tensor x = leaf({1.f, 2.f});
  (x.to(ag::kFloat64) * 3.0).sum().backward();
  EXPECT_EQ(x.grad().dtype(), ag::kFloat32);
  EXPECT_EQ(values(x.grad()), (std::vector<float>{3, 3}));
}

TEST(Backward, CreateGraphThenBackwardAccumulatesIntoGrad) {
  // As in PyTorch: x.grad (with history) = 3x²; backward of its sum adds 6x to it.
  ag::Tensor x = leaf({2.f});
  (x * x * x).sum().backward({}, std::nullopt, true);
  ASSERT_TRUE(x.grad().requires_grad());
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 12.f);
  x.grad().sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 24.f);
}

TEST(Detach, InPlaceOnDetachedSavedTensorIsDetected) {
  ag::Tensor x = leaf({0.f, 1.f});
  ag::Tensor y = x.sigmoid();
  ag::Tensor u = y.detach();
  u.add_(1.0);  // shares storage and version counter with y
  EXPECT_EQ(y._version(), u._version());
  const std::string msg = error_of([&] { y.sum().backward(); });
  EXPECT_TRUE(contains(msg, "SigmoidBackward0")) << msg;
}

TEST(Detach, DetachedTensorCanBecomeANewLeaf) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = x * 3.0;
  ag::Tensor u = y.detach().requires_grad_();
  (u * u).sum().backward();
  EXPECT_EQ(values(u.grad()), (std::vector<float>{6, 12}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Version, InPlaceOnSavedLeafUnderNoGradIsDetected) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = (x * x).sum();
  {
    ag::NoGradGuard ng;
    x.mul_(2.0);
  }
  const std::string msg = error_of([&] { y.backward(); });
  EXPECT_TRUE(contains(msg, "MulBackward0")) << msg;
}

TEST(Version, FailedBackwardLeaksNothing) {
  const int64_t before = ag::live_node_count();
  {
    ag::Tensor x = leaf({1.f, 2.f});
    ag::Tensor a = x * 2.0;
    ag::Tensor b = (a * a).exp().sum();
    a.add_(1.0);
    EXPECT_THROW(b.backward(), ag::Error);
  }
  EXPECT_EQ(ag::live_node_count(), before);
}

TEST(Hooks, LeafHookSeesTheSummedGradientOnce) {
  ag::Tensor x = leaf({1.f});
  int calls = 0;
  float seen = 0;
  x.register_hook([&](const ag::Tensor& g) {
    ++calls;
    seen = g.item<float>();
  });
  (x * 2.0 + x * 3.0 + x).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_FLOAT_EQ(seen, 6.f);
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 6.f);
}

TEST(Hooks, NonLeafHookOnFanOutSeesTheSum) {
  ag::Tensor x = leaf({1.f});
  ag::Tensor y = x * 1.0;
  int calls = 0;
  y.register_hook([&](const ag::Tensor&) { ++calls; });
  (y * 2.0 + y * 5.0).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 7.f);
}

TEST(Hooks, ThrowingHookSurfacesAsError) {
  ag::Tensor x = leaf({1.f});
  x.register_hook([](const ag::Tensor& g) -> ag::Tensor { ag::fail("hook: refused a gradient of shape ", ag::shape_str(g.shape())); });
  const std::string msg = error_of([&] { (x * 2.0).sum().backward(); });
  EXPECT_TRUE(contains(msg, "hook: refused")) << msg;
  EXPECT_FALSE(x.grad().defined());
}

TEST(GradMode, IsThreadLocal) {
  ag::NoGradGuard ng;
  bool other = false;
  std::thread t([&] { other = ag::GradMode::is_enabled(); });
  t.join();
  EXPECT_TRUE(other);
  EXPECT_FALSE(ag::GradMode::is_enabled());
}

TEST(AgGrad, NonLeafOutputIsInput) {
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor a = x * 2.0;
  ag::tensor_list g = ag::grad({a}, {a}, {ag::tensor({3.f, 4.f})});
  EXPECT_EQ(values(g[0]), (std::vector<float>{3, 4}));
}

TEST(AgGrad, SetGrad) {
  ag::Tensor x = leaf({1.f, 2.f});
  x.set_grad(ag::ones({2}));
  (x * 2.0).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{3, 3}));
  x.set_grad(ag::Tensor());
  EXPECT_FALSE(x.grad().defined());
  EXPECT_THROW(x.set_grad(ag::ones({3})), ag::Error);
  EXPECT_THROW(x.set_grad(ag::ones({2}, ag::kFloat64)), ag::Error);
}

// Returns its input unchanged (an identity whose output is the input handle).
struct Identity : ag::Function<Identity> {
  static ag::Tensor forward(ag::AutogradContext*, const ag::Tensor& x) { return x; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list grads) { return {grads[0] * 5.0}; }
};

// Two outputs: x * 2 and x * 3.
struct Split : ag::Function<Split> {
  static ag::tensor_list forward(ag::AutogradContext*, const ag::Tensor& x) { return {x * 2.0, x * 3.0}; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list grads) {
    return {grads[0] * 2.0 + grads[1] * 3.0};
  }
};

TEST(CustomFunction, OutputThatIsTheInputKeepsTheInputALeaf) {
  ag::Tensor x = leaf({1.f});
  ag::Tensor y = Identity::apply(x);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  y.sum().backward();
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 5.f);
}

TEST(CustomFunction, SeveralOutputsUnusedOneIsZero) {
  ag::Tensor x = leaf({1.f});
  ag::tensor_list outs = Split::apply(x);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].grad_fn(), outs[1].grad_fn());
  EXPECT_EQ(outs[1].output_nr(), 1u);
  outs[1].sum().backward();  // outs[0] gets no gradient: it is a zero for backward
  EXPECT_FLOAT_EQ(x.grad().item<float>(), 3.f);
}

TEST(GradFn, PyTorchNamesForReductionsAndLayouts) {
  ag::Tensor x = ag::ones({2, 2}, ag::TensorOptions().requires_grad(true));
  EXPECT_EQ(x.sum(0).grad_fn()->name(), "SumBackward1");
  EXPECT_EQ(x.mean(0).grad_fn()->name(), "MeanBackward1");
  EXPECT_EQ(x.transpose(0, 1).grad_fn()->name(), "TransposeBackward0");
  EXPECT_EQ(x.t().grad_fn()->name(), "TBackward0");
  EXPECT_EQ(ag::stack({x, x}).grad_fn()->name(), "StackBackward0");
  EXPECT_EQ((2.0 / x).grad_fn()->name(), "MulBackward0");
}

TEST(Detach, RecordedInPlaceOnADetachedTensor) {
  // detach() is not a view for autograd: a recorded in-place op on it is allowed and
  // leaves the original's history alone, as in PyTorch.
  ag::Tensor x = leaf({1.f, 2.f});
  ag::Tensor y = x * 3.0;
  ag::Tensor t = y.detach();
  t.add_(x);
  ASSERT_NE(t.grad_fn(), nullptr);
  EXPECT_EQ(t.grad_fn()->name(), "AddBackward0");
  EXPECT_EQ(values(y), (std::vector<float>{4, 8}));  // the storage is shared
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward0");
  t.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<float>{1, 1}));
}
