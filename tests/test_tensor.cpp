// ag::Tensor without autograd: factories, dtypes, shapes and strides, storage sharing of
// views, conversions, broadcasting and promotion of the arithmetic operators, comparisons,
// and the printed form (PyTorch's format without column padding, see API.md).
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/allocator.hpp"

namespace {

using Dims = std::vector<int64_t>;

std::vector<float> values_f(const ag::Tensor& t) {
  ag::Tensor c = t.to(ag::kFloat32).contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}
std::vector<int64_t> values_i(const ag::Tensor& t) {
  ag::Tensor c = t.to(ag::kInt64).contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}
std::vector<bool> values_b(const ag::Tensor& t) {
  ag::Tensor c = t.to(ag::kBool).contiguous();
  const bool* p = c.data_ptr<bool>();
  return std::vector<bool>(p, p + c.numel());
}
std::string str(const ag::Tensor& t) {
  std::ostringstream s;
  s << t;
  return s.str();
}
const void* storage_of(const ag::Tensor& t) { return t.unsafeGetTensorImpl()->storage.get(); }

}  // namespace

// ---- factories ----------------------------------------------------------------------------

TEST(Factories, ZerosOnesFullEmpty) {
  ag::Tensor z = ag::zeros({2, 3});
  EXPECT_EQ(z.shape(), (Dims{2, 3}));
  EXPECT_EQ(z.dtype(), ag::kFloat32);
  EXPECT_EQ(values_f(z), std::vector<float>(6, 0.f));
  EXPECT_EQ(values_f(ag::ones({4})), std::vector<float>(4, 1.f));
  ag::Tensor f = ag::full({2, 2}, 2.5, ag::kFloat64);
  EXPECT_EQ(f.dtype(), ag::kFloat64);
  EXPECT_EQ(f.data_ptr<double>()[3], 2.5);
  ag::Tensor fi = ag::full({3}, 7, ag::kInt64);
  EXPECT_EQ(values_i(fi), (std::vector<int64_t>{7, 7, 7}));
  ag::Tensor fb = ag::full({2}, 1, ag::kBool);
  EXPECT_EQ(values_b(fb), (std::vector<bool>{true, true}));
  ag::Tensor e = ag::empty({5, 0, 2}, ag::kInt64);
  EXPECT_EQ(e.shape(), (Dims{5, 0, 2}));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.dtype(), ag::kInt64);
  ag::Tensor s = ag::zeros({});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item<float>(), 0.f);
  EXPECT_TRUE(ag::ones({2}, ag::TensorOptions().requires_grad(true)).requires_grad());
  EXPECT_FALSE(ag::ones({2}).requires_grad());
}

