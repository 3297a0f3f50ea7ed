// ag::optim: SGD, Adam, AdamW and the schedulers against values worked out by hand from
// the published update rules (PyTorch's torch.optim documentation), in float32 and float64;
// zero_grad; param groups; state_dict and file round trips that resume bitwise; and every
// misuse an ag::Error that leaves the parameters and the optimizer as they were.
//
// The expected values below were computed in float64 from the formulas in
// optim/include/ag/optim/{sgd,adam}.hpp, independently of the library, starting from
// kStart with the gradients kGrads[0], kGrads[1], kGrads[2] on steps 1, 2, 3.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace optim = ag::optim;
using ag::Tensor;
using Steps = std::array<std::array<double, 4>, 3>;

const std::vector<double> kStart = {1.0, -2.0, 3.0, 0.5};
const std::array<std::vector<double>, 3> kGrads = {{{0.5, -1.0, 2.0, 0.25}, {0.1, 0.2, -0.3, -1.5}, {-0.4, 0.0, 1.5, 0.75}}};

// ---- expected parameters after steps 1, 2, 3 -------------------------------------------
// SGD(lr 0.1)
const Steps kSgdPlain = {{
    {0.95, -1.9, 2.8, 0.475},
    {0.94, -1.92, 2.8299999999999996, 0.625},
    {0.98, -1.92, 2.6799999999999997, 0.55},
}};
// SGD(lr 0.1, momentum 0.9)
const Steps kSgdMomentum = {{
    {0.95, -1.9, 2.8, 0.475},
    {0.8949999999999999, -1.8299999999999998, 2.65, 0.6025},
    {0.8855, -1.767, 2.3649999999999998, 0.64225},
}};
// SGD(lr 0.1, momentum 0.9, dampening 0.25)
const Steps kSgdDampening = {{
    {0.95, -1.9, 2.8, 0.475},
    {0.8975, -1.825, 2.6424999999999996, 0.565},
    {0.88025, -1.7574999999999998, 2.3882499999999998, 0.58975},
}};
// SGD(lr 0.1, momentum 0.9, nesterov)
const Steps kSgdNesterov = {{
    {0.905, -1.81, 2.62, 0.4525},
    {0.8455, -1.7670000000000001, 2.515, 0.7172499999999999},
    {0.87695, -1.7103000000000002, 2.1085000000000003, 0.6780249999999999},
}};
// SGD(lr 0.1, weight_decay 0.01)
const Steps kSgdWeightDecay = {{
    {0.949, -1.898, 2.797, 0.4745},
    {0.938051, -1.916102, 2.8242030000000002, 0.6240255},
    {0.977112949, -1.914185898, 2.671378797, 0.5484014745},
}};
// SGD(lr 0.05, momentum 0.8, weight_decay 0.1, nesterov)
const Steps kSgdAll = {{
    {0.946, -1.892, 2.793, 0.473},
    {0.9092859999999999, -1.8545719999999999, 2.721263, 0.594143},
    {0.9155152259999999, -1.807506452, 2.503554033, 0.560102113},
}};
// Adam(lr 0.1)
const Steps kAdam = {{
    {0.900000002, -1.900000001, 2.9000000005, 0.4000000039999998},
    {0.8196959063846518, -1.8488973939904947, 2.8447801952059977, 0.46239187006656346},
    {0.8103259663582117, -1.8093949307841704, 2.7724280343425427, 0.47737393962281083},
}};
// Adam(lr 0.1, weight_decay 0.1)
const Steps kAdamWeightDecay = {{
    {0.9000000016666666, -1.9000000008333333, 2.900000000434783, 0.4000000033333332},
    {0.8136483454297575, -1.8336169077420748, 2.8333185059572847, 0.45941220097128116},
    {0.7829837790790071, -1.7732341874523856, 2.753431326562148, 0.4698153103962565},
}};
// Adam(lr 0.01, betas (0.5, 0.75), eps 1e-3)
const Steps kAdamBetas = {{
    {0.9900199600798403, -1.99000999000999, 2.9900049975012495, 0.4900398406374502},
    {0.9830949339834796, -1.9870377110166364, 2.9864957026689245, 0.49803418524338167},
    {0.9866075747081068, -1.9853476874428155, 2.9789790174605857, 0.4976752730412911},
}};
// Adam(lr 0.1, betas (0.9, 0.5), amsgrad)
const Steps kAdamAmsgrad = {{
    {0.900000002, -1.900000001, 2.9000000005, 0.4000000039999998},
    {0.8290937217089079, -1.85487782208031, 2.8516548085042794, 0.45441464508250784},
    {0.8198189479856187, -1.8241246245909983, 2.7820940041993065, 0.46726160655690596},
}};
// AdamW(lr 0.1) with its default weight_decay 1e-2
const Steps kAdamW = {{
    {0.899000002, -1.898000001, 2.8970000005, 0.39950000399999985},
    {0.8177969063826518, -1.8449993939894946, 2.8388831952054976, 0.4614923700625635},
    {0.8076091694498291, -1.8036519313891808, 2.763692151146837, 0.4760129472487483},
}};
// AdamW(lr 0.05, weight_decay 0.5)
const Steps kAdamWStrong = {{
    {0.9250000009999999, -1.9000000005, 2.87500000025, 0.4375000019999999},
    {0.8617229531673257, -1.826948696982747, 2.775515097596749, 0.4577584349832817},
    {0.8354949093249224, -1.761523747955016, 2.6699511397251023, 0.45380550888682336},
}};
// AdamW(lr 0.1, betas (0.9, 0.5), weight_decay 0.1, amsgrad)
const Steps kAdamWAmsgrad = {{
    {0.890000002, -1.880000001, 2.8700000004999997, 0.3950000039999998},
    {0.8101937216889079, -1.81607782207031, 2.792954808499279, 0.4454646450425078},
    {0.7928170107487296, -1.7671638463602952, 2.6954644561093133, 0.45385696006648085},
}};

// ---- helpers ---------------------------------------------------------------------------

