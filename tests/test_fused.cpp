// The fused ops of ag/layer_ops.hpp: softmax cross-entropy in one node and linear
// (+ bias, + activation) in one GEMM call. Each is checked against the unfused composition
// (values and gradients), against finite differences in float64 (first and second order),
// and for the graph it leaves behind (node names and edges, as the composition's).
// The kernels themselves are compared with their scalar twins in test_kernels.cpp.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <ag/layer_ops.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "test_util.hpp"

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;
using ag::tensor_list;
using ag::layer_ops::Activation;
using ag::layer_ops::LossReduction;

namespace {

ag::TensorOptions f64() { return ag::TensorOptions(ag::kFloat64); }

bool bits_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.unsafeGetTensorImpl()->raw_data(), y.unsafeGetTensorImpl()->raw_data(),
                     static_cast<size_t>(x.numel()) * ag::element_size(x.dtype())) == 0;
}

const LossReduction kReductions[] = {LossReduction::Mean, LossReduction::Sum, LossReduction::None};

// The unfused composition: nll(log_softmax) written with public ops only.
Tensor composed_ce(const Tensor& x, const Tensor& y, LossReduction r) {
  const int64_t n = x.size(0), c = x.size(1);
  Tensor onehot = ag::zeros({n, c}, ag::TensorOptions(x.dtype()));
  for (int64_t i = 0; i < n; ++i) onehot.select(0, i).select(0, y.data_ptr<int64_t>()[i]).fill_(1.0);
  Tensor losses = -(ag::log_softmax(x, 1) * onehot).sum(1);
  if (r == LossReduction::Mean) return losses.mean();
  if (r == LossReduction::Sum) return losses.sum();
  return losses;
}

const Activation kActs[] = {Activation::None, Activation::Sigmoid, Activation::Tanh, Activation::Relu};
const char* act_node(Activation a) {
  switch (a) {
    case Activation::Sigmoid: return "SigmoidBackward0";
    case Activation::Tanh: return "TanhBackward0";
    case Activation::Relu: return "ReluBackward0";
    case Activation::None: break;
  }
  return "";
}
Tensor composed_linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation a) {
  Tensor h = ag::mm(x, w.t());
  if (b.defined()) h = h + b;
  switch (a) {
    case Activation::Sigmoid: return ag::sigmoid(h);
    case Activation::Tanh: return ag::tanh(h);
    case Activation::Relu: return ag::relu(h);
    case Activation::None: break;
  }
  return h;
}

}  // namespace

// ---- cross_entropy ---------------------------------------------------------------------------

TEST(FusedCrossEntropy, MatchesCompositionInValuesAndGradients) {
  ag::manual_seed(1);
  for (ag::Dtype dt : {ag::kFloat32, ag::kFloat64}) {
    const double tol = dt == ag::kFloat32 ? 1e-5 : 1e-12;
    for (int64_t c : {1, 3, 10, 16, 17, 40}) {
      const int64_t n = 7;
      Tensor x0 = ag::randn({n, c}, ag::TensorOptions(dt)) * 3.0;
      std::vector<int64_t> lv(n);
      for (int64_t i = 0; i < n; ++i) lv[i] = (i * 5 + 1) % c;
      Tensor y = labels(lv);
      for (LossReduction r : kReductions) {
        SCOPED_TRACE(::testing::Message() << "C=" << c << " reduction=" << static_cast<int>(r) << " "
                                          << ag::dtype_name(dt));
        Tensor xa = leaf(x0), xb = leaf(x0);
        Tensor la = ag::layer_ops::cross_entropy(xa, y, r), lb = composed_ce(xb, y, r);
        ASSERT_EQ(la.shape(), lb.shape());
        EXPECT_TRUE(ag::allclose(la, lb, tol, tol));
        EXPECT_EQ(la.grad_fn()->name(), "CrossEntropyLossBackward0");
        // A non-uniform upstream gradient for `none`.
        Tensor g = r == LossReduction::None ? ag::arange(1.0, static_cast<double>(n) + 1.0, 1.0).to(dt) : Tensor();
        la.backward(g);
        lb.backward(g);
        EXPECT_TRUE(ag::allclose(xa.grad(), xb.grad(), tol, tol));
      }
    }
  }
}