TEST(Factories, Eye) {
  ag::Tensor i3 = ag::eye(3);
  EXPECT_EQ(i3.shape(), (Dims{3, 3}));
  EXPECT_EQ(values_f(i3), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  ag::Tensor r = ag::eye(2, 3, ag::kInt64);
  EXPECT_EQ(r.dtype(), ag::kInt64);
  EXPECT_EQ(values_i(r), (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
}

TEST(Factories, Like) {
  ag::Tensor a = ag::arange(6.0, ag::kFloat64).reshape({2, 3});
  ag::Tensor z = ag::zeros_like(a), o = ag::ones_like(a), f = ag::full_like(a, -3.0), e = ag::empty_like(a);
  for (const ag::Tensor& t : {z, o, f, e}) {
    EXPECT_EQ(t.shape(), (Dims{2, 3}));
    EXPECT_EQ(t.dtype(), ag::kFloat64);
    EXPECT_FALSE(t.is_same(a));
    EXPECT_NE(storage_of(t), storage_of(a));
  }
  EXPECT_EQ(values_f(z), std::vector<float>(6, 0.f));
  EXPECT_EQ(values_f(o), std::vector<float>(6, 1.f));
  EXPECT_EQ(values_f(f), std::vector<float>(6, -3.f));
  EXPECT_EQ(ag::zeros_like(a, ag::kInt64).dtype(), ag::kInt64);
  EXPECT_EQ(ag::ones_like(a, ag::TensorOptions().requires_grad(true)).dtype(), ag::kFloat64);
  EXPECT_TRUE(ag::ones_like(a, ag::TensorOptions().requires_grad(true)).requires_grad());
}

TEST(Factories, Arange) {
  ag::Tensor a = ag::arange(4.0);
  EXPECT_EQ(a.dtype(), ag::kFloat32);
  EXPECT_EQ(a.shape(), (Dims{4}));
  EXPECT_EQ(values_f(a), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(values_f(ag::arange(1.0, 2.5, 0.5)), (std::vector<float>{1.0f, 1.5f, 2.0f}));
  EXPECT_EQ(values_f(ag::arange(5.0, 0.0, -2.0)), (std::vector<float>{5, 3, 1}));
  EXPECT_EQ(ag::arange(0.0, 1.0, 0.1).numel(), 10);
  EXPECT_EQ(ag::arange(3.0, 3.0).numel(), 0);
  ag::Tensor i = ag::arange(0.0, 10.0, 3.0, ag::kInt64);
  EXPECT_EQ(i.dtype(), ag::kInt64);
  EXPECT_EQ(values_i(i), (std::vector<int64_t>{0, 3, 6, 9}));
}

TEST(Factories, LinspaceEndpointsExact) {
  ag::Tensor l = ag::linspace(-3.3, 7.1, 11);
  ASSERT_EQ(l.numel(), 11);
  EXPECT_EQ(l.dtype(), ag::kFloat32);
  const float* p = l.data_ptr<float>();
  EXPECT_EQ(p[0], -3.3f);
  EXPECT_EQ(p[10], 7.1f);
  EXPECT_NEAR(p[5], 1.9f, 1e-6);
  ag::Tensor d = ag::linspace(0.0, 1.0, 7, ag::kFloat64);
  EXPECT_EQ(d.data_ptr<double>()[0], 0.0);
  EXPECT_EQ(d.data_ptr<double>()[6], 1.0);
  EXPECT_NEAR(d.data_ptr<double>()[3], 0.5, 1e-15);
  EXPECT_EQ(values_f(ag::linspace(2.0, 5.0, 1)), (std::vector<float>{2.f}));
  EXPECT_EQ(ag::linspace(2.0, 5.0, 0).numel(), 0);
}

TEST(Factories, RandInUnitInterval) {
  ag::manual_seed(1);
  ag::Tensor r = ag::rand({100000});
  EXPECT_EQ(r.dtype(), ag::kFloat32);
  EXPECT_GE(r.min().item<float>(), 0.f);
  EXPECT_LT(r.max().item<float>(), 1.f);
  EXPECT_NEAR(r.mean().item<float>(), 0.5f, 0.01f);
  ag::Tensor r64 = ag::rand({1000}, ag::kFloat64);
  EXPECT_EQ(r64.dtype(), ag::kFloat64);
  EXPECT_GE(r64.min().item<double>(), 0.0);
  EXPECT_LT(r64.max().item<double>(), 1.0);
}

TEST(Factories, RandnMoments) {
  ag::manual_seed(2);
  ag::Tensor r = ag::randn({200000}, ag::kFloat64);
  const double mean = r.mean().item<double>();
  const double std = ag::sqrt(((r - mean) * (r - mean)).mean()).item<double>();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(std, 1.0, 0.01);
  EXPECT_EQ(ag::randn({2, 3}).shape(), (Dims{2, 3}));
}

TEST(Factories, RandintRange) {
  ag::manual_seed(3);
  ag::Tensor r = ag::randint(-2, 3, {5000});
  EXPECT_EQ(r.dtype(), ag::kInt64);
  std::set<int64_t> seen;
  for (int64_t v : values_i(r)) {
    EXPECT_GE(v, -2);
    EXPECT_LT(v, 3);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);  // every value in [-2, 3) occurs
  ag::Tensor h = ag::randint(4, {100});
  EXPECT_GE(h.min().item<int64_t>(), 0);
  EXPECT_LE(h.max().item<int64_t>(), 3);
}

TEST(Factories, ManualSeedReproducible) {
  ag::manual_seed(42);
  ag::Tensor a = ag::rand({64}), b = ag::randn({64}), c = ag::randint(0, 1000, {64});
  ag::manual_seed(42);
  ag::Tensor a2 = ag::rand({64}), b2 = ag::randn({64}), c2 = ag::randint(0, 1000, {64});
  EXPECT_TRUE(ag::equal(a, a2));
  EXPECT_TRUE(ag::equal(b, b2));
  EXPECT_TRUE(ag::equal(c, c2));
  ag::manual_seed(43);
  EXPECT_FALSE(ag::equal(a, ag::rand({64})));
  // A stream continues: the next draw differs from the first.
  ag::manual_seed(42);
  ag::Tensor first = ag::rand({64});
  EXPECT_FALSE(ag::equal(first, ag::rand({64})));
}

// ---- tensor(values) and dtypes --------------------------------------------------------------

TEST(FromValues, InitListDtypes) {
  EXPECT_EQ(ag::tensor({1.f, 2.f}).dtype(), ag::kFloat32);
  EXPECT_EQ(ag::tensor({1.0, 2.0}).dtype(), ag::kFloat64);
  EXPECT_EQ(ag::tensor({1, 2}).dtype(), ag::kInt64);
  EXPECT_EQ(ag::tensor({int64_t{1}, int64_t{2}}).dtype(), ag::kInt64);
  EXPECT_EQ(ag::tensor({true, false}).dtype(), ag::kBool);
  // The options' dtype wins.
  ag::Tensor f = ag::tensor({1, 2, 3}, ag::kFloat32);
  EXPECT_EQ(f.dtype(), ag::kFloat32);
  EXPECT_EQ(values_f(f), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(ag::tensor({1.5f}, ag::kFloat64).dtype(), ag::kFloat64);
  EXPECT_EQ(ag::tensor({1.0, 2.0}, ag::TensorOptions().dtype(ag::kFloat32).requires_grad(true)).dtype(), ag::kFloat32);
  EXPECT_TRUE(ag::tensor({1.0, 2.0}, ag::TensorOptions().requires_grad(true)).requires_grad());
  EXPECT_EQ(ag::tensor({1.0, 2.0}, ag::TensorOptions().requires_grad(true)).dtype(), ag::kFloat64);
  EXPECT_EQ(values_i(ag::tensor({1.9f, -1.9f}, ag::kInt64)), (std::vector<int64_t>{1, -1}));
}

TEST(FromValues, Vectors) {
  ag::Tensor a = ag::tensor(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(a.dtype(), ag::kFloat32);
  EXPECT_EQ(a.shape(), (Dims{2, 3}));
  EXPECT_EQ(a.select(1, 2).select(0, 1).item<float>(), 6.f);
  EXPECT_EQ(ag::tensor(std::vector<double>{1, 2}).dtype(), ag::kFloat64);
  EXPECT_EQ(ag::tensor(std::vector<int64_t>{1, 2}).dtype(), ag::kInt64);
  EXPECT_EQ(ag::tensor(std::vector<int>{1, 2}).dtype(), ag::kInt64);
  ag::Tensor b = ag::tensor(std::vector<bool>{true, false, true});
  EXPECT_EQ(b.dtype(), ag::kBool);
  EXPECT_EQ(values_b(b), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(ag::tensor(std::vector<int64_t>{1, 2}, {2}, ag::kFloat64).dtype(), ag::kFloat64);
  ag::Tensor s = ag::tensor(std::vector<float>{3.5f}, ag::Shape{});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<float>(), 3.5f);
  EXPECT_EQ(ag::tensor(std::vector<float>{}, {0, 4}).shape(), (Dims{0, 4}));
}

// ---- shape queries --------------------------------------------------------------------------

TEST(Shape, Queries) {
  ag::Tensor t = ag::zeros({2, 3, 4});
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  EXPECT_EQ(t.strides(), (Dims{12, 4, 1}));
  EXPECT_EQ(t.stride(-1), 1);
  EXPECT_EQ(t.sizes(), t.shape());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.storage_offset(), 0);
  std::vector<int64_t> v = t.shape();
  EXPECT_EQ(v, (Dims{2, 3, 4}));
  int64_t prod = 1;
  for (int64_t d : t.shape()) prod *= d;
  EXPECT_EQ(prod, 24);
  EXPECT_FALSE(ag::Tensor().defined());
  EXPECT_TRUE(t.defined());
}

TEST(Shape, DataIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 100, 1000, 4097}) {
    for (ag::Dtype d : {ag::kFloat32, ag::kFloat64, ag::kInt64, ag::kBool}) {
      ag::Tensor t = ag::empty({n}, d);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.unsafeGetTensorImpl()->raw_data()) % 64, 0u) << n;
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ag::rand({n}).data_ptr<float>()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>((ag::ones({n}) + 1.0).data_ptr<float>()) % 64, 0u);
  }
  EXPECT_NE(ag::empty({0}).unsafeGetTensorImpl()->raw_data(), nullptr);
}

// ---- views share storage ----------------------------------------------------------------------

TEST(Views, ReshapeOfContiguousIsAView) {
  ag::Tensor x = ag::arange(12.0);
  ag::Tensor r = x.reshape({3, 4});
  EXPECT_EQ(storage_of(r), storage_of(x));
  EXPECT_EQ(r.data_ptr<float>(), x.data_ptr<float>());
  EXPECT_EQ(r.strides(), (Dims{4, 1}));
  r.select(0, 1).fill_(-1.0);  // writes through the view land in the base
  EXPECT_EQ(values_f(x), (std::vector<float>{0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11}));
  ag::Tensor inferred = x.reshape({2, -1});
  EXPECT_EQ(inferred.shape(), (Dims{2, 6}));
  EXPECT_EQ(storage_of(inferred), storage_of(x));
  ag::Tensor f = r.flatten();
  EXPECT_EQ(f.shape(), (Dims{12}));
  EXPECT_EQ(storage_of(f), storage_of(x));
}

TEST(Views, TransposeSharesAndContiguousCopies) {
  ag::Tensor x = ag::arange(6.0).reshape({2, 3});
  ag::Tensor t = x.t();
  EXPECT_EQ(t.shape(), (Dims{3, 2}));
  EXPECT_EQ(t.strides(), (Dims{1, 3}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(storage_of(t), storage_of(x));
  EXPECT_EQ(values_f(t), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  ag::Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(storage_of(c), storage_of(x));
  EXPECT_TRUE(ag::equal(c, t));
  c.fill_(9.0);
  EXPECT_EQ(values_f(x), (std::vector<float>{0, 1, 2, 3, 4, 5}));  // the copy is independent
  // contiguous() of a contiguous tensor is the tensor itself.
  EXPECT_EQ(storage_of(x.contiguous()), storage_of(x));
  // Writes through the transposed view land in the base.
  t.select(0, 2).fill_(7.0);  // column 2 of x
  EXPECT_EQ(values_f(x), (std::vector<float>{0, 1, 7, 3, 4, 7}));
  ag::Tensor y = ag::zeros({2, 3, 4}).transpose(0, 2);
  EXPECT_EQ(y.shape(), (Dims{4, 3, 2}));
  EXPECT_EQ(y.strides(), (Dims{1, 4, 12}));
  EXPECT_TRUE(ag::zeros({0, 3}).t().is_contiguous());  // no element is out of place
}

TEST(Views, SelectSliceUnsqueezeView) {
  ag::Tensor x = ag::arange(12.0).reshape({3, 4});
  ag::Tensor row = x.select(0, 1);
  EXPECT_EQ(row.shape(), (Dims{4}));
  EXPECT_EQ(row.storage_offset(), 4);
  EXPECT_EQ(storage_of(row), storage_of(x));
  EXPECT_EQ(values_f(row), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(values_f(x.select(1, -1)), (std::vector<float>{3, 7, 11}));
  EXPECT_EQ(values_f(x[2]), (std::vector<float>{8, 9, 10, 11}));

  ag::Tensor s = x.slice(1, 1, 4, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Dims{3, 2}));
  EXPECT_EQ(s.strides(), (Dims{4, 2}));
  EXPECT_EQ(s.storage_offset(), 1);
  EXPECT_EQ(storage_of(s), storage_of(x));
  EXPECT_EQ(values_f(s), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(values_f(x.slice(0, -1)), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(x.slice(0, 2, 100).shape(), (Dims{1, 4}));  // end clamps

  ag::Tensor u = x.unsqueeze(1);
  EXPECT_EQ(u.shape(), (Dims{3, 1, 4}));
  EXPECT_EQ(storage_of(u), storage_of(x));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Dims{3, 4, 1}));
  EXPECT_EQ(u.squeeze().shape(), (Dims{3, 4}));
  EXPECT_EQ(u.squeeze(1).shape(), (Dims{3, 4}));
  EXPECT_EQ(u.squeeze(0).shape(), (Dims{3, 1, 4}));  // not of size 1: unchanged

  ag::Tensor v = x.view({4, 3});
  EXPECT_EQ(storage_of(v), storage_of(x));
  EXPECT_EQ(v.data_ptr<float>(), x.data_ptr<float>());

  // One write through each kind of view, all visible in the base and in the other views.
  const uint32_t v0 = x._version();
  row.fill_(100.0);
  s.select(0, 0).fill_(-5.0);
  u.select(0, 2).select(0, 0).select(0, 0).fill_(42.0);
  v.select(0, 3).select(0, 2).fill_(-8.0);
  EXPECT_EQ(values_f(x), (std::vector<float>{0, -5, 2, -5, 100, 100, 100, 100, 42, 9, 10, -8}));
  EXPECT_GT(x._version(), v0);                  // views share the version counter
  EXPECT_EQ(row._version(), x._version());
  ag::Tensor e = ag::arange(3.0).expand({2, 3});
  EXPECT_EQ(e.strides(), (Dims{0, 1}));
  EXPECT_EQ(values_f(e), (std::vector<float>{0, 1, 2, 0, 1, 2}));
}

TEST(Copies, CloneAndIndexSelectCopy) {
  ag::Tensor x = ag::arange(4.0);
  ag::Tensor c = x.clone();
  EXPECT_NE(storage_of(c), storage_of(x));
  EXPECT_TRUE(ag::equal(c, x));
  c.fill_(0.0);
  EXPECT_EQ(values_f(x), (std::vector<float>{0, 1, 2, 3}));
  ag::Tensor ct = x.reshape({2, 2}).t().clone();
  EXPECT_TRUE(ct.is_contiguous());
  EXPECT_EQ(values_f(ct), (std::vector<float>{0, 2, 1, 3}));
  ag::Tensor is = x.index_select(0, ag::tensor({3, 0, 3}));
  EXPECT_EQ(values_f(is), (std::vector<float>{3, 0, 3}));
  EXPECT_NE(storage_of(is), storage_of(x));
  ag::Tensor cat = ag::cat({x, x.slice(0, 0, 2)});
  EXPECT_EQ(values_f(cat), (std::vector<float>{0, 1, 2, 3, 0, 1}));
  ag::Tensor st = ag::stack({x, x * 2.0}, 1);
  EXPECT_EQ(st.shape(), (Dims{4, 2}));
  EXPECT_EQ(values_f(st), (std::vector<float>{0, 0, 1, 2, 2, 4, 3, 6}));
}

// ---- conversions ------------------------------------------------------------------------------

TEST(Convert, ToDtype) {
  ag::Tensor f = ag::tensor({1.7f, -1.7f, 0.f, 2.5f});
  ag::Tensor i = f.to(ag::kInt64);
  EXPECT_EQ(i.dtype(), ag::kInt64);
  EXPECT_EQ(values_i(i), (std::vector<int64_t>{1, -1, 0, 2}));  // truncation toward zero
  ag::Tensor b = f.to(ag::kBool);
  EXPECT_EQ(b.dtype(), ag::kBool);
  EXPECT_EQ(values_b(b), (std::vector<bool>{true, true, false, true}));
  ag::Tensor d = f.to(ag::kFloat64);
  EXPECT_EQ(d.dtype(), ag::kFloat64);
  EXPECT_EQ(d.data_ptr<double>()[0], static_cast<double>(1.7f));
  EXPECT_EQ(values_f(ag::tensor({true, false}).to(ag::kFloat32)), (std::vector<float>{1, 0}));
  EXPECT_TRUE(f.to(ag::kFloat32).is_same(f));  // same dtype: no copy
  // A non-contiguous source converts in logical order.
  EXPECT_EQ(values_i(ag::arange(4.0).reshape({2, 2}).t().to(ag::kInt64)), (std::vector<int64_t>{0, 2, 1, 3}));
}

TEST(Convert, Item) {
  EXPECT_EQ(ag::tensor({2.5f}).item<float>(), 2.5f);
  EXPECT_EQ(ag::scalar_tensor(2.5, ag::kFloat64).item<double>(), 2.5);
  EXPECT_EQ(ag::scalar_tensor(3.9).item<int>(), 3);
  const int64_t big = (int64_t{1} << 53) + 1;  // not representable as a double
  EXPECT_EQ(ag::tensor({big}).item<int64_t>(), big);
  EXPECT_EQ(ag::tensor({int64_t{-7}}).item<int64_t>(), -7);
  EXPECT_EQ(ag::tensor({int64_t{-7}}).item<double>(), -7.0);
  EXPECT_TRUE(ag::tensor({true}).item<bool>());
  EXPECT_FALSE(ag::scalar_tensor(0.0).item<bool>());
  EXPECT_EQ(ag::arange(6.0).reshape({2, 3}).select(0, 1).select(0, 2).item<float>(), 5.f);
}

// ---- arithmetic: broadcasting and promotion --------------------------------------------------

TEST(Arithmetic, NumpyBroadcasting) {
  ag::Tensor a = ag::arange(3.0).reshape({3, 1});   // [[0],[1],[2]]
  ag::Tensor b = ag::arange(1.0, 5.0);              // [1,2,3,4]
  ag::Tensor s = a + b;
  ASSERT_EQ(s.shape(), (Dims{3, 4}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      const float x = static_cast<float>(i), y = static_cast<float>(j + 1);
      EXPECT_EQ(s[i][j].item<float>(), x + y);
      EXPECT_EQ((a - b)[i][j].item<float>(), x - y);
      EXPECT_EQ((a * b)[i][j].item<float>(), x * y);
      EXPECT_EQ((a / b)[i][j].item<float>(), x / y);
      EXPECT_EQ((b - a)[i][j].item<float>(), y - x);
    }
  ag::Tensor zero_dim = ag::scalar_tensor(10.0);
  ag::Tensor m = ag::ones({2, 3});
  EXPECT_EQ((m * zero_dim).shape(), (Dims{2, 3}));
  EXPECT_EQ(values_f(zero_dim - m), std::vector<float>(6, 9.f));
  EXPECT_EQ((zero_dim + zero_dim).dim(), 0);
  EXPECT_EQ((ag::ones({2, 1, 4}) + ag::ones({3, 1})).shape(), (Dims{2, 3, 4}));
  EXPECT_EQ((ag::ones({0, 3}) + ag::ones({3})).shape(), (Dims{0, 3}));
  EXPECT_EQ((ag::ones({1}) + ag::ones({5})).shape(), (Dims{5}));
  EXPECT_EQ(values_f(2.0 - ag::arange(3.0)), (std::vector<float>{2, 1, 0}));
  EXPECT_EQ(values_f(6.0 / ag::tensor({1.f, 2.f, 3.f})), (std::vector<float>{6, 3, 2}));
  EXPECT_EQ(values_f(-ag::arange(2.0)), (std::vector<float>{-0.f, -1.f}));
  // Broadcast with a non-contiguous operand.
  ag::Tensor t = ag::arange(6.0).reshape({2, 3}).t();  // [[0,3],[1,4],[2,5]]
  EXPECT_EQ(values_f(t + ag::tensor({10.f, 20.f})), (std::vector<float>{10, 23, 11, 24, 12, 25}));
}

TEST(Arithmetic, DtypePromotion) {
  ag::Tensor i = ag::tensor({1, 2, 3});
  ag::Tensor f = ag::tensor({0.5f, 0.5f, 0.5f});
  ag::Tensor d = ag::tensor({0.5, 0.5, 0.5});
  EXPECT_EQ((i + f).dtype(), ag::kFloat32);
  EXPECT_EQ(values_f(i + f), (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_EQ((f * 2.5).dtype(), ag::kFloat32);
  EXPECT_EQ((2.5 * f).dtype(), ag::kFloat32);
  EXPECT_EQ((d * 2.5).dtype(), ag::kFloat64);
  EXPECT_EQ((i * 2).dtype(), ag::kInt64);
  EXPECT_EQ(values_i(i * 2), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ((i + 1).dtype(), ag::kInt64);
  EXPECT_EQ((i * 2.5).dtype(), ag::kFloat32);
  EXPECT_EQ(values_f(i * 2.5), (std::vector<float>{2.5f, 5.f, 7.5f}));
  ag::Tensor q = ag::tensor({1, 3}) / ag::tensor({2, 2});
  EXPECT_EQ(q.dtype(), ag::kFloat32);
  EXPECT_EQ(values_f(q), (std::vector<float>{0.5f, 1.5f}));
  EXPECT_EQ((ag::tensor({3}) / 2).dtype(), ag::kFloat32);
  EXPECT_EQ((f + d).dtype(), ag::kFloat64);
  // A 0-dim tensor does not promote a dimensioned one of the same category.
  EXPECT_EQ((f + ag::scalar_tensor(1.0, ag::kFloat64)).dtype(), ag::kFloat32);
  EXPECT_EQ((i + ag::scalar_tensor(1.0)).dtype(), ag::kFloat32);
  EXPECT_EQ((ag::tensor({true, false}) + i.slice(0, 0, 2)).dtype(), ag::kInt64);
}

TEST(Arithmetic, ComparisonsAndWhere) {
  ag::Tensor x = ag::tensor({1.f, 2.f, 3.f});
  ag::Tensor y = ag::tensor({3.f, 2.f, 1.f});
  for (const ag::Tensor& c : {x == y, x != y, x < y, x <= y, x > y, x >= y, x > 1.5}) EXPECT_EQ(c.dtype(), ag::kBool);
  EXPECT_EQ(values_b(x == y), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(values_b(x != y), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(values_b(x < y), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(values_b(x <= y), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(values_b(x > y), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(values_b(x >= y), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(values_b(x > 1.5), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(values_b(ag::tensor({1, 2}) == ag::tensor({1.f, 2.5f})), (std::vector<bool>{true, false}));
  EXPECT_EQ((x.reshape({3, 1}) < y).shape(), (Dims{3, 3}));
  ag::Tensor w = ag::where(x > 1.5, x, ag::zeros_like(x));
  EXPECT_EQ(values_f(w), (std::vector<float>{0, 2, 3}));
  ag::Tensor wb = ag::where(ag::tensor({true, false}).reshape({2, 1}), ag::ones({3}), ag::zeros({}));
  EXPECT_EQ(wb.shape(), (Dims{2, 3}));
  EXPECT_EQ(values_f(wb), (std::vector<float>{1, 1, 1, 0, 0, 0}));
  EXPECT_FALSE((x > y).requires_grad());
}

TEST(Arithmetic, AllcloseEqual) {
  ag::Tensor a = ag::tensor({1.f, 2.f, 3.f});
  EXPECT_TRUE(ag::equal(a, a.clone()));
  EXPECT_FALSE(ag::equal(a, a + 1e-3));
  EXPECT_FALSE(ag::equal(a, a.reshape({3, 1})));
  EXPECT_TRUE(ag::allclose(a, a + 1e-6));
  EXPECT_FALSE(ag::allclose(a, a + 1e-3));
  EXPECT_TRUE(ag::allclose(a, a + 1e-3, 1e-2));
  EXPECT_TRUE(ag::allclose(a, a + 1e-3, 0.0, 1e-2));
  ag::Tensor nan = ag::tensor({NAN});
  EXPECT_FALSE(ag::allclose(nan, nan));
  ag::Tensor inf = ag::tensor({INFINITY});
  EXPECT_TRUE(ag::allclose(inf, inf));
  EXPECT_TRUE(ag::equal(ag::tensor({1, 2}), ag::tensor({1, 2})));
}

TEST(Arithmetic, AllcloseOppositeInfinities) {
  ag::Tensor inf = ag::tensor({INFINITY});
  EXPECT_FALSE(ag::allclose(inf, -inf));
  EXPECT_FALSE(ag::allclose(ag::tensor({1.f, INFINITY}), ag::tensor({1.f, -INFINITY})));
  EXPECT_FALSE(ag::allclose(inf, ag::tensor({1.f})));
}

// ---- printing -----------------------------------------------------------------------------------

TEST(Print, FloatFormats) {
  EXPECT_EQ(str(ag::arange(4.0) * 4.0), "tensor([0., 4., 8., 12.])");
  EXPECT_EQ(str(ag::tensor({1.5f, 2.f})), "tensor([1.5000, 2.0000])");
  EXPECT_EQ(str(ag::tensor({-1.5f, 2.f})), "tensor([-1.5000, 2.0000])");
  EXPECT_EQ(str(ag::tensor({0.1f, 0.25f})), "tensor([0.1000, 0.2500])");
  EXPECT_EQ(str(ag::tensor({1e-5f, 1.f})), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(str(ag::tensor({1e9f, 2e9f})), "tensor([1.0000e+09, 2.0000e+09])");
  EXPECT_EQ(str(ag::tensor({NAN, 1.f, INFINITY})), "tensor([nan, 1., inf])");
  EXPECT_EQ(str(ag::zeros({2})), "tensor([0., 0.])");
  EXPECT_EQ(str(ag::scalar_tensor(3.0)), "tensor(3.)");
  EXPECT_EQ(str(ag::scalar_tensor(0.5)), "tensor(0.5000)");
  EXPECT_EQ(ag::to_string(ag::tensor({1.f})), "tensor([1.])");
}

TEST(Print, OtherDtypes) {
  EXPECT_EQ(str(ag::tensor({1, 2})), "tensor([1, 2])");
  EXPECT_EQ(str(ag::tensor({-3, 20})), "tensor([-3, 20])");
  EXPECT_EQ(str(ag::scalar_tensor(5, ag::kInt64)), "tensor(5)");
  EXPECT_EQ(str(ag::tensor({true, true})), "tensor([True, True])");
  EXPECT_EQ(str(ag::arange(2.0) == ag::arange(2.0)), "tensor([True, True])");
  EXPECT_EQ(str(ag::tensor({false})), "tensor([False])");
  EXPECT_EQ(str(ag::tensor({1.0, 2.0})), "tensor([1., 2.], dtype=torch.float64)");
  EXPECT_EQ(str(ag::tensor({1.5, 2.0})), "tensor([1.5000, 2.0000], dtype=torch.float64)");
}

TEST(Print, Nested) {
  EXPECT_EQ(str(ag::arange(6.0).reshape({2, 3})), "tensor([[0., 1., 2.],\n        [3., 4., 5.]])");
  EXPECT_EQ(str(ag::arange(6.0).reshape({2, 3}).t()), "tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])");
  EXPECT_EQ(str(ag::arange(8.0).reshape({2, 2, 2})),
            "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])");
  EXPECT_EQ(str(ag::tensor({1, 2, 3, 4}).reshape({2, 2})), "tensor([[1, 2],\n        [3, 4]])");
  EXPECT_EQ(str(ag::ones({1, 1}, ag::kFloat64)), "tensor([[1.]], dtype=torch.float64)");
  EXPECT_EQ(str(ag::arange(6.0).slice(0, 1, 6, 2)), "tensor([1., 3., 5.])");  // strided, offset view
}

TEST(Print, Empty) {
  EXPECT_EQ(str(ag::zeros({0})), "tensor([])");
  EXPECT_EQ(str(ag::zeros({0, 3})), "tensor([], size=(0, 3))");
  EXPECT_EQ(str(ag::zeros({0}, ag::kFloat64)), "tensor([], dtype=torch.float64)");
  // No element shows the dtype of an empty tensor, so PyTorch names every non-default one.
  EXPECT_EQ(str(ag::zeros({0}, ag::kInt64)), "tensor([], dtype=torch.int64)");
  EXPECT_EQ(str(ag::zeros({0}, ag::kBool)), "tensor([], dtype=torch.bool)");
  EXPECT_EQ(str(ag::zeros({2, 0}, ag::kInt64)), "tensor([], size=(2, 0), dtype=torch.int64)");
  EXPECT_EQ(str(ag::Tensor()), "[ Tensor (undefined) ]");
}

TEST(Print, Autograd) {
  ag::Tensor x = ag::arange(4.0);
  x.requires_grad_();
  EXPECT_EQ(str(x), "tensor([0., 1., 2., 3.], requires_grad=True)");
  ag::Tensor y = 2 * ag::dot(x, x);
  EXPECT_EQ(str(y), "tensor(28., grad_fn=<MulBackward0>)");
  EXPECT_EQ(str(ag::dot(x, x) * 2), "tensor(28., grad_fn=<MulBackward0>)");  // PyTorch: MulBackward0 both ways
  EXPECT_EQ(str(x * x), "tensor([0., 1., 4., 9.], grad_fn=<MulBackward0>)");
  EXPECT_EQ(str(x.sum()), "tensor(6., grad_fn=<SumBackward0>)");
  EXPECT_EQ(str(x + 1.0), "tensor([1., 2., 3., 4.], grad_fn=<AddBackward0>)");
  y.backward();
  EXPECT_EQ(str(x.grad()), "tensor([0., 4., 8., 12.])");
  ag::Tensor d = ag::tensor({1.0}, ag::TensorOptions().requires_grad(true));
  EXPECT_EQ(str(d * d), "tensor([1.], dtype=torch.float64, grad_fn=<MulBackward0>)");
  EXPECT_EQ(str(d.detach()), "tensor([1.], dtype=torch.float64)");
}

TEST(Print, Summarised) {
  // Past 1000 elements: three at each end.
  EXPECT_EQ(str(ag::ones({2000})), "tensor([1., 1., 1., ..., 1., 1., 1.])");
  // The format is chosen from the elements shown, as in PyTorch: the hidden 1e-6 does not
  // switch the printout to scientific notation.
  ag::Tensor t = ag::ones({2000});
  t.select(0, 1000).fill_(1e-6);
  EXPECT_EQ(str(t), "tensor([1., 1., 1., ..., 1., 1., 1.])");
  EXPECT_EQ(str(ag::zeros({1001, 2})),
            "tensor([[0., 0.],\n        [0., 0.],\n        [0., 0.],\n        ...,\n        [0., 0.],\n"
            "        [0., 0.],\n        [0., 0.]])");
}

// A tensor freed by a thread_local destructor that runs after the allocator's per-thread
// cache was destroyed (thread_locals die in reverse order of construction; a static's
// tensor freed after main returns is the same case) must go to the shared cache, not
// into the destroyed one: that wrote into freed memory and corrupted the heap at exit.
namespace {
struct LateHolder {
  ag::Tensor t;
  ~LateHolder() { t = ag::Tensor(); }  // runs after this thread's allocator cache is gone
};
}  // namespace

TEST(TensorLifetime, FreedAfterThreadCacheIsDestroyed) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the caching allocator is off under sanitizers";
#else
  ag::detail::empty_cache();
  const uint64_t before = ag::detail::allocator_stats().cached_bytes;
  std::thread th([] {
    thread_local LateHolder holder;  // constructed first, so destroyed last
    ag::Tensor warm = ag::ones({7});  // first use of the allocator: its cache is constructed now
    warm = ag::Tensor();
    holder.t = ag::ones({1000});  // 4000 bytes: a 4 KiB class the per-thread cache takes
  });
  th.join();
  // The buffer reached the shared cache (it was lost in the dead per-thread cache before).
  EXPECT_GE(ag::detail::allocator_stats().cached_bytes, before + 4096);
#endif
}