std::vector<double> values(const Tensor& t) {
  Tensor c = t.detach().to(ag::kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

Tensor param(ag::Dtype dtype, const std::vector<double>& v = kStart) {
  return ag::tensor(v, {2, 2}, ag::TensorOptions(dtype).requires_grad(true));
}

Tensor grad_of(const std::vector<double>& v, ag::Dtype dtype) { return ag::tensor(v, {2, 2}, ag::TensorOptions(dtype)); }

// Bitwise equality of two tensors of the same dtype and shape.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.detach().contiguous(), cb = b.detach().contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ag::element_size(ca.dtype());
  return std::memcmp(ca.unsafeGetTensorImpl()->raw_data(), cb.unsafeGetTensorImpl()->raw_data(), n) == 0;
}

using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Three steps with kGrads, checking the parameter against `expect` after each.
void check_three_steps(const MakeOpt& make, const Steps& expect, ag::Dtype dtype) {
  const double tol = dtype == ag::kFloat64 ? 1e-13 : 4e-6;
  Tensor p = param(dtype);
  auto opt = make({p});
  for (int s = 0; s < 3; ++s) {
    p.set_grad(grad_of(kGrads[s], dtype));
    opt->step();
    std::vector<double> got = values(p);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(got[i], expect[s][i], tol) << "step " << s + 1 << ", element " << i << ", dtype "
                                             << ag::dtype_name(dtype);
    EXPECT_EQ(p.dtype(), dtype);
    EXPECT_TRUE(p.is_leaf());
    EXPECT_TRUE(p.requires_grad());
  }
}

template <class O, class Opts>
MakeOpt maker(Opts opts) {
  return [opts](std::vector<Tensor> params) { return std::make_unique<O>(std::move(params), opts); };
}

class OptimDtype : public ::testing::TestWithParam<ag::Dtype> {};

// Expects `f` to throw an ag::Error whose message contains `needle`.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no ag::Error thrown; expected one mentioning '" << needle << "'";
  } catch (const ag::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

std::filesystem::path temp_dir() {
  return std::filesystem::temp_directory_path() / ("ag_test_optim_" + std::to_string(::getpid()));
}
std::string temp_path(const std::string& name) {
  std::filesystem::create_directories(temp_dir());
  return (temp_dir() / name).string();
}
// Removes the files the tests wrote.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir(), ec);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

// ---- SGD -------------------------------------------------------------------------------

TEST_P(OptimDtype, SgdPlain) { check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.1)), kSgdPlain, GetParam()); }
TEST_P(OptimDtype, SgdMomentum) {
  check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.1).momentum(0.9)), kSgdMomentum, GetParam());
}
TEST_P(OptimDtype, SgdDampening) {
  check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.1).momentum(0.9).dampening(0.25)), kSgdDampening, GetParam());
}
TEST_P(OptimDtype, SgdNesterov) {
  check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.1).momentum(0.9).nesterov(true)), kSgdNesterov, GetParam());
}
TEST_P(OptimDtype, SgdWeightDecay) {
  check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.1).weight_decay(0.01)), kSgdWeightDecay, GetParam());
}
TEST_P(OptimDtype, SgdMomentumWeightDecayNesterov) {
  check_three_steps(maker<optim::SGD>(optim::SGDOptions(0.05).momentum(0.8).weight_decay(0.1).nesterov(true)), kSgdAll,
                    GetParam());
}

// ---- Adam / AdamW ----------------------------------------------------------------------

TEST_P(OptimDtype, Adam) { check_three_steps(maker<optim::Adam>(optim::AdamOptions(0.1)), kAdam, GetParam()); }
TEST_P(OptimDtype, AdamWeightDecay) {
  check_three_steps(maker<optim::Adam>(optim::AdamOptions(0.1).weight_decay(0.1)), kAdamWeightDecay, GetParam());
}
TEST_P(OptimDtype, AdamBetasEps) {
  check_three_steps(maker<optim::Adam>(optim::AdamOptions(0.01).betas({0.5, 0.75}).eps(1e-3)), kAdamBetas, GetParam());
}
TEST_P(OptimDtype, AdamAmsgrad) {
  check_three_steps(maker<optim::Adam>(optim::AdamOptions(0.1).betas({0.9, 0.5}).amsgrad(true)), kAdamAmsgrad,
                    GetParam());
}
TEST_P(OptimDtype, AdamW) { check_three_steps(maker<optim::AdamW>(optim::AdamWOptions(0.1)), kAdamW, GetParam()); }
TEST_P(OptimDtype, AdamWStrongDecay) {
  check_three_steps(maker<optim::AdamW>(optim::AdamWOptions(0.05).weight_decay(0.5)), kAdamWStrong, GetParam());
}
TEST_P(OptimDtype, AdamWAmsgrad) {
  check_three_steps(maker<optim::AdamW>(optim::AdamWOptions(0.1).betas({0.9, 0.5}).weight_decay(0.1).amsgrad(true)),
                    kAdamWAmsgrad, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, OptimDtype, ::testing::Values(ag::kFloat32, ag::kFloat64),
                         [](const auto& info) { return std::string(ag::dtype_name(info.param)); });

TEST(OptimOptions, DefaultsAndChaining) {
  optim::AdamWOptions w;
  EXPECT_DOUBLE_EQ(w.lr(), 1e-3);
  EXPECT_DOUBLE_EQ(w.weight_decay(), 1e-2);
  EXPECT_DOUBLE_EQ(std::get<0>(w.betas()), 0.9);
  EXPECT_DOUBLE_EQ(std::get<1>(w.betas()), 0.999);
  EXPECT_DOUBLE_EQ(w.eps(), 1e-8);
  EXPECT_FALSE(w.amsgrad());
  optim::AdamOptions a;
  EXPECT_DOUBLE_EQ(a.weight_decay(), 0.0);
  optim::SGDOptions s = optim::SGDOptions(0.5).momentum(0.9).dampening(0.1).weight_decay(0.2);
  EXPECT_DOUBLE_EQ(s.lr(), 0.5);
  EXPECT_DOUBLE_EQ(s.momentum(), 0.9);
  EXPECT_DOUBLE_EQ(s.dampening(), 0.1);
  EXPECT_DOUBLE_EQ(s.weight_decay(), 0.2);
  EXPECT_FALSE(s.nesterov());
  s.lr() = 0.25;  // libtorch's reference access
  EXPECT_DOUBLE_EQ(s.get_lr(), 0.25);
}

// The state of Adam after three steps: step count and moments, by hand.
TEST(OptimAdam, StateAfterThreeSteps) {
  Tensor p = param(ag::kFloat64);
  optim::Adam opt({p}, optim::AdamOptions(0.1).betas({0.9, 0.5}).amsgrad(true));
  EXPECT_EQ(opt.state_of(p), nullptr);
  for (int s = 0; s < 3; ++s) {
    p.set_grad(grad_of(kGrads[s], ag::kFloat64));
    opt.step();
  }
  auto* st = dynamic_cast<optim::AdamParamState*>(opt.state_of(p));
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->step, 3);
  std::vector<double> m = values(st->exp_avg), v = values(st->exp_avg_sq), vmax = values(st->max_exp_avg_sq);
  for (int i = 0; i < 4; ++i) {
    double em = 0, ev = 0, evmax = 0;
    for (int s = 0; s < 3; ++s) {
      const double g = kGrads[s][i];
      em = 0.9 * em + 0.1 * g;
      ev = 0.5 * ev + 0.5 * g * g;
      evmax = std::max(evmax, ev);
    }
    EXPECT_NEAR(m[i], em, 1e-15);
    EXPECT_NEAR(v[i], ev, 1e-15);
    EXPECT_NEAR(vmax[i], evmax, 1e-15);
  }
}

