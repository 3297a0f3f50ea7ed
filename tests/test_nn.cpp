// ag::nn: Module bookkeeping, layers (values, gradients by finite differences, modes),
// init and utils.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;

namespace {

ag::TensorOptions f64() { return ag::TensorOptions(ag::kFloat64); }

std::vector<double> values(const Tensor& t) {
  Tensor c = t.detach().to(ag::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Same dtype, shape and bytes.
bool bits_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.unsafeGetTensorImpl()->raw_data(), y.unsafeGetTensorImpl()->raw_data(),
                     static_cast<size_t>(x.numel()) * ag::element_size(x.dtype())) == 0;
}

// A user module in the libtorch style: holders as fields, registered children.
struct NetImpl : nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", nn::Linear(4, 3));
    bn = register_module("bn", nn::BatchNorm1d(3));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(3, 2).bias(false)));
    scale = register_parameter("scale", ag::ones({2}));
  }
  Tensor forward(const Tensor& x) { return fc2(ag::relu(bn(fc1(x)))) * scale; }
  nn::Linear fc1{nullptr};
  nn::BatchNorm1d bn{nullptr};
  nn::Linear fc2{nullptr};
  Tensor scale;
};
AG_MODULE(Net);

}  // namespace

// ---- Module bookkeeping -------------------------------------------------------------------