TEST(FusedCrossEntropy, GradcheckAndGradgradcheckAllReductions) {
  ag::manual_seed(2);
  Tensor x = leaf(ag::randn({6, 5}, f64()));
  Tensor y = labels({4, 0, 2, 2, 1, 3});
  for (LossReduction r : kReductions) {
    auto f = [&](const tensor_list& in) { return ag::layer_ops::cross_entropy(in[0], y, r); };
    EXPECT_TRUE(ag::gradcheck(f, {x})) << static_cast<int>(r);
    EXPECT_TRUE(ag::gradgradcheck(f, {x})) << static_cast<int>(r);
  }
  // Through the public face, unbatched and batched.
  for (nn::Reduction r : {nn::kMean, nn::kSum, nn::kNone}) {
    EXPECT_TRUE(ag::gradcheck([&](const tensor_list& in) { return F::cross_entropy(in[0], y, r); }, {x}));
    EXPECT_TRUE(ag::gradgradcheck([&](const tensor_list& in) { return F::cross_entropy(in[0], y, r); }, {x}));
    Tensor y0 = ag::tensor(std::vector<int64_t>{3}, ag::Shape{}, ag::TensorOptions(ag::kInt64));
    EXPECT_TRUE(ag::gradcheck([&](const tensor_list& in) { return F::cross_entropy(in[0][1], y0, r); }, {x}));
  }
}

TEST(FusedCrossEntropy, OneNodeInTheGraphAndCreateGraph) {
  Tensor x = leaf(ag::tensor({1.0, 2.0, 3.0, 1.0, -1.0, 0.5}, f64()).reshape({2, 3}));
  Tensor loss = F::cross_entropy(x, labels({2, 0}));
  ASSERT_NE(loss.grad_fn(), nullptr);
  EXPECT_EQ(loss.grad_fn()->name(), "CrossEntropyLossBackward0");
  ASSERT_EQ(loss.grad_fn()->next_edges().size(), 1u);
  EXPECT_EQ(loss.grad_fn()->next_edges()[0].function->name(), "AccumulateGrad");
  // Hand values: d/dx = (softmax - onehot) / N.
  Tensor g = ag::grad({loss}, {x}, {}, true, true)[0];
  const double z0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const Tensor gc = g.detach().contiguous();
  EXPECT_NEAR(gc.data_ptr<double>()[0], std::exp(1.0) / z0 / 2, 1e-14);
  EXPECT_NEAR(gc.data_ptr<double>()[2], (std::exp(3.0) / z0 - 1) / 2, 1e-14);
  // create_graph: the gradient is differentiable; sum of (softmax - onehot) over a row is
  // 0 whatever x, so d/dx of g.sum() is 0, and of (g * g).sum() it is not.
  ASSERT_TRUE(g.requires_grad());
  Tensor gg = ag::grad({g.sum()}, {x}, {}, true)[0];
  for (int64_t i = 0; i < 6; ++i) EXPECT_NEAR(gg.contiguous().data_ptr<double>()[i], 0.0, 1e-15);
  Tensor gg2 = ag::grad({(g * g).sum()}, {x})[0];
  double norm = 0;
  for (int64_t i = 0; i < 6; ++i) norm += std::fabs(gg2.contiguous().data_ptr<double>()[i]);
  EXPECT_GT(norm, 1e-3);
}

TEST(FusedCrossEntropy, NoGraphWithoutGradAndEdgeCases) {
  Tensor x = ag::randn({3, 4});
  Tensor l = F::cross_entropy(x, labels({0, 1, 3}));
  EXPECT_EQ(l.grad_fn(), nullptr);
  {
    Tensor xg = leaf(x);
    ag::NoGradGuard ng;
    EXPECT_EQ(F::cross_entropy(xg, labels({0, 1, 3})).grad_fn(), nullptr);
  }
  // Empty batch: none is empty, sum is 0, mean is NaN (0/0), as in PyTorch.
  Tensor e = leaf(ag::zeros({0, 4}));
  EXPECT_EQ(F::cross_entropy(e, labels({}), nn::kNone).numel(), 0);
  EXPECT_EQ(F::cross_entropy(e, labels({}), nn::kSum).item<float>(), 0.0f);
  EXPECT_TRUE(std::isnan(F::cross_entropy(e, labels({}), nn::kMean).item<float>()));
  F::cross_entropy(e, labels({}), nn::kSum).backward();
  EXPECT_EQ(e.grad().shape(), (ag::Shape{0, 4}));
  // Misuse of the internal op is an ag::Error too.
  EXPECT_NE(error_of([&] { ag::layer_ops::cross_entropy(x, labels({0, 4, 1}), LossReduction::Mean); }).find("out of bounds"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ag::layer_ops::cross_entropy(x, labels({0, 1}), LossReduction::Mean); }), "");
  EXPECT_NE(error_of([&] { ag::layer_ops::cross_entropy(x.reshape({12}), labels({0}), LossReduction::Mean); }), "");
  // In-place change of the logits after the forward is caught at backward.
  Tensor xl = leaf(x);
  Tensor y = xl * 1.0;
  Tensor loss = F::cross_entropy(y, labels({0, 1, 3}));
  {
    ag::NoGradGuard ng;
    y.add_(1.0);
  }
  EXPECT_NE(error_of([&] { loss.backward(); }), "");
}