// Long parameters exercise the vector body and the scalar tail of the update loops.
TEST(OptimKernels, LongParameterMatchesScalarFormula) {
  const int64_t n = 1037;
  ag::manual_seed(7);
  Tensor p0 = ag::randn({n}, ag::TensorOptions(ag::kFloat64));
  std::vector<Tensor> grads;
  for (int s = 0; s < 3; ++s) grads.push_back(ag::randn({n}, ag::TensorOptions(ag::kFloat64)));
  const std::vector<double> start = values(p0);

  Tensor ps = p0.clone().requires_grad_(true);
  Tensor pa = p0.clone().requires_grad_(true);
  optim::SGD sgd({ps}, optim::SGDOptions(0.05).momentum(0.7).dampening(0.1).weight_decay(0.03));
  optim::Adam adam({pa}, optim::AdamOptions(0.02).betas({0.8, 0.9}).eps(1e-6).weight_decay(0.05).amsgrad(true));
  std::vector<double> es = start, ea = start, buf(n), m(n, 0.0), v(n, 0.0), vmax(n, 0.0);
  for (int s = 0; s < 3; ++s) {
    ps.set_grad(grads[s]);
    pa.set_grad(grads[s]);
    sgd.step();
    adam.step();
    const std::vector<double> g = values(grads[s]);
    for (int64_t i = 0; i < n; ++i) {
      double d = g[i] + 0.03 * es[i];
      buf[i] = s == 0 ? d : 0.7 * buf[i] + 0.9 * d;
      es[i] -= 0.05 * buf[i];
      double ga = g[i] + 0.05 * ea[i];
      m[i] = 0.8 * m[i] + 0.2 * ga;
      v[i] = 0.9 * v[i] + 0.1 * ga * ga;
      vmax[i] = std::max(vmax[i], v[i]);
      const double mhat = m[i] / (1 - std::pow(0.8, s + 1)), vhat = vmax[i] / (1 - std::pow(0.9, s + 1));
      ea[i] -= 0.02 * mhat / (std::sqrt(vhat) + 1e-6);
    }
  }
  const std::vector<double> gs = values(ps), ga = values(pa);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_NEAR(gs[i], es[i], 1e-13) << i;
    ASSERT_NEAR(ga[i], ea[i], 1e-13) << i;
  }
}

// ---- behaviour of step ---------------------------------------------------------------

TEST(OptimStep, GradientFromBackward) {
  // loss = 0.5 * sum(p * p) has gradient p, so plain SGD scales p by (1 - lr) each step.
  Tensor p = param(ag::kFloat32);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    Tensor loss = (p * p).sum() * 0.5;
    loss.backward();
    opt.step();
  }
  std::vector<double> got = values(p);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], kStart[i] * 0.729, 1e-6);
  EXPECT_EQ(p.grad_fn(), nullptr);
}

TEST(OptimStep, ClosureReturnsLossAndRunsWithGrad) {
  Tensor p = param(ag::kFloat64);
  optim::SGD opt({p}, optim::SGDOptions(0.5));
  ag::NoGradGuard outer;  // step's closure still records a graph
  Tensor loss = opt.step([&] {
    opt.zero_grad();
    Tensor l = (p * p).sum();
    l.backward();
    return l;
  });
  EXPECT_DOUBLE_EQ(loss.item<double>(), 1.0 + 4.0 + 9.0 + 0.25);
  std::vector<double> got = values(p);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(got[i], 0.0);  // p - 0.5 * 2p
  EXPECT_FALSE(ag::GradMode::is_enabled());
}

TEST(OptimStep, SkipsParametersWithoutGrad) {
  Tensor a = param(ag::kFloat64), b = param(ag::kFloat64);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(grad_of(kGrads[0], ag::kFloat64));
  opt.step();
  EXPECT_EQ(values(b), kStart);
  EXPECT_EQ(opt.state_of(b), nullptr);
  EXPECT_NE(opt.state_of(a), nullptr);
  EXPECT_NEAR(values(a)[0], kAdam[0][0], 1e-13);
}

TEST(OptimStep, BumpsVersionAndRecordsNoGraph) {
  Tensor p = param(ag::kFloat32);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  const uint32_t v0 = p._version();
  p.set_grad(grad_of(kGrads[0], ag::kFloat32));
  opt.step();
  EXPECT_GT(p._version(), v0);
  EXPECT_TRUE(p.is_leaf());
  EXPECT_EQ(p.grad_fn(), nullptr);
  EXPECT_TRUE(ag::GradMode::is_enabled());
}