TEST(Module, ParametersInRegistrationOrderWithDottedNames) {
  Net net;
  const auto named = net->named_parameters();
  std::vector<std::string> names;
  for (const auto& [n, t] : named) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight"}));
  const auto params = net->parameters();
  ASSERT_EQ(params.size(), 6u);
  EXPECT_TRUE(params[1].is_same(net->fc1->weight));
  EXPECT_TRUE(params[5].is_same(net->fc2->weight));
  EXPECT_EQ(net->parameters(/*recurse=*/false).size(), 1u);
  for (const auto& p : params) EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(net->fc1->weight.shape(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(net->fc1->bias.shape(), (std::vector<int64_t>{3}));
  EXPECT_FALSE(net->fc2->bias.defined());

  std::vector<std::string> bnames;
  for (const auto& [n, t] : net->named_buffers()) bnames.push_back(n);
  EXPECT_EQ(bnames, (std::vector<std::string>{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  EXPECT_EQ(net->buffers().size(), 3u);
  for (const auto& b : net->buffers()) EXPECT_FALSE(b.requires_grad());

  const auto children = net->named_children();
  ASSERT_EQ(children.size(), 3u);
  EXPECT_EQ(children[0].first, "fc1");
  EXPECT_EQ(children[1].second->name(), "BatchNorm1d");
  EXPECT_EQ(net->children().size(), 3u);
  EXPECT_EQ(net->modules().size(), 4u);
  EXPECT_EQ(net->named_modules()[2].first, "bn");
  EXPECT_EQ(net->name(), "Net");
}

TEST(Module, RegistrationRefusesBadNames) {
  nn::Module m;
  m.register_parameter("w", ag::zeros({2}));
  EXPECT_THROW(m.register_parameter("w", ag::zeros({2})), ag::Error);
  EXPECT_THROW(m.register_buffer("w", ag::zeros({2})), ag::Error);
  EXPECT_THROW(m.register_parameter("a.b", ag::zeros({2})), ag::Error);
  EXPECT_THROW(m.register_parameter("", ag::zeros({2})), ag::Error);
  EXPECT_THROW(m.register_module("w", nn::Linear(2, 2)), ag::Error);
  EXPECT_THROW(m.register_module("empty", nn::Linear(nullptr)), ag::Error);
  Tensor leaf = ag::ones({2}, ag::TensorOptions().requires_grad(true));
  EXPECT_THROW(m.register_parameter("nonleaf", leaf * 2), ag::Error);
  EXPECT_THROW(m.register_parameter("labels", ag::zeros({2}, ag::TensorOptions(ag::kInt64))), ag::Error);
  EXPECT_EQ(m.parameters().size(), 1u);
  // A parameter registered with requires_grad=false stays frozen.
  Tensor frozen = m.register_parameter("frozen", ag::ones({3}), /*requires_grad=*/false);
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_EQ(m.parameters().size(), 2u);
  // A module on the stack cannot hand out a shared_ptr to itself.
  EXPECT_THROW(m.modules(), ag::Error);
  EXPECT_EQ(m.modules(/*include_self=*/false).size(), 0u);
}

TEST(Module, TrainEvalIsRecursive) {
  nn::Sequential seq(nn::Linear(2, 3), nn::Dropout(0.5), nn::Sequential(nn::BatchNorm1d(3), nn::ReLU()));
  EXPECT_TRUE(seq->is_training());
  seq->eval();
  for (const auto& m : seq->modules()) EXPECT_FALSE(m->is_training()) << m->name();
  EXPECT_EQ(seq->modules().size(), 6u);
  seq->train();
  for (const auto& m : seq->modules()) EXPECT_TRUE(m->is_training()) << m->name();
  seq->train(false);
  EXPECT_FALSE(seq->ptr<nn::SequentialImpl>(2)->at<nn::BatchNorm1dImpl>(0).is_training());
}

TEST(Module, ZeroGrad) {
  nn::Linear fc(3, 2);
  Tensor x = ag::ones({4, 3});
  fc(x).sum().backward();
  ASSERT_TRUE(fc->weight.grad().defined());
  // d sum(x W^T + b) / d b = batch size; / d W = column sums of x.
  EXPECT_EQ(values(fc->bias.grad()), (std::vector<double>{4, 4}));
  EXPECT_EQ(values(fc->weight.grad()), std::vector<double>(6, 4.0));
  fc->zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(fc->weight.grad().defined());
  EXPECT_EQ(values(fc->weight.grad()), std::vector<double>(6, 0.0));
  EXPECT_EQ(values(fc->bias.grad()), std::vector<double>(2, 0.0));
  fc->zero_grad();
  EXPECT_FALSE(fc->weight.grad().defined());
  EXPECT_FALSE(fc->bias.grad().defined());
}

TEST(Module, ToConvertsInPlaceAndKeepsHandles) {
  ag::manual_seed(3);
  Net net;
  Tensor w = net->fc1->weight;
  const auto before = values(w);
  auto params = net->parameters();
  net->fc1(ag::ones({2, 4})).sum().backward();
  net->to(ag::kFloat64);
  EXPECT_EQ(w.dtype(), ag::kFloat64);
  EXPECT_EQ(params[1].dtype(), ag::kFloat64);
  EXPECT_EQ(values(w), before);  // float32 -> float64 is exact
  EXPECT_EQ(w.grad().dtype(), ag::kFloat64);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(net->bn->running_mean.dtype(), ag::kFloat64);
  EXPECT_EQ(net->bn->num_batches_tracked.dtype(), ag::kInt64);  // integer buffers stay
  // The converted module trains: gradients arrive in float64 at the same handles.
  net->zero_grad();
  net(ag::ones({3, 4}, f64())).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), ag::kFloat64);
  EXPECT_THROW(net->to(ag::kInt64), ag::Error);
}

TEST(Module, PrettyPrint) {
  nn::Sequential seq(nn::Linear(2, 3), nn::ReLU(), nn::Softmax(1));
  std::ostringstream os;
  os << seq;
  EXPECT_EQ(os.str(),
            "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=true)\n  (1): ReLU()\n  (2): Softmax(dim=1)\n)");
}

// ---- Linear ------------------------------------------------------------------------------

TEST(Linear, ForwardMatchesHandComputation) {
  nn::Linear fc(2, 3);
  {
    ag::NoGradGuard g;
    fc->weight.copy_(ag::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({3, 2}));
    fc->bias.copy_(ag::tensor({0.5f, -1.f, 2.f}));
  }
  Tensor x = ag::tensor({1.f, -1.f, 2.f, 0.5f}).reshape({2, 2});
  Tensor y = fc(x);
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 3}));
  // row 0: [1-2, 3-4, 5-6] + b; row 1: [2+1, 6+2, 10+3] + b
  EXPECT_EQ(values(y), (std::vector<double>{-0.5, -2, 1, 3.5, 7, 15}));
  EXPECT_EQ(y.grad_fn()->name(), "AddmmBackward0");
  // 1-D and 3-D inputs.
  EXPECT_EQ(values(fc->forward(ag::tensor({1.f, -1.f}))), (std::vector<double>{-0.5, -2, 1}));
  EXPECT_EQ(fc(ag::ones({4, 5, 2})).shape(), (std::vector<int64_t>{4, 5, 3}));
  EXPECT_THROW(fc(ag::ones({2, 3})), ag::Error);
  EXPECT_THROW(fc(ag::ones({2, 2}, f64())), ag::Error);
  nn::Linear nobias(nn::LinearOptions(2, 3).bias(false));
  EXPECT_EQ(nobias->parameters().size(), 1u);
  EXPECT_EQ(nobias(x).shape(), (std::vector<int64_t>{2, 3}));
}