TEST(FusedCrossEntropy, NonContiguousLogits) {
  ag::manual_seed(3);
  Tensor base = leaf(ag::randn({5, 4}, f64()));
  Tensor y = labels({1, 0, 3, 2});
  auto f = [&](const tensor_list& in) { return F::cross_entropy(in[0].t(), y); };  // [4, 5] strided
  EXPECT_TRUE(ag::gradcheck(f, {base}));
  EXPECT_TRUE(ag::allclose(f({base}), composed_ce(base.t().contiguous(), y, LossReduction::Mean), 1e-12, 1e-12));
}

// ---- linear -------------------------------------------------------------------------------

TEST(FusedLinear, MatchesCompositionAllActivations) {
  ag::manual_seed(4);
  for (ag::Dtype dt : {ag::kFloat32, ag::kFloat64}) {
    const double tol = dt == ag::kFloat32 ? 2e-5 : 1e-12;
    const ag::TensorOptions o(dt);
    for (auto [m, k, n] : {std::tuple{5, 3, 4}, std::tuple{33, 70, 19}, std::tuple{1, 1, 1}, std::tuple{64, 128, 10}}) {
      Tensor x0 = ag::randn({m, k}, o), w0 = ag::randn({n, k}, o), b0 = ag::randn({n}, o);
      for (Activation a : kActs) {
        for (bool with_bias : {true, false}) {
          SCOPED_TRACE(::testing::Message() << m << "x" << k << "x" << n << " act " << static_cast<int>(a)
                                            << (with_bias ? " bias " : " nobias ") << ag::dtype_name(dt));
          Tensor xa = leaf(x0), wa = leaf(w0), ba = with_bias ? leaf(b0) : Tensor();
          Tensor xb = leaf(x0), wb = leaf(w0), bb = with_bias ? leaf(b0) : Tensor();
          Tensor ya = ag::layer_ops::linear(xa, wa, ba, a), yb = composed_linear(xb, wb, bb, a);
          EXPECT_TRUE(ag::allclose(ya, yb, tol, tol));
          Tensor g = ag::randn({m, n}, o);
          ya.backward(g);
          yb.backward(g);
          EXPECT_TRUE(ag::allclose(xa.grad(), xb.grad(), tol, tol));
          EXPECT_TRUE(ag::allclose(wa.grad(), wb.grad(), tol, tol));
          if (with_bias) EXPECT_TRUE(ag::allclose(ba.grad(), bb.grad(), tol, tol));
        }
      }
    }
  }
}

TEST(FusedLinear, GradcheckAndGradgradcheck) {
  ag::manual_seed(5);
  Tensor x = leaf(ag::randn({4, 3}, f64())), w = leaf(ag::randn({5, 3}, f64())), b = leaf(ag::randn({5}, f64()));
  for (Activation a : kActs) {
    SCOPED_TRACE(static_cast<int>(a));
    // relu: keep the pre-activations away from the kink at 0.
    if (a == Activation::Relu) {
      ag::NoGradGuard ng;
      Tensor h = ag::mm(x, w.t()) + b;
      const double* ph = h.contiguous().data_ptr<double>();
      for (int64_t i = 0; i < h.numel(); ++i) ASSERT_GT(std::fabs(ph[i]), 1e-3);
    }
    auto f = [a](const tensor_list& in) { return ag::layer_ops::linear(in[0], in[1], in[2], a); };
    EXPECT_TRUE(ag::gradcheck(f, {x, w, b}));
    EXPECT_TRUE(ag::gradgradcheck(f, {x, w, b}));
    auto fn = [a](const tensor_list& in) { return ag::layer_ops::linear(in[0], in[1], Tensor(), a); };
    EXPECT_TRUE(ag::gradcheck(fn, {x, w}));
    EXPECT_TRUE(ag::gradgradcheck(fn, {x, w}));
  }
  // Through F::linear, 1-D, 2-D and 3-D inputs.
  Tensor x3 = leaf(ag::randn({2, 2, 3}, f64()));
  EXPECT_TRUE(ag::gradcheck([](const tensor_list& in) { return F::linear(in[0], in[1], in[2]); }, {x3, w, b}));
  EXPECT_TRUE(ag::gradcheck([](const tensor_list& in) { return F::linear(in[0][0][1], in[1], in[2]); }, {x3, w, b}));
}