TEST(OptimStep, NonContiguousParameterAndGrad) {
  // p is a transposed view of `base` (a leaf, since base does not require grad).
  Tensor base = ag::tensor(std::vector<double>{1.0, 2.0, 3.0, 4.0}, {2, 2}, ag::TensorOptions(ag::kFloat64));
  Tensor p = base.t();
  p.requires_grad_(true);
  ASSERT_FALSE(p.is_contiguous());
  optim::SGD opt({p}, optim::SGDOptions(0.5).momentum(0.5));
  Tensor gbase = ag::tensor(std::vector<double>{1.0, 0.0, 2.0, 4.0}, {2, 2}, ag::TensorOptions(ag::kFloat64));
  p.set_grad(gbase.t());  // logical grad of p: [[1, 2], [0, 4]]
  opt.step();
  // p = [[1, 3], [2, 4]] - 0.5 * [[1, 2], [0, 4]] = [[0.5, 2], [2, 2]]; base is p transposed.
  EXPECT_EQ(values(p), (std::vector<double>{0.5, 2.0, 2.0, 2.0}));
  EXPECT_EQ(values(base), (std::vector<double>{0.5, 2.0, 2.0, 2.0}));
  opt.step();  // buf = 0.5 * g + g = 1.5 g
  EXPECT_EQ(values(p), (std::vector<double>{-0.25, 0.5, 2.0, -1.0}));
}

// ---- zero_grad ---------------------------------------------------------------------------

TEST(OptimZeroGrad, SetToNone) {
  Tensor a = param(ag::kFloat32), b = param(ag::kFloat32);
  optim::SGD opt({a, b}, optim::SGDOptions(0.1));
  a.set_grad(grad_of(kGrads[0], ag::kFloat32));
  opt.zero_grad();  // set_to_none = true by default
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  opt.step();  // nothing to do
  EXPECT_EQ(values(a), kStart);
}

TEST(OptimZeroGrad, InPlaceKeepsTheSameTensor) {
  Tensor a = param(ag::kFloat64), b = param(ag::kFloat64);
  optim::SGD opt({a, b}, optim::SGDOptions(0.1));
  Tensor g = grad_of(kGrads[0], ag::kFloat64);
  a.set_grad(g);
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().data_ptr<double>(), g.data_ptr<double>());
  EXPECT_EQ(values(a.grad()), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(values(g), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_FALSE(b.grad().defined());  // undefined grads stay undefined
  // Gradients accumulate into the zeroed tensor afterwards.
  (a * 3.0).sum().backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{3, 3, 3, 3}));
}

TEST(OptimZeroGrad, InPlaceDetachesAGradWithHistory) {
  Tensor p = param(ag::kFloat64);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  (p * p * p).sum().backward({}, true, /*create_graph=*/true);
  ASSERT_NE(p.grad().grad_fn(), nullptr);
  opt.zero_grad(false);
  EXPECT_EQ(p.grad().grad_fn(), nullptr);
  EXPECT_EQ(values(p.grad()), (std::vector<double>{0, 0, 0, 0}));
}

// ---- param groups and lr access ----------------------------------------------------------

TEST(OptimGroups, PerGroupOptions) {
  Tensor a = param(ag::kFloat64), b = param(ag::kFloat64), c = param(ag::kFloat64);
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{a});
  groups.emplace_back(std::vector<Tensor>{b}, std::make_unique<optim::SGDOptions>(optim::SGDOptions(0.5)));
  optim::SGD opt(groups, optim::SGDOptions(0.1));
  opt.add_param_group(optim::OptimizerParamGroup({c}));
  ASSERT_EQ(opt.param_groups().size(), 3u);
  EXPECT_EQ(opt.size(), 3u);
  EXPECT_EQ(opt.parameters().size(), 3u);
  EXPECT_TRUE(opt.parameters()[1].is_same(b));
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.1);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.5);
  EXPECT_DOUBLE_EQ(opt.param_groups()[2].options().get_lr(), 0.1);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1);
  for (const Tensor& t : {a, b, c}) t.set_grad(grad_of({1, 1, 1, 1}, ag::kFloat64));
  opt.step();
  EXPECT_DOUBLE_EQ(values(a)[0], 0.9);
  EXPECT_DOUBLE_EQ(values(b)[0], 0.5);
  EXPECT_DOUBLE_EQ(values(c)[0], 0.9);
  // libtorch-style access to a group's options.
  static_cast<optim::SGDOptions&>(opt.param_groups()[2].options()).lr(0.25);
  opt.step();
  EXPECT_DOUBLE_EQ(values(c)[0], 0.65);
  opt.set_lr(0.0);
  for (const auto& g : opt.param_groups()) EXPECT_DOUBLE_EQ(g.options().get_lr(), 0.0);
  opt.step();
  EXPECT_DOUBLE_EQ(values(a)[0], 0.8);
}

// ---- schedulers --------------------------------------------------------------------------

TEST(OptimSchedulers, StepLRClosedForm) {
  Tensor a = param(ag::kFloat64), b = param(ag::kFloat64);
  std::vector<optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<Tensor>{a});
  groups.emplace_back(std::vector<Tensor>{b}, std::make_unique<optim::SGDOptions>(0.2));
  optim::SGD opt(groups, optim::SGDOptions(0.1));
  optim::StepLR sched(opt, /*step_size=*/3, /*gamma=*/0.5);
  EXPECT_EQ(sched.last_epoch(), 0);
  EXPECT_EQ(sched.get_last_lr(), (std::vector<double>{0.1, 0.2}));
  for (int e = 1; e <= 10; ++e) {
    sched.step();
    const double f = std::pow(0.5, e / 3);
    EXPECT_EQ(sched.last_epoch(), e);
    EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.1 * f) << e;
    EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.2 * f) << e;
    EXPECT_EQ(sched.get_last_lr(), (std::vector<double>{opt.param_groups()[0].options().get_lr(),
                                                        opt.param_groups()[1].options().get_lr()}));
  }
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1 * 0.125);  // epoch 10: three decays
}

