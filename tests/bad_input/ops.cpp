// Bad-input catalogue, area "ops": broadcasting, dtypes, matrix products, reductions, views
// and shape changes, indexing, joining and in-place ops (the harness and what every case
// asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> ops_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("ops", "mul cannot broadcast", {"mul: shapes [3, 4] and [5] cannot broadcast"}, [] {
    Tensor a = ag::ones({3, 4}), b = ag::arange(5.0);
    return Trial{[=] { a * b; }, {a, b}};
  });
  add("ops", "add cannot broadcast", {"add", "[2, 3]", "[3, 2]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3, 2});
    return Trial{[=] { a + b; }, {a, b}};
  });
  add("ops", "sub cannot broadcast, recording", {"sub", "[4]", "[3]"}, [] {
    Tensor a = ag::ones({4}, kGrad), b = ag::ones({3});
    return Trial{[=] { a - b; }, {a, b}, [=] { return fp_grads({a}); }};
  });
  add("ops", "div cannot broadcast", {"div", "[2, 1, 3]", "[4, 2]"}, [] {
    Tensor a = ag::ones({2, 1, 3}), b = ag::ones({4, 2});
    return Trial{[=] { a / b; }, {a, b}};
  });
  add("ops", "pow of two shapes", {"pow", "[2]", "[3]"}, [] {
    Tensor a = ag::ones({2}), b = ag::ones({3});
    return Trial{[=] { ag::pow(a, b); }, {a, b}};
  });
  add("ops", "maximum cannot broadcast", {"maximum", "[3, 4]", "[5]"}, [] {
    Tensor a = ag::ones({3, 4}), b = ag::ones({5});
    return Trial{[=] { ag::maximum(a, b); }, {a, b}};
  });
  add("ops", "eq cannot broadcast", {"eq", "[3, 4]", "[5]"}, [] {
    Tensor a = ag::ones({3, 4}), b = ag::ones({5});
    return Trial{[=] { (void)(a == b); }, {a, b}};
  });
  add("ops", "where with a float condition", {"where", "bool", "float32"}, [] {
    Tensor c = ag::ones({2}), a = ag::ones({2}), b = ag::zeros({2});
    return Trial{[=] { ag::where(c, a, b); }, {c, a, b}};
  });
  add("ops", "where with three shapes", {"where", "[2]", "[3]"}, [] {
    Tensor c = ag::tensor({true, false}), a = ag::ones({3}), b = ag::zeros({2});
    return Trial{[=] { ag::where(c, a, b); }, {c, a, b}};
  });
  add("ops", "exp of int64", {"exp", "int64"}, [] {
    Tensor i = ag::tensor({1, 2});
    return Trial{[=] { ag::exp(i); }, {i}};
  });
  add("ops", "log of int64", {"log", "int64"}, [] {
    Tensor i = ag::tensor({1, 2});
    return Trial{[=] { ag::log(i); }, {i}};
  });
  add("ops", "sigmoid of bool", {"sigmoid", "bool"}, [] {
    Tensor b = ag::tensor({true});
    return Trial{[=] { ag::sigmoid(b); }, {b}};
  });
  add("ops", "mm inner sizes differ", {"mm", "2x3", "4x5"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({4, 5});
    return Trial{[=] { ag::mm(a, b); }, {a, b}};
  });
  add("ops", "mm of a vector", {"mm", "[2, 3]", "[3]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3});
    return Trial{[=] { ag::mm(a, b); }, {a, b}};
  });
  add("ops", "mm of two dtypes", {"mm", "float32", "float64"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3, 2}, ag::kFloat64);
    return Trial{[=] { ag::mm(a, b); }, {a, b}};
  });
  add("ops", "dot lengths differ", {"dot", "3", "4"}, [] {
    Tensor a = ag::ones({3}), b = ag::ones({4});
    return Trial{[=] { ag::dot(a, b); }, {a, b}};
  });
  add("ops", "dot of matrices", {"dot", "1D"}, [] {
    Tensor a = ag::ones({2, 2});
    return Trial{[=] { ag::dot(a, a); }, {a}};
  });
  add("ops", "matmul of a 0-dim tensor", {"matmul", "0D"}, [] {
    Tensor s = ag::scalar_tensor(2.0), a = ag::ones({2, 3});
    return Trial{[=] { ag::matmul(s, a); }, {s, a}};
  });
  add("ops", "batched matmul mismatch", {"matmul", "[2, 2, 3]", "[2, 4, 5]"}, [] {
    Tensor a = ag::ones({2, 2, 3}), b = ag::ones({2, 4, 5});
    return Trial{[=] { ag::matmul(a, b); }, {a, b}};
  });
  add("ops", "bmm batch sizes differ", {"bmm"}, [] {
    Tensor a = ag::ones({2, 2, 3}), b = ag::ones({3, 3, 5});
    return Trial{[=] { ag::bmm(a, b); }, {a, b}};
  });
  add("ops", "addmm bias shape", {"addmm", "[3]"}, [] {
    Tensor bias = ag::ones({3}), a = ag::ones({2, 3}), b = ag::ones({3, 2});
    return Trial{[=] { ag::addmm(bias, a, b); }, {bias, a, b}};
  });
  add("ops", "sum over a missing dimension", {"sum", "dimension 2"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.sum(2); }, {t}};
  });
  add("ops", "sum over a dimension twice", {"sum", "multiple"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.sum(std::vector<int64_t>{0, 0}); }, {t}};
  });
  add("ops", "mean of int64", {"mean", "int64"}, [] {
    Tensor i = ag::tensor({1, 2, 3});
    return Trial{[=] { i.mean(); }, {i}};
  });
  add("ops", "mean of nothing", {"mean", "[0]"}, [] {
    Tensor e = ag::zeros({0});
    return Trial{[=] { e.mean(); }, {e}};
  });
  add("ops", "max of nothing", {"max", "[0]"}, [] {
    Tensor e = ag::zeros({0});
    return Trial{[=] { e.max(); }, {e}};
  });
  add("ops", "max over an empty dimension", {"max", "[2, 0]"}, [] {
    Tensor e = ag::zeros({2, 0});
    return Trial{[=] { e.max(1); }, {e}};
  });
  add("ops", "argmax of nothing", {"argmax"}, [] {
    Tensor e = ag::zeros({0});
    return Trial{[=] { e.argmax(); }, {e}};
  });
  add("ops", "softmax over a missing dimension", {"softmax", "2"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.softmax(2); }, {t}};
  });
  add("ops", "softmax of int64", {"softmax", "int64"}, [] {
    Tensor i = ag::tensor({1, 2});
    return Trial{[=] { ag::softmax(i, 0); }, {i}};
  });
  add("ops", "log_softmax with dim int64 min", {"log_softmax", "-9223372036854775808"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { ag::log_softmax(t, std::numeric_limits<int64_t>::min()); }, {t}};
  });
  add("ops", "reshape to another size", {"reshape", "[5, 2]", "12"}, [] {
    Tensor t = ag::arange(12.0).reshape({3, 4});
    return Trial{[=] { t.reshape({5, 2}); }, {t}};
  });
  add("ops", "reshape with two -1", {"reshape", "one dimension"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.reshape({-1, -1}); }, {t}};
  });
  add("ops", "reshape with -2", {"reshape", "-2"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.reshape({-2, 6}); }, {t}};
  });
  add("ops", "fuzz: reshape to sizes whose product overflows", {"reshape", "[2, 9223372036854775806]", "invalid for input of size 12"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.reshape({2, std::numeric_limits<int64_t>::max() - 1}); }, {t}};
  });
  add("ops", "view with -1 and sizes whose product overflows", {"view", "invalid for input of size 12"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.view({-1, int64_t{1} << 40, int64_t{1} << 40}); }, {t}};
  });
  add("ops", "fuzz: reshape of an empty tensor to sizes whose strides overflow", {"reshape", "overflows int64"}, [] {
    Tensor t = ag::ones({0, 4});
    return Trial{[=] { t.reshape({5, std::numeric_limits<int64_t>::max() - 1, 0}); }, {t}};
  });
  // fuzz/corpus/fuzz_ops/crash-empty-huge-dim-beside-zero: a view of shape [2^63 - 1, 0]
  // was made, and its clone() then refused that shape.
  add("ops", "fuzz: view of an empty tensor to a size whose bytes overflow beside a 0", {"view", "[9223372036854775807, 0]", "zeros counted as ones"}, [] {
    Tensor t = ag::ones({0});
    return Trial{[=] { t.view({std::numeric_limits<int64_t>::max(), 0}); }, {t}};
  });
  add("ops", "fuzz: reshape of an empty tensor to a size whose bytes overflow beside a 0", {"reshape", "[0, 4611686018427387904]", "overflows int64"}, [] {
    Tensor t = ag::ones({0, 2});
    return Trial{[=] { t.reshape({0, int64_t{1} << 62}); }, {t}};
  });
  add("ops", "fuzz: expand of a 0-dim tensor to a huge size beside a 0", {"expand", "[9223372036854775807, 0]", "zeros counted as ones"}, [] {
    Tensor t = ag::scalar_tensor(1.0);
    return Trial{[=] { t.expand({std::numeric_limits<int64_t>::max(), 0}); }, {t}};
  });
  add("ops", "view of an empty tensor with -1 and a 0", {"view", "[0, -1]"}, [] {
    Tensor t = ag::ones({0, 4});
    return Trial{[=] { t.view({0, -1}); }, {t}};
  });
  add("ops", "view of a transposed tensor", {"view", "[12]", "[4, 3]", "reshape"}, [] {
    Tensor t = ag::ones({3, 4}).t();
    return Trial{[=] { t.view({12}); }, {t}};
  });
  add("ops", "transpose out of range", {"transpose", "dimension 2"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.transpose(0, 2); }, {t}};
  });
  add("ops", "permute repeats a dimension", {"permute"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.permute({0, 0}); }, {t}};
  });
  add("ops", "t of a 3-D tensor", {"t", "3D"}, [] {
    Tensor t = ag::ones({2, 3, 4});
    return Trial{[=] { t.t(); }, {t}};
  });
  add("ops", "unsqueeze out of range", {"unsqueeze", "3"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.unsqueeze(3); }, {t}};
  });
  add("ops", "squeeze out of range", {"squeeze", "dimension 2"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.squeeze(2); }, {t}};
  });
  add("ops", "flatten backwards", {"flatten"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.flatten(1, 0); }, {t}};
  });
  add("ops", "select index out of range", {"select", "index 3", "size 3"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.select(0, 3); }, {t}};
  });
  add("ops", "select on a 0-dim tensor", {"select", "0-dim"}, [] {
    Tensor s = ag::scalar_tensor(1.0);
    return Trial{[=] { s.select(0, 0); }, {s}};
  });
  add("ops", "slice with step 0", {"slice", "step"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.slice(0, 0, 2, 0); }, {t}};
  });
  add("ops", "slice with a negative step", {"slice", "step", "-1"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.slice(0, 0, 2, -1); }, {t}};
  });
  add("ops", "index_select out of range", {"index_select", "3", "size 3"}, [] {
    Tensor t = ag::ones({3, 4}), i = ag::tensor({0, 3});
    return Trial{[=] { t.index_select(0, i); }, {t, i}};
  });
  add("ops", "index_select with a negative index (PyTorch refuses it)", {"index_select", "-1", "size 4", "negative indices are not accepted"}, [] {
    Tensor t = ag::ones({3, 4}), i = ag::tensor({int64_t{2}, int64_t{-1}});
    return Trial{[=] { t.index_select(1, i); }, {t, i}};
  });
  add("ops", "index_select with float indices", {"index_select", "int64", "float32"}, [] {
    Tensor t = ag::ones({3}), i = ag::tensor({0.f, 1.f});
    return Trial{[=] { t.index_select(0, i); }, {t, i}};
  });
  add("ops", "index_select with a matrix of indices", {"index_select", "[2, 2]"}, [] {
    Tensor t = ag::ones({1, 3}), i = ag::tensor({0, 1, 2, 0}).reshape({2, 2});
    return Trial{[=] { t.index_select(1, i); }, {t, i}};
  });
  add("ops", "expand to an incompatible size", {"expand", "[3, 4]"}, [] {
    Tensor t = ag::ones({3, 4});
    return Trial{[=] { t.expand({3, 5}); }, {t}};
  });
  add("ops", "expand to a negative size", {"expand", "-2"}, [] {
    Tensor t = ag::ones({1, 3});
    return Trial{[=] { t.expand({-2, 3}); }, {t}};
  });
  add("ops", "fuzz: expand to more elements than int64 counts", {"expand", "[2, 9223372036854775806, 1]", "int64"}, [] {
    Tensor t = ag::ones({1, 1, 1});
    return Trial{[=] { t.expand({2, std::numeric_limits<int64_t>::max() - 1, 1}); }, {t}};
  });
  add("ops", "fuzz: expand to sizes whose product overflows beside a 0", {"expand", "int64"}, [] {
    Tensor t = ag::ones({1, 1, 0});
    return Trial{[=] { t.expand({std::numeric_limits<int64_t>::max() - 1, 4, 0}); }, {t}};
  });
  add("ops", "cat of different widths", {"cat", "[2, 3]", "[3, 4]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3, 4});
    return Trial{[=] { ag::cat({a, b}, 0); }, {a, b}};
  });
  add("ops", "cat of nothing", {"cat", "non-empty"}, [] { return Trial{[] { ag::cat({}); }, {}}; });
  add("ops", "cat of 0-dim tensors", {"cat", "zero-dimensional"}, [] {
    Tensor a = ag::scalar_tensor(1.0);
    return Trial{[=] { ag::cat({a, a}); }, {a}};
  });
  add("ops", "stack of different shapes", {"stack", "[2, 3]", "[2, 4]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({2, 4});
    return Trial{[=] { ag::stack({a, b}); }, {a, b}};
  });
  add("ops", "stack at a missing dimension", {"stack", "3"}, [] {
    Tensor a = ag::ones({2, 3});
    return Trial{[=] { ag::stack({a, a}, 3); }, {a}};
  });
  add("ops", "add_ that would grow self", {"add_", "[4]", "[3, 4]"}, [] {
    Tensor s = ag::ones({4}), o = ag::ones({3, 4});
    return Trial{[=] { Tensor(s).add_(o); }, {s, o}};
  });
  add("ops", "mul_ cannot broadcast", {"mul_", "[3, 4]", "[5]"}, [] {
    Tensor s = ag::ones({3, 4}), o = ag::ones({5});
    return Trial{[=] { Tensor(s).mul_(o); }, {s, o}};
  });
  add("ops", "copy_ cannot broadcast", {"copy_", "[3]", "[2]"}, [] {
    Tensor d = ag::zeros({2}), s = ag::ones({3});
    return Trial{[=] { d.copy_(s); }, {d, s}};
  });
  add("ops", "div_ of int64 in place", {"div_"}, [] {
    Tensor i = ag::tensor({1, 2, 3});
    return Trial{[=] { Tensor(i).div_(2.0); }, {i}};
  });
  add("ops", "in-place on a leaf that requires grad", {"add_", "leaf"}, [] {
    Tensor x = ag::ones({2}, kGrad);
    return Trial{[=] { Tensor(x).add_(1.0); }, {x}};
  });
  add("ops", "in-place on a view of a graph tensor", {"mul_", "view"}, [] {
    Tensor x = ag::ones({2}, kGrad);
    Tensor v = (x * 2.0).select(0, 0);
    return Trial{[=] { Tensor(v).mul_(2.0); }, {x, v}};
  });
  add("ops", "undefined operand", {"undefined"}, [] {
    Tensor a = ag::ones({1});
    return Trial{[=] { a + Tensor(); }, {a}};
  });
  return cs;
}

}  // namespace bad_input