TEST(Linear, InitIsPyTorchsUniformAndSeeded) {
  ag::manual_seed(42);
  nn::Linear a(100, 50);
  ag::manual_seed(42);
  nn::Linear b(100, 50);
  EXPECT_TRUE(bits_equal(a->weight, b->weight));
  EXPECT_TRUE(bits_equal(a->bias, b->bias));
  const double bound = 1.0 / std::sqrt(100.0);
  double lo = 1, hi = -1, sum = 0;
  for (double v : values(a->weight)) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  EXPECT_GE(lo, -bound);
  EXPECT_LE(hi, bound);
  EXPECT_LT(lo, -0.95 * bound);  // 5000 draws fill the range
  EXPECT_GT(hi, 0.95 * bound);
  EXPECT_NEAR(sum / 5000, 0.0, 0.01);
  for (double v : values(a->bias)) EXPECT_LE(std::abs(v), bound);
  nn::Linear c(100, 50);  // a different draw
  EXPECT_FALSE(bits_equal(a->weight, c->weight));
}

TEST(Linear, Gradcheck) {
  nn::Linear fc(3, 2);
  fc->to(ag::kFloat64);
  Tensor x = ag::randn({4, 3}, f64().requires_grad(true));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return fc(in[0]); }, {x, fc->weight, fc->bias}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return fc(in[0]); }, {ag::randn({2, 5, 3}, f64().requires_grad(true)), fc->weight}));
  EXPECT_TRUE(ag::gradgradcheck([&](const ag::tensor_list& in) { return ag::tanh(fc(in[0])); }, {x, fc->weight}));
}

// ---- activations ---------------------------------------------------------------------------

TEST(Activation, ValuesAndGradcheck) {
  Tensor x = ag::tensor({-2.0, -0.5, 0.25, 3.0}, f64());
  EXPECT_EQ(values(nn::ReLU()(x)), (std::vector<double>{0, 0, 0.25, 3}));
  const auto s = values(nn::Sigmoid()(x));
  const auto t = values(nn::Tanh()(x));
  for (size_t i = 0; i < 4; ++i) {
    const double v = values(x)[i];
    EXPECT_NEAR(s[i], 1 / (1 + std::exp(-v)), 1e-15);
    EXPECT_NEAR(t[i], std::tanh(v), 1e-15);
  }
  Tensor m = ag::tensor({1.0, 2.0, 3.0, 1.0, 1.0, 1.0}, f64()).reshape({2, 3});
  const auto sm = values(nn::Softmax(1)(m));
  const double z = std::exp(1) + std::exp(2) + std::exp(3);
  EXPECT_NEAR(sm[0], std::exp(1) / z, 1e-15);
  EXPECT_NEAR(sm[2], std::exp(3) / z, 1e-15);
  EXPECT_NEAR(sm[4], 1.0 / 3, 1e-15);
  const auto lsm = values(nn::LogSoftmax(1)(m));
  EXPECT_NEAR(lsm[1], 2 - std::log(z), 1e-14);

  Tensor xin = ag::tensor({-1.3, -0.2, 0.4, 2.1, 0.7, -0.9}, f64()).reshape({2, 3}).requires_grad_();
  nn::Sigmoid sig;
  nn::ReLU relu;
  nn::Tanh tanh;
  nn::Softmax smx(1);
  nn::Softmax smx0(0);
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return sig(in[0]); }, {xin}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return relu(in[0]); }, {xin}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return tanh(in[0]); }, {xin}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return smx(in[0]); }, {xin}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return smx0(in[0]); }, {xin}));
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return F::log_softmax(in[0], 1); }, {xin}));
}