TEST(OptimSchedulers, CosineAnnealingLRClosedForm) {
  Tensor p = param(ag::kFloat32);
  optim::Adam opt({p}, optim::AdamOptions(0.1));
  optim::CosineAnnealingLR sched(opt, /*T_max=*/10, /*eta_min=*/0.001);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1);
  for (int e = 1; e <= 10; ++e) {
    sched.step();
    const double expect = 0.001 + (0.1 - 0.001) * (1 + std::cos(std::numbers::pi * e / 10)) / 2;
    EXPECT_NEAR(opt.lr(), expect, 1e-15) << e;
    EXPECT_NEAR(sched.get_last_lr()[0], expect, 1e-15) << e;
  }
  EXPECT_NEAR(opt.lr(), 0.001, 1e-15);  // T_max reached: eta_min
  EXPECT_NEAR(opt.lr(), 0.001, 1e-15);
  optim::CosineAnnealingLR zero_min(opt, 4);  // eta_min defaults to 0; base is now 0.001
  zero_min.step();
  zero_min.step();
  EXPECT_NEAR(opt.lr(), 0.0005, 1e-15);  // halfway
}

TEST(OptimSchedulers, StateDictResumes) {
  Tensor p = param(ag::kFloat64);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  optim::StepLR sched(opt, 2, 0.1);
  for (int e = 0; e < 5; ++e) sched.step();
  optim::Metadata saved_sched = sched.state_dict();
  optim::OptimizerStateDict saved_opt = opt.state_dict();
  EXPECT_EQ(saved_sched.at("last_epoch"), "5");
  EXPECT_EQ(saved_sched.at("scheduler"), "StepLR");

  Tensor q = param(ag::kFloat64);
  optim::SGD opt2({q}, optim::SGDOptions(0.1));
  optim::StepLR sched2(opt2, 2, 0.1);
  opt2.load_state_dict(saved_opt);
  sched2.load_state_dict(saved_sched);
  EXPECT_EQ(sched2.last_epoch(), 5);
  EXPECT_EQ(opt2.lr(), opt.lr());
  for (int e = 0; e < 3; ++e) {
    sched.step();
    sched2.step();
    EXPECT_EQ(opt2.lr(), opt.lr());
  }
  EXPECT_DOUBLE_EQ(opt2.lr(), 0.1 * 1e-4);  // epoch 8
  optim::CosineAnnealingLR other(opt2, 5);
  expect_error([&] { other.load_state_dict(saved_sched); }, "StepLR");
}

// ---- state_dict: resume exactly ------------------------------------------------------------

// Gradient for step k of the round-trip runs: depends on the parameter and on k.
void set_grads(const std::vector<Tensor>& params, int k) {
  ag::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 1 && k % 2 == 0) {  // parameter 1 only gets a grad on odd steps
      params[i].set_grad(Tensor());
      continue;
    }
    params[i].set_grad(ag::sin(params[i].detach() * 3.0) + 0.1 * (k + 1) - 0.05 * static_cast<double>(i));
  }
}

std::vector<Tensor> fresh_params(const std::vector<Tensor>& values) {
  std::vector<Tensor> out;
  for (const Tensor& v : values) out.push_back(v.detach().clone().requires_grad_(true));
  return out;
}

using MakeOptP = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Train 5 steps, save, train 5 more; versus restore the parameters and the saved state
// into a fresh optimizer (through memory and through a file) and train the same 5.
void check_resume(const MakeOptP& make, ag::Dtype dtype, const std::string& file) {
  ag::manual_seed(3);
  std::vector<Tensor> init = {ag::randn({3, 5}, ag::TensorOptions(dtype)), ag::randn({7}, ag::TensorOptions(dtype)),
                              ag::randn({2, 2}, ag::TensorOptions(dtype))};
  std::vector<Tensor> params = fresh_params(init);
  auto opt = make(params);
  for (int k = 0; k < 5; ++k) {
    set_grads(params, k);
    opt->step();
  }
  std::vector<Tensor> mid;
  for (const Tensor& p : params) mid.push_back(p.detach().clone());
  optim::OptimizerStateDict sd = opt->state_dict();
  optim::save(*opt, file);
  for (int k = 5; k < 10; ++k) {
    set_grads(params, k);
    opt->step();
  }

  for (int via_file = 0; via_file < 2; ++via_file) {
    std::vector<Tensor> params2 = fresh_params(mid);
    auto opt2 = make(params2);
    if (via_file) optim::load(*opt2, file);
    else opt2->load_state_dict(sd);
    for (int k = 5; k < 10; ++k) {
      set_grads(params2, k);
      opt2->step();
    }
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(same_bits(params[i], params2[i])) << opt->name() << " param " << i << (via_file ? " (file)" : "");
  }
  // Without the state the continuation differs (the test can fail).
  std::vector<Tensor> params3 = fresh_params(mid);
  auto opt3 = make(params3);
  for (int k = 5; k < 10; ++k) {
    set_grads(params3, k);
    opt3->step();
  }
  EXPECT_FALSE(same_bits(params[0], params3[0])) << opt->name();
}

TEST_P(OptimDtype, ResumeSgdMomentum) {
  check_resume(maker<optim::SGD>(optim::SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3)), GetParam(),
               temp_path("sgd.safetensors"));
}
TEST_P(OptimDtype, ResumeAdamAmsgrad) {
  check_resume(maker<optim::Adam>(optim::AdamOptions(0.01).amsgrad(true).weight_decay(1e-2)), GetParam(),
               temp_path("adam.safetensors"));
}
TEST_P(OptimDtype, ResumeAdamW) {
  check_resume(maker<optim::AdamW>(optim::AdamWOptions(0.01)), GetParam(), temp_path("adamw.safetensors"));
}