TEST(FusedLinear, StridedOperandsAndEmptyShapes) {
  ag::manual_seed(6);
  // x transposed, weight transposed, a broadcast (stride-0) input and a non-contiguous bias.
  Tensor xt = ag::randn({3, 6}, f64()).t(), wt = ag::randn({3, 4}, f64()).t(), bs = ag::randn({8}, f64()).slice(0, 0, 8, 2);
  Tensor want = ag::mm(xt.contiguous(), wt.contiguous().t()) + bs.contiguous();
  EXPECT_TRUE(ag::allclose(ag::layer_ops::linear(xt, wt, bs), want, 1e-12, 1e-12));
  Tensor xe = ag::randn({1, 3}, f64()).expand({6, 3});
  EXPECT_TRUE(ag::allclose(ag::layer_ops::linear(xe, wt, bs, Activation::Tanh),
                           ag::tanh(ag::mm(xe.contiguous(), wt.contiguous().t()) + bs.contiguous()), 1e-12, 1e-12));
  // Gradients through transposed operands (the backward GEMMs read them in place).
  Tensor xl = leaf(ag::randn({3, 6}, f64())), wl = leaf(ag::randn({3, 4}, f64())), bl = leaf(ag::randn({4}, f64()));
  EXPECT_TRUE(ag::gradcheck(
      [](const tensor_list& in) { return ag::layer_ops::linear(in[0].t(), in[1].t(), in[2], Activation::Sigmoid); },
      {xl, wl, bl}));
  // K = 0: act(bias) in every row; M = 0 and N = 0: empty results.
  Tensor b = ag::tensor({-1.0, 0.5}, f64());
  Tensor y0 = ag::layer_ops::linear(ag::zeros({3, 0}, f64()), ag::zeros({2, 0}, f64()), b, Activation::Sigmoid);
  EXPECT_TRUE(ag::allclose(y0, ag::sigmoid(b).unsqueeze(0).expand({3, 2}), 1e-15, 1e-15));
  EXPECT_TRUE(ag::equal(ag::layer_ops::linear(ag::ones({2, 0}), ag::ones({3, 0})), ag::zeros({2, 3})));
  EXPECT_EQ(ag::layer_ops::linear(ag::ones({0, 4}), ag::ones({3, 4})).shape(), (ag::Shape{0, 3}));
  EXPECT_EQ(ag::layer_ops::linear(ag::ones({2, 4}), ag::ones({0, 4})).shape(), (ag::Shape{2, 0}));
  // Misuse.
  EXPECT_NE(error_of([] { ag::layer_ops::linear(ag::ones({2, 4}), ag::ones({3, 5})); }), "");
  EXPECT_NE(error_of([] { ag::layer_ops::linear(ag::ones({2, 4}), ag::ones({3, 4}), ag::ones({2})); }), "");
  EXPECT_NE(error_of([] { ag::layer_ops::linear(ag::ones({2, 4}), ag::ones({3, 4}, f64())); }), "");
  EXPECT_NE(error_of([] { ag::layer_ops::linear(ag::ones({4}), ag::ones({3, 4})); }), "");
}

TEST(FusedLinear, GraphIsTheCompositions) {
  Tensor x = leaf(ag::randn({2, 3})), w = leaf(ag::randn({4, 3})), b = leaf(ag::randn({4}));
  // PyTorch's names: linear with bias is AddmmBackward0 (edges bias, x, weight), without MmBackward0.
  Tensor y = ag::layer_ops::linear(x, w, b);
  EXPECT_EQ(y.grad_fn()->name(), "AddmmBackward0");
  EXPECT_EQ(y.grad_fn()->next_edges().size(), 3u);
  EXPECT_EQ(ag::layer_ops::linear(x, w, Tensor()).grad_fn()->name(), "MmBackward0");
  EXPECT_EQ(F::linear(x, w, b).grad_fn()->name(), "AddmmBackward0");
  EXPECT_EQ(F::linear(x, w).grad_fn()->name(), "MmBackward0");
  // With an activation: the activation's node, then linear's, as if composed.
  for (Activation a : {Activation::Sigmoid, Activation::Tanh, Activation::Relu}) {
    Tensor z = ag::layer_ops::linear(x, w, b, a);
    ASSERT_NE(z.grad_fn(), nullptr);
    EXPECT_EQ(z.grad_fn()->name(), act_node(a));
    ASSERT_EQ(z.grad_fn()->next_edges().size(), 1u);
    const auto& inner = z.grad_fn()->next_edges()[0].function;
    ASSERT_NE(inner, nullptr);
    EXPECT_EQ(inner->name(), "AddmmBackward0");
    EXPECT_EQ(inner->next_edges().size(), 3u);
  }
  // Only the inputs that need grad get edges; none at all without grad.
  Tensor xc = ag::randn({2, 3});
  Tensor z = ag::layer_ops::linear(xc, w, b, Activation::Sigmoid);
  z.sum().backward();
  EXPECT_FALSE(xc.grad().defined());
  EXPECT_TRUE(w.grad().defined() && b.grad().defined());
  {
    ag::NoGradGuard ng;
    EXPECT_EQ(ag::layer_ops::linear(x, w, b, Activation::Relu).grad_fn(), nullptr);
  }
  // retain_graph and a second backward through the fused pair.
  Tensor x2 = leaf(ag::randn({2, 3}));
  Tensor z2 = ag::layer_ops::linear(x2, w, b, Activation::Tanh).sum();
  z2.backward({}, true);
  Tensor first = x2.grad().clone();
  z2.backward();
  EXPECT_TRUE(ag::allclose(x2.grad(), first * 2.0, 1e-6, 1e-6));
}