// ---- Dropout -------------------------------------------------------------------------------

TEST(Dropout, TrainZeroesAboutPAndScalesTheRestExactly) {
  ag::manual_seed(1);
  const double p = 0.3;
  nn::Dropout drop(p);
  Tensor x = ag::rand({100000}) + 0.5f;  // no zeros in the input
  Tensor y = drop(x);
  const float* xs = x.data_ptr<float>();
  Tensor yc = y.contiguous();
  const float* ys = yc.data_ptr<float>();
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  int64_t zeros = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (ys[i] == 0.f) ++zeros;
    else ASSERT_EQ(ys[i], xs[i] * scale) << i;
  }
  // Binomial(1e5, 0.3): sd = 145; allow 5 sd.
  EXPECT_NEAR(static_cast<double>(zeros), 30000.0, 725.0);

  // The backward uses the same mask: d sum(y) / dx = mask.
  Tensor xg = x.detach().requires_grad_();
  ag::manual_seed(9);
  Tensor y2 = drop(xg);
  y2.sum().backward();
  const auto g = values(xg.grad());
  const auto y2v = values(y2);
  for (size_t i = 0; i < g.size(); i += 97) EXPECT_EQ(g[i], y2v[i] == 0 ? 0.0 : static_cast<double>(scale));

  // Same seed, same mask.
  ag::manual_seed(5);
  Tensor a = drop(x);
  ag::manual_seed(5);
  Tensor b = drop(x);
  EXPECT_TRUE(bits_equal(a, b));
}

TEST(Dropout, EvalIsIdentityAndBadPRefused) {
  nn::Dropout drop(0.5);
  drop->eval();
  Tensor x = ag::randn({50});
  EXPECT_TRUE(bits_equal(drop(x), x));
  EXPECT_TRUE(bits_equal(F::dropout(x, 0.5, /*training=*/false), x));
  EXPECT_TRUE(bits_equal(F::dropout(x, 0.0, true), x));
  EXPECT_THROW(nn::Dropout(1.0), ag::Error);
  EXPECT_THROW(nn::Dropout(-0.1), ag::Error);
  EXPECT_THROW(F::dropout(x, 1.0, true), ag::Error);
  // p = 0.5: kept values are exactly doubled.
  drop->train();
  Tensor y = drop(x);
  const auto xv = values(x), yv = values(y);
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_TRUE(yv[i] == 0 || yv[i] == 2 * xv[i]);
}

TEST(Dropout, Gradcheck) {
  Tensor x = ag::randn({3, 4}, f64().requires_grad(true));
  EXPECT_TRUE(ag::gradcheck(
      [&](const ag::tensor_list& in) {
        ag::manual_seed(11);  // the same mask for every evaluation
        return F::dropout(in[0], 0.4, true);
      },
      {x}));
}

// ---- BatchNorm1d ---------------------------------------------------------------------------