TEST(OptimStateDict, NamesAndMetadata) {
  Tensor a = param(ag::kFloat32), b = param(ag::kFloat32);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1).amsgrad(true));
  b.set_grad(grad_of(kGrads[0], ag::kFloat32));
  opt.step();
  opt.step();
  optim::OptimizerStateDict sd = opt.state_dict();
  ASSERT_EQ(sd.tensors.size(), 3u);
  EXPECT_EQ(sd.tensors[0].first, "1.exp_avg");
  EXPECT_EQ(sd.tensors[1].first, "1.exp_avg_sq");
  EXPECT_EQ(sd.tensors[2].first, "1.max_exp_avg_sq");
  EXPECT_EQ(sd.metadata.at("optimizer"), "Adam");
  EXPECT_EQ(sd.metadata.at("state"), "1");
  EXPECT_EQ(sd.metadata.at("1.step"), "2");
  EXPECT_EQ(sd.metadata.at("param_groups"), "1");
  EXPECT_EQ(sd.metadata.at("group.0.params"), "2");
  EXPECT_EQ(sd.metadata.at("group.0.lr"), "0.1");
  EXPECT_EQ(sd.metadata.at("group.0.amsgrad"), "1");
  EXPECT_EQ(sd.metadata.count("0.step"), 0u);
  // The tensors are copies: stepping on does not change a saved state.
  const std::vector<double> saved = values(sd.tensors[0].second);
  opt.step();
  EXPECT_EQ(values(sd.tensors[0].second), saved);

  optim::SGD sgd({a}, optim::SGDOptions(0.1).momentum(0.5));
  a.set_grad(grad_of(kGrads[0], ag::kFloat32));
  sgd.step();
  optim::OptimizerStateDict ss = sgd.state_dict();
  ASSERT_EQ(ss.tensors.size(), 1u);
  EXPECT_EQ(ss.tensors[0].first, "0.momentum_buffer");
  EXPECT_EQ(values(ss.tensors[0].second), kGrads[0]);
  EXPECT_EQ(ss.metadata.at("group.0.momentum"), "0.5");
}

TEST(OptimStateDict, LoadRestoresGroupOptions) {
  Tensor a = param(ag::kFloat64);
  optim::SGD opt({a}, optim::SGDOptions(0.3).momentum(0.25).weight_decay(0.125));
  Tensor b = param(ag::kFloat64);
  optim::SGD opt2({b}, optim::SGDOptions(0.1));
  opt2.load_state_dict(opt.state_dict());
  const auto& o = static_cast<const optim::SGDOptions&>(opt2.param_groups()[0].options());
  EXPECT_EQ(o.lr(), 0.3);
  EXPECT_EQ(o.momentum(), 0.25);
  EXPECT_EQ(o.weight_decay(), 0.125);
}

TEST(OptimStateDict, FileRoundTripWithScheduler) {
  const std::string file = temp_path("with_sched.safetensors");
  Tensor a = param(ag::kFloat32);
  optim::SGD opt({a}, optim::SGDOptions(0.1).momentum(0.9));
  optim::CosineAnnealingLR sched(opt, 8, 0.01);
  for (int k = 0; k < 3; ++k) {
    set_grads({a}, 1);
    opt.step();
    sched.step();
  }
  optim::save(opt, sched, file);
  Tensor b = a.detach().clone().requires_grad_(true);
  optim::SGD opt2({b}, optim::SGDOptions(0.1).momentum(0.9));
  optim::CosineAnnealingLR sched2(opt2, 8, 0.01);
  optim::load(opt2, sched2, file);
  EXPECT_EQ(sched2.last_epoch(), 3);
  EXPECT_EQ(opt2.lr(), opt.lr());
  for (int k = 0; k < 4; ++k) {
    set_grads({a}, 1);
    set_grads({b}, 1);
    opt.step();
    opt2.step();
    sched.step();
    sched2.step();
  }
  EXPECT_TRUE(same_bits(a, b));
  EXPECT_EQ(opt2.lr(), opt.lr());
  // A file without a scheduler's state cannot fill one.
  optim::save(opt, file);
  expect_error([&] { optim::load(opt2, sched2, file); }, "no scheduler state");
}

#if __has_include("ag/nn/serialize.hpp")
// optim::save writes the same safetensors layout as ag::nn::save_tensors: each reads the other.
TEST(OptimStateDict, FilesInterchangeWithNnSaveTensors) {
  Tensor a = param(ag::kFloat64), b = param(ag::kFloat32);
  optim::AdamW opt({a, b}, optim::AdamWOptions(0.01).amsgrad(true));
  for (int k = 0; k < 2; ++k) {
    set_grads({a, b}, k);
    opt.step();
  }
  const optim::OptimizerStateDict sd = opt.state_dict();
  const std::string file = temp_path("interop.safetensors");
  optim::save(opt, file);
  ag::nn::Metadata md;
  ag::nn::NamedTensors read = ag::nn::load_tensors(file, &md);
  EXPECT_EQ(md, sd.metadata);
  ASSERT_EQ(read.size(), sd.tensors.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].first, sd.tensors[i].first);
    EXPECT_TRUE(same_bits(read[i].second, sd.tensors[i].second)) << read[i].first;
  }
  const std::string file2 = temp_path("interop2.safetensors");
  ag::nn::save_tensors(sd.tensors, file2, sd.metadata);
  Tensor c = param(ag::kFloat64), d = param(ag::kFloat32);
  optim::AdamW opt2({c, d}, optim::AdamWOptions(0.5));
  optim::load(opt2, file2);
  const optim::OptimizerStateDict back = opt2.state_dict();
  EXPECT_EQ(back.metadata, sd.metadata);
  ASSERT_EQ(back.tensors.size(), sd.tensors.size());
  for (size_t i = 0; i < back.tensors.size(); ++i) EXPECT_TRUE(same_bits(back.tensors[i].second, sd.tensors[i].second));
}
#endif

// ---- bad input: ag::Error, nothing changed ----------------------------------------------------

