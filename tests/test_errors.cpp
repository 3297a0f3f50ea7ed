// Misuse throws ag::Error whose message names the op and the shapes (DESIGN.md, Errors),
// never crashes, and leaves the inputs as they were: same values, same version, same
// history.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {


// Expects f to throw ag::Error whose message contains every one of `parts`.
#define EXPECT_AG_ERROR(stmt, ...)                                                     \
  do {                                                                                 \
    const std::string msg_ = error_of([&] { stmt; });                                  \
    for (const char* part_ : std::initializer_list<const char*>{__VA_ARGS__})          \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "missing \"" << part_ << "\" in: " << msg_; \
  } while (0)

// What an input looked like before a failing call.
struct Snapshot {
  ag::Tensor t, copy;
  uint32_t version;
  std::vector<int64_t> shape;
  ag::Dtype dtype;
  const ag::Node* grad_fn;
  explicit Snapshot(const ag::Tensor& x)
      : t(x), copy(x.detach().clone()), version(x._version()), shape(x.shape()), dtype(x.dtype()),
        grad_fn(x.grad_fn().get()) {}
  void expect_unchanged() const {
    EXPECT_EQ(t._version(), version);
    EXPECT_EQ(std::vector<int64_t>(t.shape()), shape);
    EXPECT_EQ(t.dtype(), dtype);
    EXPECT_EQ(t.grad_fn().get(), grad_fn);
    EXPECT_TRUE(ag::equal(t.detach(), copy));
  }
};

}  // namespace