TEST(BatchNorm1d, TrainUsesBatchStatsAndUpdatesRunningStats) {
  nn::BatchNorm1d bn(2);
  EXPECT_EQ(values(bn->weight), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(bn->bias), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(bn->running_mean), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(bn->running_var), (std::vector<double>{1, 1}));
  // channel 0: 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased 14/3)
  // channel 1: 0, 0, 4, 4 (mean 2, biased var 4,   unbiased 16/3)
  Tensor x = ag::tensor({1.0, 0.0, 2.0, 0.0, 3.0, 4.0, 6.0, 4.0}, f64()).reshape({4, 2});
  bn->to(ag::kFloat64);
  Tensor y = bn(x);
  const auto yv = values(y);
  const double eps = 1e-5;
  const double c0[] = {1, 2, 3, 6}, c1[] = {0, 0, 4, 4};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(yv[2 * i], (c0[i] - 3) / std::sqrt(3.5 + eps), 1e-12);
    EXPECT_NEAR(yv[2 * i + 1], (c1[i] - 2) / std::sqrt(4 + eps), 1e-12);
  }
  EXPECT_NEAR(values(bn->running_mean)[0], 0.9 * 0 + 0.1 * 3, 1e-15);
  EXPECT_NEAR(values(bn->running_mean)[1], 0.1 * 2, 1e-15);
  EXPECT_NEAR(values(bn->running_var)[0], 0.9 * 1 + 0.1 * 14.0 / 3, 1e-15);
  EXPECT_NEAR(values(bn->running_var)[1], 0.9 * 1 + 0.1 * 16.0 / 3, 1e-15);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  // A second batch: the same formula again.
  bn(x * 2.0);
  EXPECT_NEAR(values(bn->running_mean)[0], 0.9 * 0.3 + 0.1 * 6, 1e-14);
  EXPECT_NEAR(values(bn->running_var)[1], 0.9 * (0.9 + 0.1 * 16.0 / 3) + 0.1 * 64.0 / 3, 1e-14);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 2);

  // Eval: running statistics, nothing updated; the outputs differ from training mode.
  bn->eval();
  const auto rm = values(bn->running_mean), rv = values(bn->running_var);
  Tensor ye = bn(x);
  const auto yev = values(ye);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(yev[2 * i], (c0[i] - rm[0]) / std::sqrt(rv[0] + eps), 1e-12);
    EXPECT_NEAR(yev[2 * i + 1], (c1[i] - rm[1]) / std::sqrt(rv[1] + eps), 1e-12);
  }
  EXPECT_EQ(values(bn->running_mean), rm);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 2);
  EXPECT_GT(std::abs(yev[0] - yv[0]), 0.1);
  // Eval works with a single sample; training refuses it.
  EXPECT_EQ(bn(ag::ones({1, 2}, f64())).shape(), (std::vector<int64_t>{1, 2}));
  bn->train();
  EXPECT_THROW(bn(ag::ones({1, 2}, f64())), ag::Error);
  EXPECT_THROW(bn(ag::ones({4, 3}, f64())), ag::Error);
  // A refused input changes no state.
  const auto rm2 = values(bn->running_mean);
  EXPECT_THROW(bn(ag::ones({4, 2})), ag::Error);  // float32 into a float64 layer
  EXPECT_EQ(values(bn->running_mean), rm2);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 2);
}

TEST(BatchNorm1d, AffineParametersAndThreeDimensionalInput) {
  nn::BatchNorm1d bn(nn::BatchNorm1dOptions(2).momentum(0.5).eps(1e-3));
  bn->to(ag::kFloat64);
  {
    ag::NoGradGuard g;
    bn->weight.copy_(ag::tensor({2.0, -1.0}, f64()));
    bn->bias.copy_(ag::tensor({0.5, 1.0}, f64()));
  }
  // [N=2, C=2, L=2]: channel 0 holds 1, 3, 5, 7 (mean 4, var 5); channel 1 all 2.
  Tensor x = ag::tensor({1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 2.0, 2.0}, f64()).reshape({2, 2, 2});
  const auto y = values(bn(x));
  EXPECT_NEAR(y[0], 2 * (1 - 4) / std::sqrt(5 + 1e-3) + 0.5, 1e-12);
  EXPECT_NEAR(y[5], 2 * (7 - 4) / std::sqrt(5 + 1e-3) + 0.5, 1e-12);
  EXPECT_NEAR(y[2], 1.0, 1e-12);  // constant channel: normalised to 0, then bias
  EXPECT_NEAR(values(bn->running_mean)[0], 0.5 * 4, 1e-15);
  EXPECT_NEAR(values(bn->running_var)[0], 0.5 + 0.5 * 20.0 / 3, 1e-14);
}