TEST(OptimErrors, BadParameters) {
  expect_error([] { optim::SGD(std::vector<Tensor>{}, optim::SGDOptions(0.1)); }, "empty parameter list");
  expect_error([] { optim::Adam(std::vector<optim::OptimizerParamGroup>{}, optim::AdamOptions(0.1)); },
               "empty parameter list");
  expect_error([] { optim::SGD({Tensor()}, optim::SGDOptions(0.1)); }, "undefined parameter");
  expect_error([] { optim::SGD({ag::tensor({int64_t{1}, int64_t{2}})}, optim::SGDOptions(0.1)); }, "dtype int64");
  expect_error([] { optim::SGD({ag::zeros({2})}, optim::SGDOptions(0.1)); },
               "optimizer got a parameter that does not require grad");
  Tensor p = param(ag::kFloat32);
  expect_error([&] { optim::Adam({p * 2.0}, optim::AdamOptions(0.1)); }, "non-leaf");
  expect_error([&] { optim::Adam({p, p}, optim::AdamOptions(0.1)); }, "appears twice");
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  expect_error([&] { opt.add_param_group(optim::OptimizerParamGroup({p})); }, "appears twice");
  expect_error(
      [&] {
        opt.add_param_group(optim::OptimizerParamGroup({param(ag::kFloat32)}, std::make_unique<optim::AdamOptions>(0.1)));
      },
      "options of Adam");
  EXPECT_EQ(opt.param_groups().size(), 1u);
  EXPECT_EQ(values(p), kStart);
}

TEST(OptimErrors, BadOptionsAtConstruction) {
  Tensor p = param(ag::kFloat64);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(-0.1)); }, "invalid learning rate: -0.1");
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(nan)); }, "invalid learning rate");
  expect_error([&] { optim::Adam({p}, optim::AdamOptions(inf)); }, "invalid learning rate");
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(0.1).momentum(-0.5)); }, "invalid momentum value");
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(0.1).weight_decay(-1)); }, "invalid weight_decay value");
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)); }, "Nesterov momentum requires");
  expect_error([&] { optim::SGD({p}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)); },
               "zero dampening");
  expect_error([&] { optim::Adam({p}, optim::AdamOptions(0.1).eps(-1e-8)); }, "invalid epsilon value");
  expect_error([&] { optim::Adam({p}, optim::AdamOptions(0.1).weight_decay(-0.1)); }, "invalid weight_decay value");
  expect_error([&] { optim::Adam({p}, optim::AdamOptions(0.1).betas({1.0, 0.999})); }, "beta parameter at index 0");
  expect_error([&] { optim::AdamW({p}, optim::AdamWOptions(0.1).betas({0.9, -0.1})); }, "beta parameter at index 1");
  expect_error([&] { optim::AdamW({p}, optim::AdamWOptions(0.1).betas({0.9, nan})); }, "beta parameter at index 1");
  expect_error([&] { optim::AdamW({p}, optim::AdamWOptions(0.1).weight_decay(inf)); }, "invalid weight_decay value");
  EXPECT_EQ(values(p), kStart);
}

TEST(OptimErrors, BadSchedulerArguments) {
  Tensor p = param(ag::kFloat64);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  expect_error([&] { optim::StepLR(opt, 0, 0.5); }, "step_size must be >= 1");
  expect_error([&] { optim::StepLR(opt, 2, -0.5); }, "invalid gamma");
  expect_error([&] { optim::CosineAnnealingLR(opt, 0); }, "T_max must be >= 1");
  expect_error([&] { optim::CosineAnnealingLR(opt, 5, -1.0); }, "invalid eta_min");
  EXPECT_EQ(opt.lr(), 0.1);
  optim::StepLR sched(opt, 1, 0.5);
  opt.add_param_group(optim::OptimizerParamGroup({param(ag::kFloat64)}));
  expect_error([&] { sched.step(); }, "param groups");
  EXPECT_EQ(sched.last_epoch(), 0);
  EXPECT_EQ(opt.lr(), 0.1);
}

TEST(OptimErrors, BadLearningRateLater) {
  Tensor p = param(ag::kFloat64);
  optim::SGD opt({p}, optim::SGDOptions(0.1));
  expect_error([&] { opt.set_lr(-1.0); }, "invalid learning rate");
  EXPECT_EQ(opt.lr(), 0.1);
  // A group's options made invalid behind the optimizer's back: step refuses, changes nothing.
  opt.param_groups()[0].options().set_lr(std::numeric_limits<double>::quiet_NaN());
  p.set_grad(grad_of(kGrads[0], ag::kFloat64));
  expect_error([&] { opt.step(); }, "invalid learning rate");
  EXPECT_EQ(values(p), kStart);
  opt.param_groups()[0].options().set_lr(0.1);
  static_cast<optim::SGDOptions&>(opt.param_groups()[0].options()).nesterov(true);
  expect_error([&] { opt.step(); }, "Nesterov");
  EXPECT_EQ(values(p), kStart);
}

TEST(OptimErrors, BadGradientsLeaveEveryParameterUnchanged) {
  // Parameter 0 has a good grad, parameter 1 a bad one: neither may change.
  Tensor a = param(ag::kFloat32), b = param(ag::kFloat32);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(grad_of(kGrads[0], ag::kFloat32));
  // A float64 grad on a float32 parameter (set_grad itself may refuse a wrong dtype, so the
  // grad passes as float32 while it is set).
  Tensor g64 = grad_of(kGrads[0], ag::kFloat64);
  g64.unsafeGetTensorImpl()->dtype = ag::kFloat32;
  b.set_grad(g64);
  g64.unsafeGetTensorImpl()->dtype = ag::kFloat64;
  expect_error([&] { opt.step(); }, "the grad of parameter 1 has dtype float64 but the parameter has dtype float32");
  EXPECT_EQ(values(a), kStart);
  EXPECT_EQ(values(b), kStart);
  EXPECT_EQ(opt.state_of(a), nullptr);

  // A grad whose shape changed after it was set (set_grad itself refuses a wrong shape).
  Tensor g = grad_of(kGrads[0], ag::kFloat32);
  b.set_grad(g);
  g.unsafeGetTensorImpl()->shape = ag::Shape{4};
  g.unsafeGetTensorImpl()->strides = ag::Shape{1};
  expect_error([&] { opt.step(); }, "the grad of parameter 1 has shape [4] but the parameter has shape [2, 2]");
  EXPECT_EQ(values(a), kStart);
  EXPECT_EQ(values(b), kStart);
  EXPECT_EQ(opt.state_of(a), nullptr);
}