TEST(FusedLinear, SequentialFusesLinearReluInvisibly) {
  ag::manual_seed(7);
  nn::Sequential seq(nn::Linear(6, 5), nn::ReLU(), nn::Linear(5, 4), nn::Sigmoid());
  auto& l0 = seq->at<nn::LinearImpl>(0);
  auto& l2 = seq->at<nn::LinearImpl>(2);
  Tensor x = ag::randn({8, 6});
  Tensor y = seq(x);
  // Bitwise the composition of the modules, and the composition's graph.
  Tensor h = ag::relu(F::linear(x, l0.weight, l0.bias));
  Tensor want = ag::sigmoid(F::linear(h, l2.weight, l2.bias));
  EXPECT_TRUE(bits_equal(y, want));
  EXPECT_EQ(y.grad_fn()->name(), "SigmoidBackward0");
  const auto& addmm2 = y.grad_fn()->next_edges()[0].function;
  EXPECT_EQ(addmm2->name(), "AddmmBackward0");
  // AddmmBackward0's edges are (bias, x, weight): x came from the fused Linear + ReLU.
  const auto& relu = addmm2->next_edges()[1].function;
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->name(), "ReluBackward0");
  EXPECT_EQ(relu->next_edges()[0].function->name(), "AddmmBackward0");
  // Gradients as the unfused modules give them.
  y.sum().backward();
  std::vector<Tensor> fused_grads;
  for (const Tensor& p : seq->parameters()) fused_grads.push_back(p.grad().clone());
  seq->zero_grad();
  Tensor h2 = ag::relu(F::linear(x, l0.weight, l0.bias));
  ag::sigmoid(F::linear(h2, l2.weight, l2.bias)).sum().backward();
  const auto params = seq->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(ag::allclose(params[i].grad(), fused_grads[i], 1e-6, 1e-7)) << i;
  // 1-D and 3-D inputs go through the modules one by one, with the same results.
  Tensor x1 = ag::randn({6});
  EXPECT_TRUE(ag::allclose(seq(x1), seq(x1.unsqueeze(0)).squeeze(0), 1e-6, 1e-7));
  Tensor x3 = ag::randn({2, 3, 6});
  EXPECT_TRUE(ag::allclose(seq(x3).reshape({6, 4}), seq(x3.reshape({6, 6})), 1e-6, 1e-7));
}

TEST(FusedLinear, EmptyBatchGradients) {
  // M = 0: weight and bias gradients are zeros (an empty sum), x's is empty.
  Tensor x = leaf(ag::zeros({0, 3})), w = leaf(ag::randn({2, 3})), b = leaf(ag::randn({2}));
  for (Activation a : kActs) {
    x.set_grad(Tensor());
    w.set_grad(Tensor());
    b.set_grad(Tensor());
    ag::layer_ops::linear(x, w, b, a).sum().backward();
    EXPECT_TRUE(ag::equal(w.grad(), ag::zeros({2, 3})));
    EXPECT_TRUE(ag::equal(b.grad(), ag::zeros({2})));
    EXPECT_EQ(x.grad().shape(), (ag::Shape{0, 3}));
  }
  // N = 0: x's gradient is zeros.
  Tensor x2 = leaf(ag::randn({4, 3})), w2 = leaf(ag::zeros({0, 3}));
  ag::layer_ops::linear(x2, w2, Tensor(), Activation::Tanh).sum().backward();
  EXPECT_TRUE(ag::equal(x2.grad(), ag::zeros({4, 3})));
  EXPECT_EQ(w2.grad().shape(), (ag::Shape{0, 3}));
}