TEST(BatchNorm1d, Gradcheck) {
  nn::BatchNorm1d bn(3);
  bn->to(ag::kFloat64);
  {
    ag::NoGradGuard g;
    bn->weight.copy_(ag::tensor({1.5, -0.5, 2.0}, f64()));
    bn->bias.copy_(ag::tensor({0.1, 0.2, -0.3}, f64()));
  }
  Tensor x = ag::randn({5, 3}, f64().requires_grad(true));
  auto f = [&](const ag::tensor_list& in) { return bn(in[0]); };
  EXPECT_TRUE(ag::gradcheck(f, {x, bn->weight, bn->bias}));
  bn->eval();
  EXPECT_TRUE(ag::gradcheck(f, {x, bn->weight, bn->bias}));
}

// ---- Sequential ----------------------------------------------------------------------------

TEST(Sequential, ChainsAndNamesChildren) {
  ag::manual_seed(0);
  nn::Sequential seq(nn::Linear(3, 4), nn::Tanh(), nn::Linear(4, 2));
  EXPECT_EQ(seq->size(), 3u);
  std::vector<std::string> names;
  for (const auto& [n, t] : seq->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  Tensor x = ag::randn({5, 3});
  auto& l0 = seq->at<nn::LinearImpl>(0);
  auto l2 = seq->ptr<nn::LinearImpl>(2);
  Tensor expected = F::linear(ag::tanh(F::linear(x, l0.weight, l0.bias)), l2->weight, l2->bias);
  EXPECT_TRUE(bits_equal(seq(x), expected));
  EXPECT_TRUE(bits_equal(seq->forward(x), expected));
  EXPECT_EQ(seq[1]->name(), "Tanh");
  EXPECT_THROW(seq->ptr<nn::LinearImpl>(1), ag::Error);
  EXPECT_THROW(seq[3], ag::Error);

  seq->push_back(nn::Sigmoid());
  EXPECT_EQ(seq->size(), 4u);
  const auto out = values(seq(x));
  for (double v : out) EXPECT_TRUE(v > 0 && v < 1);
  seq->push_back("head", nn::Functional(ag::relu));
  EXPECT_EQ(seq->named_children().back().first, "head");
  EXPECT_THROW(seq->push_back("head", nn::ReLU()), ag::Error);
  EXPECT_EQ(seq->size(), 5u);

  nn::Sequential empty;
  EXPECT_THROW(empty(x), ag::Error);
  nn::Sequential named({{"fc", nn::Linear(3, 1)}, {"act", nn::Sigmoid()}});
  EXPECT_EQ(named->named_parameters()[0].first, "fc.weight");
  EXPECT_EQ(named(x).shape(), (std::vector<int64_t>{5, 1}));
}

TEST(Sequential, HoldsUserModulesAndGradchecks) {
  nn::Sequential seq(nn::Linear(3, 4), Net(), nn::Sigmoid());  // Net: 4 -> 2
  seq->to(ag::kFloat64);
  EXPECT_EQ(seq->named_parameters()[2].first, "1.scale");
  Tensor x = ag::randn({6, 4}, f64().requires_grad(true));
  auto inner = seq->ptr<NetImpl>(1);
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return inner->forward(in[0]); },
                            {x, inner->fc1->weight, inner->bn->weight, inner->fc2->weight, inner->scale}));
  Tensor x3 = ag::randn({6, 3}, f64().requires_grad(true));
  auto params = seq->parameters();
  ag::tensor_list inputs{x3};
  inputs.insert(inputs.end(), params.begin(), params.end());
  EXPECT_TRUE(ag::gradcheck([&](const ag::tensor_list& in) { return seq(in[0]); }, inputs));
}

// ---- init ----------------------------------------------------------------------------------