// load_state_dict: every mismatch is an ag::Error and changes neither options nor state.
TEST(OptimErrors, BadStateDicts) {
  Tensor a = param(ag::kFloat32), b = param(ag::kFloat32);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1).amsgrad(true));
  for (const Tensor& t : {a, b}) t.set_grad(grad_of(kGrads[0], ag::kFloat32));
  opt.step();
  const optim::OptimizerStateDict good = opt.state_dict();

  Tensor c = param(ag::kFloat32), d = param(ag::kFloat32);
  optim::Adam target({c, d}, optim::AdamOptions(0.5));
  c.set_grad(grad_of(kGrads[1], ag::kFloat32));
  target.step();
  const optim::OptimizerStateDict before = target.state_dict();
  auto unchanged = [&] {
    optim::OptimizerStateDict now = target.state_dict();
    EXPECT_EQ(now.metadata, before.metadata);
    ASSERT_EQ(now.tensors.size(), before.tensors.size());
    for (size_t i = 0; i < now.tensors.size(); ++i) {
      EXPECT_EQ(now.tensors[i].first, before.tensors[i].first);
      EXPECT_TRUE(same_bits(now.tensors[i].second, before.tensors[i].second));
    }
  };
  auto try_load = [&](optim::OptimizerStateDict sd, const std::string& needle) {
    expect_error([&] { target.load_state_dict(sd); }, needle);
    unchanged();
  };

  {  // another optimizer's state
    Tensor s = param(ag::kFloat32);
    optim::SGD sgd({s}, optim::SGDOptions(0.1));
    try_load(sgd.state_dict(), "saved by a SGD optimizer, this one is Adam");
  }
  {  // another parameter layout
    Tensor s = param(ag::kFloat32);
    optim::Adam one({s}, optim::AdamOptions(0.1));
    try_load(one.state_dict(), "has 1 parameters, this optimizer's has 2");
  }
  auto sd = good;
  sd.metadata["param_groups"] = "2";
  try_load(sd, "the state has 2 param groups");
  sd = good;
  sd.tensors[1].second = ag::zeros({4}, ag::TensorOptions(ag::kFloat32));
  try_load(sd, "has shape [4] but parameter 0 has shape [2, 2]");
  sd = good;
  sd.tensors[0].second = ag::zeros({2, 2}, ag::TensorOptions(ag::kFloat64));
  try_load(sd, "has dtype float64 but parameter 0 has dtype float32");
  sd = good;
  sd.tensors.erase(sd.tensors.begin());  // 0.exp_avg
  try_load(sd, "lacks '0.exp_avg'");
  sd = good;
  sd.tensors.pop_back();  // 1.max_exp_avg_sq, needed with amsgrad
  try_load(sd, "max_exp_avg_sq");
  sd = good;
  sd.tensors.emplace_back("1.momentum_buffer", ag::zeros({2, 2}));
  try_load(sd, "unexpected tensor '1.momentum_buffer'");
  sd = good;
  sd.tensors.emplace_back("1.exp_avg", ag::zeros({2, 2}));
  try_load(sd, "appears twice");
  sd = good;
  sd.metadata["group.0.lr"] = "-1";
  try_load(sd, "invalid learning rate");
  sd = good;
  sd.metadata["group.0.beta2"] = "0.9x";
  try_load(sd, "is not a number");
  sd = good;
  sd.metadata.erase("group.0.eps");
  try_load(sd, "no 'group.0.eps' entry");
  sd = good;
  sd.metadata["state"] = "0,5";
  try_load(sd, "names parameter 5");
  sd = good;
  sd.metadata["0.step"] = "0";
  try_load(sd, "has step 0");
  sd = good;
  sd.metadata["format"] = "something.else";
  try_load(sd, "unknown state format");

  // And the good one loads.
  target.load_state_dict(good);
  EXPECT_EQ(target.state_dict().metadata, good.metadata);
  EXPECT_EQ(target.lr(), 0.1);
}

TEST(OptimErrors, BadFiles) {
  Tensor a = param(ag::kFloat32);
  optim::SGD opt({a}, optim::SGDOptions(0.1).momentum(0.9));
  a.set_grad(grad_of(kGrads[0], ag::kFloat32));
  opt.step();
  const optim::OptimizerStateDict before = opt.state_dict();
  auto unchanged = [&] {
    optim::OptimizerStateDict now = opt.state_dict();
    EXPECT_EQ(now.metadata, before.metadata);
    ASSERT_EQ(now.tensors.size(), 1u);
    EXPECT_TRUE(same_bits(now.tensors[0].second, before.tensors[0].second));
  };

  expect_error([&] { optim::load(opt, temp_path("does_not_exist.safetensors")); }, "cannot open");
  unchanged();

  Tensor b = param(ag::kFloat32);
  optim::SGD other({b}, optim::SGDOptions(0.2).momentum(0.5));
  b.set_grad(grad_of(kGrads[1], ag::kFloat32));
  other.step();
  const std::string file = temp_path("bad.safetensors");
  optim::save(other, file);
  const auto size = std::filesystem::file_size(file);
  std::filesystem::resize_file(file, size - 3);  // truncated data
  expect_error([&] { optim::load(opt, file); }, "truncated");
  unchanged();

  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    const uint64_t len = 16;
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << "{not json at all";
  }
  expect_error([&] { optim::load(opt, file); }, "corrupt header");
  unchanged();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    const uint64_t len = uint64_t{1} << 40;
    out.write(reinterpret_cast<const char*>(&len), 8);
  }
  expect_error([&] { optim::load(opt, file); }, "not a safetensors file");
  unchanged();

  // Saving over an existing file replaces it whole and leaves no temporary behind.
  optim::save(other, file);
  optim::load(opt, file);
  EXPECT_EQ(opt.lr(), 0.2);
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(file).parent_path()))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  expect_error([&] { optim::save(other, "/nonexistent_dir_ag/x.safetensors"); }, "cannot create");
}

}  // namespace