TEST(Errors, BroadcastMismatch) {
  ag::Tensor a = ag::ones({3, 4}), b = ag::arange(5.0);
  Snapshot sa(a), sb(b);
  EXPECT_AG_ERROR(a * b, "mul: shapes [3, 4] and [5] cannot broadcast");
  EXPECT_AG_ERROR(a + b, "add", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(a - b, "sub", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(a / b, "div", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(a == b, "eq", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(ag::maximum(a, b), "maximum", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(a.add_(b), "add_", "[3, 4]", "[5]");
  EXPECT_AG_ERROR(a.mul_(b), "mul_", "[3, 4]", "[5]");
  // In place, the result must keep self's shape.
  ag::Tensor small = ag::ones({4});
  Snapshot ss(small);
  EXPECT_AG_ERROR(small.add_(a), "add_", "[4]", "[3, 4]");
  sa.expect_unchanged();
  sb.expect_unchanged();
  ss.expect_unchanged();
  // With autograd recording.
  ag::Tensor x = ag::ones({3, 4}, ag::TensorOptions().requires_grad(true));
  Snapshot sx(x);
  EXPECT_AG_ERROR(x * b, "mul: shapes [3, 4] and [5] cannot broadcast");
  ag::Tensor y = x * 2.0;
  Snapshot sy(y);
  EXPECT_AG_ERROR(y.add_(b), "add", "[3, 4]", "[5]");  // recorded: reported by the out-of-place add
  sx.expect_unchanged();
  sy.expect_unchanged();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Errors, MatrixProducts) {
  ag::Tensor a = ag::ones({2, 3}), b = ag::ones({4, 5});
  Snapshot sa(a), sb(b);
  EXPECT_AG_ERROR(ag::mm(a, b), "mm", "2x3", "4x5");
  EXPECT_AG_ERROR(ag::matmul(a, b), "mm", "2x3", "4x5");
  EXPECT_AG_ERROR(ag::mm(a, ag::ones({3})), "mm", "[2, 3]", "[3]");
  EXPECT_AG_ERROR(ag::dot(ag::ones({3}), ag::ones({4})), "dot", "3", "4");
  EXPECT_AG_ERROR(ag::dot(a, a), "dot", "1D");
  EXPECT_AG_ERROR(ag::matmul(ag::scalar_tensor(2.0), a), "matmul", "0D");
  EXPECT_AG_ERROR(ag::matmul(a, ag::scalar_tensor(2.0)), "matmul", "0D");
  EXPECT_AG_ERROR(ag::matmul(ag::ones({2, 2, 3}), ag::ones({2, 4, 5})), "matmul", "[2, 2, 3]", "[2, 4, 5]");
  EXPECT_AG_ERROR(ag::bmm(ag::ones({2, 2, 3}), ag::ones({3, 3, 5})), "bmm");
  EXPECT_AG_ERROR(ag::mm(a, ag::ones({3, 2}, ag::kFloat64)), "mm", "float32", "float64");
  EXPECT_AG_ERROR(ag::addmm(ag::ones({3}), a, ag::ones({3, 2})), "addmm", "[3]");
  sa.expect_unchanged();
  sb.expect_unchanged();
}

TEST(Errors, EmptyWhereInvalid) {
  ag::Tensor e = ag::zeros({0});
  ag::Tensor e2 = ag::zeros({2, 0});
  EXPECT_AG_ERROR(e.max(), "max", "[0]");
  EXPECT_AG_ERROR(e.min(), "min", "[0]");
  EXPECT_AG_ERROR(e.mean(), "mean", "[0]");
  EXPECT_AG_ERROR(e2.mean(1), "mean", "[2, 0]");
  EXPECT_AG_ERROR(e.argmax(), "argmax");
  EXPECT_AG_ERROR(e2.max(1), "max", "[2, 0]");
  EXPECT_AG_ERROR(e.item<float>(), "item", "0 elements");
  // Valid on empty tensors: sums are zero, shapes are kept.
  EXPECT_EQ(e.sum().item<float>(), 0.f);
  EXPECT_EQ(e2.sum(1).shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(e2.mean(0).shape(), (std::vector<int64_t>{0}));
}

TEST(Errors, ItemOnNonScalar) {
  ag::Tensor t = ag::ones({2, 3});
  Snapshot st(t);
  EXPECT_AG_ERROR(t.item<float>(), "item", "6 elements", "[2, 3]");
  EXPECT_AG_ERROR(ag::tensor({1, 2}).item<int64_t>(), "item", "[2]");
  st.expect_unchanged();
}

TEST(Errors, WrongDtypes) {
  ag::Tensor i = ag::tensor({1, 2, 3});
  Snapshot si(i);
  EXPECT_AG_ERROR(i.requires_grad_(), "requires_grad_", "int64");
  EXPECT_FALSE(i.requires_grad());
  EXPECT_AG_ERROR(ag::tensor({true}).requires_grad_(), "requires_grad_", "bool");
  EXPECT_AG_ERROR(ag::zeros({2}, ag::TensorOptions().dtype(ag::kInt64).requires_grad(true)), "int64");
  EXPECT_AG_ERROR(ag::exp(i), "exp", "int64");
  EXPECT_AG_ERROR(ag::log(i), "log", "int64");
  EXPECT_AG_ERROR(ag::sigmoid(i), "sigmoid", "int64");
  EXPECT_AG_ERROR(ag::softmax(i, 0), "softmax", "int64");
  EXPECT_AG_ERROR(i.mean(), "mean", "int64");
  EXPECT_AG_ERROR(ag::ones({2}).data_ptr<double>(), "data_ptr", "float64", "float32");
  EXPECT_AG_ERROR(i.data_ptr<float>(), "data_ptr", "float32", "int64");
  EXPECT_AG_ERROR(ag::ones({3}).index_select(0, ag::tensor({0.f, 1.f})), "index_select", "int64", "float32");
  EXPECT_AG_ERROR(ag::where(ag::ones({2}), ag::ones({2}), ag::zeros({2})), "where", "bool", "float32");
  EXPECT_AG_ERROR(ag::where(i, i, i), "where", "bool", "int64");
  EXPECT_AG_ERROR(ag::rand({2}, ag::kInt64), "rand", "int64");
  EXPECT_AG_ERROR(i.div_(2.0), "div_");
  si.expect_unchanged();
}

TEST(Errors, OutOfRangeDimsAndIndices) {
  ag::Tensor t = ag::arange(12.0).reshape({3, 4});
  Snapshot st(t);
  EXPECT_AG_ERROR(t.select(2, 0), "select", "dimension 2", "out of range");
  EXPECT_AG_ERROR(t.select(-3, 0), "select", "-3");
  EXPECT_AG_ERROR(t.select(0, 3), "select", "index 3", "size 3");
  EXPECT_AG_ERROR(t.select(1, -5), "select", "-5", "size 4");
  EXPECT_AG_ERROR(t[7], "select", "7");
  EXPECT_AG_ERROR(t.slice(2, 0, 1), "slice", "dimension 2");
  EXPECT_AG_ERROR(t.slice(0, 0, 2, 0), "slice", "step");
  EXPECT_AG_ERROR(ag::scalar_tensor(1.0).slice(0, 0, 1), "slice", "0-dim");
  EXPECT_AG_ERROR(t.squeeze(2), "squeeze", "dimension 2");
  EXPECT_AG_ERROR(t.unsqueeze(3), "unsqueeze", "3");
  EXPECT_AG_ERROR(t.sum(2), "sum", "dimension 2");
  EXPECT_AG_ERROR(t.sum(-3), "sum", "-3");
  EXPECT_AG_ERROR(t.sum(std::vector<int64_t>{0, 0}), "sum", "multiple");
  EXPECT_AG_ERROR(t.mean(5), "mean", "5");
  EXPECT_AG_ERROR(t.max(2), "max", "2");
  EXPECT_AG_ERROR(t.softmax(2), "softmax");
  EXPECT_AG_ERROR(t.transpose(0, 2), "transpose", "dimension 2");
  EXPECT_AG_ERROR(t.transpose(-3, 1), "transpose", "-3");
  EXPECT_AG_ERROR(t.permute({0, 0}), "permute");
  EXPECT_AG_ERROR(t.permute({0}), "permute");
  EXPECT_AG_ERROR(t.size(2), "size", "2");
  EXPECT_AG_ERROR(ag::scalar_tensor(1.0).size(0), "size", "no dimensions");
  EXPECT_AG_ERROR(ag::scalar_tensor(1.0).stride(-1), "stride", "no dimensions");
  EXPECT_AG_ERROR(t.flatten(1, 0), "flatten");
  EXPECT_AG_ERROR(t.index_select(0, ag::tensor({0, 3})), "index_select", "3", "size 3");
  EXPECT_AG_ERROR(t.index_select(2, ag::tensor({0})), "index_select", "2");
  EXPECT_AG_ERROR(t.expand({3, 5}), "expand", "[3, 4]");
  EXPECT_AG_ERROR(ag::scalar_tensor(1.0).select(0, 0), "select", "0-dim");
  st.expect_unchanged();
}

TEST(Errors, ReshapeAndView) {
  ag::Tensor t = ag::arange(12.0).reshape({3, 4});
  Snapshot st(t);
  EXPECT_AG_ERROR(t.reshape({5, 2}), "reshape", "[5, 2]", "12");
  EXPECT_AG_ERROR(t.reshape({-1, -1}), "reshape", "one dimension");
  EXPECT_AG_ERROR(t.reshape({5, -1}), "reshape", "[5, -1]", "12");
  EXPECT_AG_ERROR(t.reshape({-2, 6}), "reshape", "-2");
  EXPECT_AG_ERROR(t.view({7}), "view", "[7]", "12");
  ag::Tensor tt = t.t();
  EXPECT_AG_ERROR(tt.view({12}), "view", "[12]", "[4, 3]", "reshape");
  EXPECT_EQ(tt.reshape({12}).shape(), (std::vector<int64_t>{12}));  // reshape copies instead
  EXPECT_AG_ERROR(ag::ones({2, 3, 4}).t(), "t", "3D");
  st.expect_unchanged();
}

TEST(Errors, FactoriesAndValues) {
  EXPECT_AG_ERROR(ag::tensor(std::vector<float>{1, 2, 3}, {2, 2}), "tensor", "3 values", "[2, 2]");
  EXPECT_AG_ERROR(ag::tensor(std::vector<double>{1, 2}, {3}), "tensor", "2 values", "[3]");
  EXPECT_AG_ERROR(ag::tensor(std::vector<float>{}, ag::Shape{}), "tensor", "0 values", "[]");
  EXPECT_AG_ERROR(ag::tensor(std::vector<float>{1, 2}, {-1, -2}), "tensor", "negative", "[-1, -2]");
  EXPECT_AG_ERROR(ag::zeros({-1, 2}), "negative", "[-1, 2]");
  EXPECT_AG_ERROR(ag::ones({2, -3}), "negative", "[2, -3]");
  EXPECT_AG_ERROR(ag::empty({-4}), "negative", "[-4]");
  EXPECT_AG_ERROR(ag::full({-1}, 2.0), "negative", "[-1]");
  EXPECT_AG_ERROR(ag::rand({-2}), "negative", "[-2]");
  EXPECT_AG_ERROR(ag::randn({3, -2}), "negative", "[3, -2]");
  EXPECT_AG_ERROR(ag::randint(0, 5, {-1}), "negative", "[-1]");
  EXPECT_AG_ERROR(ag::eye(-1), "eye", "-1");
  EXPECT_AG_ERROR(ag::arange(0.0, 1.0, 0.0), "arange", "step");
  EXPECT_AG_ERROR(ag::arange(1.0, 0.0, 1.0), "arange");
  EXPECT_AG_ERROR(ag::linspace(0.0, 1.0, -1), "linspace", "-1");
  EXPECT_AG_ERROR(ag::randint(3, 3, {2}), "randint", "3");
  EXPECT_AG_ERROR(ag::randperm(-1), "randperm", "-1");
}

TEST(Errors, BackwardMisuse) {
  ag::Tensor x = ag::tensor({1.f, 2.f}, ag::TensorOptions().requires_grad(true));
  ag::Tensor s = (x * x).sum();
  s.backward();
  const ag::Tensor g = x.grad().clone();
  EXPECT_AG_ERROR(s.backward(), "retain_graph", "MulBackward0");
  EXPECT_TRUE(ag::equal(x.grad(), g));
  ag::Tensor y = x * x;
  EXPECT_AG_ERROR(y.backward(), "grad can be implicitly created only for scalar outputs", "[2]");
  EXPECT_AG_ERROR(y.backward(ag::ones({3})), "backward", "[3]", "[2]");
  EXPECT_AG_ERROR(ag::ones({2}).sum().backward(), "backward", "does not require grad");
  EXPECT_AG_ERROR(ag::grad({y.sum()}, {ag::ones({2})}), "grad", "does not require grad");
  EXPECT_AG_ERROR(ag::backward({y}, {ag::ones({2}), ag::ones({2})}), "backward", "1 tensors", "2 gradients");
  EXPECT_AG_ERROR(ag::Tensor().backward(), "undefined");
  EXPECT_TRUE(ag::equal(x.grad(), g));
}

TEST(Errors, InPlaceChangeOfSavedTensor) {
  ag::Tensor x = ag::tensor({1.f, 2.f}, ag::TensorOptions().requires_grad(true));
  ag::Tensor a = x * 2.0;
  ag::Tensor b = a * a;
  a.add_(1.0);
  EXPECT_AG_ERROR(b.sum().backward(), "MulBackward0", "inplace", "version");
  EXPECT_FALSE(x.grad().defined());
  EXPECT_AG_ERROR(x.add_(1.0), "add_", "leaf");
  EXPECT_EQ(x.sum().item<float>(), 3.f);
  // A view of a tensor that requires grad cannot be changed in place under autograd.
  ag::Tensor v = a.select(0, 0);
  EXPECT_AG_ERROR(v.mul_(2.0), "mul_", "view");
}

TEST(Errors, UndefinedTensor) {
  ag::Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_AG_ERROR(u.shape(), "undefined");
  EXPECT_AG_ERROR(u.dim(), "undefined");
  EXPECT_AG_ERROR(u.numel(), "undefined");
  EXPECT_AG_ERROR(u.dtype(), "undefined");
  EXPECT_AG_ERROR(u.item<float>(), "undefined");
  EXPECT_AG_ERROR(u.data_ptr<float>(), "undefined");
  EXPECT_AG_ERROR(u.requires_grad_(), "undefined");
  EXPECT_AG_ERROR(u.grad(), "undefined");
  EXPECT_AG_ERROR(u.clone(), "undefined");
  EXPECT_AG_ERROR(u.to(ag::kFloat64), "undefined");
  EXPECT_AG_ERROR(u.reshape({1}), "undefined");
  EXPECT_AG_ERROR(u.sum(), "undefined");
  EXPECT_AG_ERROR(u.exp(), "undefined");
  EXPECT_AG_ERROR(u + ag::ones({1}), "undefined");
  EXPECT_AG_ERROR(ag::ones({1}) * u, "undefined");
  EXPECT_AG_ERROR(u * 2.0, "undefined");
  EXPECT_AG_ERROR(ag::mm(u, u), "undefined");
  EXPECT_AG_ERROR(u.zero_(), "undefined");
  EXPECT_AG_ERROR(ag::ones({1}).add_(u), "undefined");
  EXPECT_AG_ERROR(ag::cat({ag::ones({1}), u}), "cat", "undefined");
  EXPECT_AG_ERROR(ag::allclose(u, u), "undefined");
  EXPECT_AG_ERROR(u.detach(), "undefined");
}

TEST(Errors, CatAndStack) {
  ag::Tensor a = ag::ones({2, 3}), b = ag::ones({2, 4});
  Snapshot sa(a), sb(b);
  EXPECT_AG_ERROR(ag::cat({a, b}, 0), "cat", "[2, 3]", "[2, 4]");
  EXPECT_EQ(ag::cat({a, b}, 1).shape(), (std::vector<int64_t>{2, 7}));
  EXPECT_AG_ERROR(ag::cat({a, ag::ones({6})}), "cat", "dimensions");
  EXPECT_AG_ERROR(ag::cat({}), "cat", "non-empty");
  EXPECT_AG_ERROR(ag::cat({a, a}, 2), "cat", "2");
  EXPECT_AG_ERROR(ag::cat({ag::scalar_tensor(1.0), ag::scalar_tensor(2.0)}), "cat", "zero-dimensional");
  EXPECT_AG_ERROR(ag::stack({a, b}), "stack", "[2, 3]", "[2, 4]");
  EXPECT_AG_ERROR(ag::stack({}), "stack", "non-empty");
  EXPECT_AG_ERROR(ag::stack({a, a}, 3), "stack", "3");
  sa.expect_unchanged();
  sb.expect_unchanged();
}

TEST(Errors, Threads) {
  const int before = ag::get_num_threads();
  EXPECT_AG_ERROR(ag::set_num_threads(0), "set_num_threads", "0");
  EXPECT_AG_ERROR(ag::set_num_threads(-3), "set_num_threads", "-3");
  // Far above the machine (train --threads 100000 used to spend minutes creating threads).
  EXPECT_AG_ERROR(ag::set_num_threads(100000), "set_num_threads", "100000", "hardware threads");
  EXPECT_AG_ERROR(ag::set_num_threads(std::numeric_limits<int>::max()), "set_num_threads", "hardware threads");
  EXPECT_EQ(ag::get_num_threads(), before);
}

TEST(Errors, ParallelForRefusesBadArgumentsBeforeRunningAnything) {
  int calls = 0;
  const std::function<void(int64_t, int64_t)> count = [&](int64_t, int64_t) { ++calls; };
  EXPECT_AG_ERROR(ag::parallel_for(0, 10, 1, std::function<void(int64_t, int64_t)>()), "parallel_for", "empty");
  EXPECT_AG_ERROR(ag::parallel_for(0, 10, -1, count), "parallel_for", "grain_size", "-1");
  EXPECT_AG_ERROR(ag::parallel_for(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 1, count),
                  "parallel_for", "more elements than int64");
  EXPECT_EQ(calls, 0);
  ag::parallel_for(3, 3, 0, count);  // empty range: nothing runs, no error
  EXPECT_EQ(calls, 0);
  ag::parallel_for(0, 10, 0, count);  // grain 0: any size
  EXPECT_GE(calls, 1);
}

TEST(Errors, AreRuntimeErrors) {
  // ag::Error derives from std::runtime_error, so generic handlers catch it too.
  EXPECT_THROW(ag::ones({2}) * ag::ones({3}), std::runtime_error);
  EXPECT_THROW(ag::ones({2}).item<float>(), ag::Error);
}

TEST(Errors, SizeOverflow) {
  const int64_t big = int64_t{1} << 40;
  EXPECT_AG_ERROR(ag::zeros({big, big}), "[1099511627776, 1099511627776]", "overflow");
  EXPECT_AG_ERROR(ag::empty({int64_t{1} << 62}), "overflow");
  EXPECT_AG_ERROR(ag::ones({big, big}, ag::kFloat64), "overflow");
  EXPECT_AG_ERROR(ag::eye(big * 4, big * 4), "overflow");
  EXPECT_AG_ERROR(ag::arange(0.0, 1e30), "arange", "overflow");
  EXPECT_AG_ERROR(ag::zeros({0, big, big}), "overflow");  // empty, but its strides would overflow
  EXPECT_EQ(ag::zeros({0, big}).numel(), 0);
}

TEST(Errors, NegativeSizesInShapeOps) {
  ag::Tensor t = ag::ones({1, 3});
  Snapshot st(t);
  EXPECT_AG_ERROR(t.view({-3, -1}), "view", "-3");
  EXPECT_AG_ERROR(t.reshape({-3, 1}), "reshape", "-3");
  EXPECT_AG_ERROR(t.expand({-2, 2, 3}), "expand", "-2");  // a new leading dimension
  EXPECT_AG_ERROR(t.expand({1, 5}), "expand", "5", "[1, 3]");
  EXPECT_AG_ERROR(t.index_select(1, ag::tensor({0, 1, 2, 0}).reshape({2, 2})), "index_select", "[2, 2]");
  st.expect_unchanged();
}

TEST(Errors, ExpandSingletonToNegativeSize) {
  ag::Tensor t = ag::ones({1, 3});
  EXPECT_AG_ERROR(t.expand({-2, 3}), "expand", "-2");
  EXPECT_AG_ERROR(t.expand({2, -2, 3}), "expand", "-2");
}