TEST(Init, ReproducibleUnderManualSeedAndInRange) {
  Tensor a = ag::empty({64, 32}), b = ag::empty({64, 32});
  ag::manual_seed(123);
  nn::init::xavier_uniform_(a);
  ag::manual_seed(123);
  nn::init::xavier_uniform_(b);
  EXPECT_TRUE(bits_equal(a, b));
  const double xb = std::sqrt(6.0 / (64 + 32));
  for (double v : values(a)) ASSERT_LE(std::abs(v), xb);

  ag::manual_seed(7);
  nn::init::kaiming_uniform_(a, std::sqrt(5.0));
  ag::manual_seed(7);
  nn::init::kaiming_uniform_(b, std::sqrt(5.0));
  EXPECT_TRUE(bits_equal(a, b));
  for (double v : values(a)) ASSERT_LE(std::abs(v), 1.0 / std::sqrt(32.0) + 1e-7);
  nn::init::kaiming_uniform_(a);  // a = 0: bound sqrt(2)·sqrt(3/32)
  double hi = 0;
  for (double v : values(a)) hi = std::max(hi, std::abs(v));
  EXPECT_LE(hi, std::sqrt(6.0 / 32) + 1e-7);
  EXPECT_GT(hi, 0.95 * std::sqrt(6.0 / 32));

  Tensor n = ag::empty({200, 100}, f64());
  ag::manual_seed(99);
  nn::init::normal_(n, 2.0, 0.5);
  const auto nv = values(n);
  double mean = 0, sq = 0;
  for (double v : nv) mean += v;
  mean /= static_cast<double>(nv.size());
  for (double v : nv) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 2.0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / static_cast<double>(nv.size())), 0.5, 0.01);
  Tensor n2 = ag::empty({200, 100}, f64());
  ag::manual_seed(99);
  nn::init::normal_(n2, 2.0, 0.5);
  EXPECT_TRUE(bits_equal(n, n2));

  nn::init::uniform_(n, -3.0, -2.0);
  for (double v : values(n)) ASSERT_TRUE(v >= -3.0 && v < -2.0);
  nn::init::zeros_(n);
  EXPECT_EQ(values(n), std::vector<double>(20000, 0.0));
  nn::init::ones_(n);
  EXPECT_EQ(values(n), std::vector<double>(20000, 1.0));
  nn::init::constant_(n, -0.25);
  EXPECT_EQ(values(n), std::vector<double>(20000, -0.25));
  EXPECT_THROW(nn::init::xavier_uniform_(ag::empty({5})), ag::Error);
  EXPECT_THROW(nn::init::normal_(ag::zeros({2}, ag::TensorOptions(ag::kInt64))), ag::Error);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::kReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::kTanh), 5.0 / 3);
}

TEST(Init, WorksOnParametersThatRequireGrad) {
  nn::Linear fc(4, 4);
  Tensor w = fc->weight;
  nn::init::zeros_(w);
  EXPECT_EQ(values(fc->weight), std::vector<double>(16, 0.0));
  EXPECT_TRUE(fc->weight.requires_grad());
  EXPECT_TRUE(fc->weight.is_leaf());
  nn::init::xavier_normal_(fc->weight);
  EXPECT_TRUE(fc->weight.is_leaf());
  double s = 0;
  for (double v : values(fc->weight)) s += std::abs(v);
  EXPECT_GT(s, 0.0);
}

// ---- utils ---------------------------------------------------------------------------------

TEST(Utils, ClipGradNorm) {
  Tensor a = ag::zeros({2}, ag::TensorOptions().requires_grad(true));
  Tensor b = ag::zeros({1}, ag::TensorOptions().requires_grad(true));
  Tensor c = ag::zeros({1}, ag::TensorOptions().requires_grad(true));  // no gradient
  a.set_grad(ag::tensor({3.f, 0.f}));
  b.set_grad(ag::tensor({4.f}));
  // Below the limit: the norm is returned, nothing changes.
  EXPECT_DOUBLE_EQ(nn::utils::clip_grad_norm_({a, b, c}, 10.0), 5.0);
  EXPECT_EQ(values(a.grad()), (std::vector<double>{3, 0}));
  // Above: scaled by max_norm / (total + 1e-6).
  EXPECT_DOUBLE_EQ(nn::utils::clip_grad_norm_({a, b, c}, 1.0), 5.0);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(values(a.grad())[0], 3 * coef, 1e-7);
  EXPECT_NEAR(values(b.grad())[0], 4 * coef, 1e-7);
  EXPECT_NEAR(nn::utils::clip_grad_norm_({a, b}, 100.0), 1.0, 1e-6);
  // Infinity norm.
  a.set_grad(ag::tensor({-7.f, 2.f}));
  EXPECT_DOUBLE_EQ(nn::utils::clip_grad_norm_({a, b}, 100.0, INFINITY), 7.0);
  // Nothing to clip.
  EXPECT_EQ(nn::utils::clip_grad_norm_({c}, 1.0), 0.0);
  b.set_grad(ag::tensor({NAN}));
  EXPECT_THROW(nn::utils::clip_grad_norm_({a, b}, 1.0, 2.0, /*error_if_nonfinite=*/true), ag::Error);
  EXPECT_EQ(values(a.grad())[0], -7.0);
  EXPECT_THROW(nn::utils::clip_grad_norm_({a}, -1.0), ag::Error);
}

TEST(Utils, ClipGradNormOnAModelAndVectorRoundTrip) {
  ag::manual_seed(4);
  nn::Sequential seq(nn::Linear(5, 5), nn::ReLU(), nn::Linear(5, 1));
  (seq(ag::randn({8, 5})) * 100.0).sum().backward();
  auto params = seq->parameters();
  double sq = 0;
  for (const auto& p : params)
    for (double v : values(p.grad())) sq += v * v;
  const double total = nn::utils::clip_grad_norm_(params, 0.5);
  EXPECT_NEAR(total, std::sqrt(sq), 1e-6 * std::sqrt(sq));
  double after = 0;
  for (const auto& p : params)
    for (double v : values(p.grad())) after += v * v;
  EXPECT_NEAR(std::sqrt(after), 0.5, 1e-5);

  Tensor vec = nn::utils::parameters_to_vector(params);
  EXPECT_EQ(vec.numel(), 5 * 5 + 5 + 5 + 1);
  nn::utils::vector_to_parameters(vec * 0.0, params);
  for (const auto& p : params)
    for (double v : values(p)) ASSERT_EQ(v, 0.0);
  nn::utils::vector_to_parameters(vec, params);
  EXPECT_TRUE(bits_equal(nn::utils::parameters_to_vector(params), vec));
  EXPECT_THROW(nn::utils::vector_to_parameters(ag::zeros({3}), params), ag::Error);

  nn::utils::clip_grad_value_(params, 1e-3);
  for (const auto& p : params)
    for (double v : values(p.grad())) ASSERT_LE(std::abs(v), 1e-3 + 1e-9);
}

// An end-to-end check that the pieces train: XOR with a 2-8-1 net and plain SGD.
TEST(Training, XorConverges) {
  ag::manual_seed(2);
  nn::Sequential net(nn::Linear(2, 8), nn::Tanh(), nn::Linear(8, 1));
  Tensor x = ag::tensor({0.f, 0.f, 0.f, 1.f, 1.f, 0.f, 1.f, 1.f}).reshape({4, 2});
  Tensor y = ag::tensor({0.f, 1.f, 1.f, 0.f}).reshape({4, 1});
  double first = 0, last = 0;
  for (int step = 0; step < 2000; ++step) {
    net->zero_grad();
    Tensor loss = F::binary_cross_entropy_with_logits(net(x), y);
    loss.backward();
    if (step == 0) first = loss.item<float>();
    last = loss.item<float>();
    ag::NoGradGuard g;
    for (auto& p : net->parameters()) p.sub_(p.grad() * 0.5);
  }
  EXPECT_LT(last, 0.05);
  EXPECT_GT(first, 0.5);
  const auto pred = values(ag::sigmoid(net(x)));
  EXPECT_LT(pred[0], 0.5);
  EXPECT_GT(pred[1], 0.5);
  EXPECT_GT(pred[2], 0.5);
  EXPECT_LT(pred[3], 0.5);
}
