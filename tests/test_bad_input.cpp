// A catalogue of bad input (issue 7): one table of named cases across tensors, ops, autograd,
// nn, optim, data and save/load. Each case builds what it needs, makes one bad call, and
// asserts (DESIGN.md, "Errors") that
//   - the call throws ag::Error (nothing else), whose message contains the listed pieces —
//     the op's name and the shapes or values involved;
//   - nothing changed: every watched tensor keeps its values, version, shape, dtype and
//     history, and the case's other state (gradients, a module's parameters and buffers,
//     an optimizer's state_dict, files on disk) has the same fingerprint before and after.
// BadInput.Catalogue counts the cases per area and in all. Inputs found by the fuzzers
// (fuzz/) are here too, marked "fuzz:"; their conversions' regressions follow the table.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <ag/ag.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fs = std::filesystem;
namespace nn = ag::nn;
namespace F = ag::nn::functional;
namespace optim = ag::optim;
namespace data = ag::data;
using ag::Tensor;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const ag::TensorOptions kGrad = ag::TensorOptions().requires_grad(true);

// ---- fingerprints of state --------------------------------------------------------------
std::string fp(const Tensor& t) {
  if (!t.defined()) return "undefined;";
  const Tensor c = t.detach().contiguous();
  std::string s = ag::shape_str(c.shape()) + ag::dtype_name(c.dtype()) + ":";
  s.append(static_cast<const char*>(c.unsafeGetTensorImpl()->raw_data()),
           static_cast<size_t>(c.numel()) * ag::element_size(c.dtype()));
  return s + ";";
}
std::string fp_grads(const std::vector<Tensor>& ts) {
  std::string s;
  for (const Tensor& t : ts) s += fp(t.grad());
  return s;
}
std::string fp_module(const nn::Module& m) {
  std::string s;
  for (const auto& [name, t] : m.named_parameters()) s += name + "=" + fp(t) + std::to_string(t._version());
  for (const auto& [name, t] : m.named_buffers()) s += name + "=" + fp(t) + std::to_string(t._version());
  return s;
}
std::string fp_optim(const optim::Optimizer& o) {
  const optim::OptimizerStateDict sd = o.state_dict();
  std::string s;
  for (const auto& [k, v] : sd.metadata) s += k + "=" + v + ";";
  for (const auto& [k, t] : sd.tensors) s += k + "=" + fp(t);
  for (const Tensor& p : o.parameters()) s += fp(p) + fp(p.grad());
  return s;
}
std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "<absent>";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
// Every file of a directory with its bytes (a failed save must leave no temporary file).
std::string fp_dir(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename()] = read_file(e.path());
  std::string s;
  for (const auto& [n, b] : files) s += n + "=" + std::to_string(b.size()) + ":" + b + ";";
  return s;
}

// ---- files ----------------------------------------------------------------------------------
// One directory for the whole program, removed at exit.
const std::string& tmp_dir() {
  struct Dir {
    std::string path;
    Dir() {
      char tmpl[] = "/tmp/ag_bad_input_XXXXXX";
      if (!mkdtemp(tmpl)) std::abort();
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static Dir d;
  return d.path;
}
// A fresh subdirectory per case, so that fp_dir sees only that case's files.
std::string case_dir() {
  static int n = 0;
  const std::string d = tmp_dir() + "/case" + std::to_string(n++);
  fs::create_directories(d);
  return d;
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string gzip(const std::string& in) {
  std::string out(compressBound(static_cast<uLong>(in.size())) + 32, '\0');
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
// An IDX file: magic 0 0 type ndims, big-endian sizes, then `body` bytes (default: exactly
// as many as the sizes declare).
std::string idx(std::vector<uint32_t> dims, int64_t body = -1, unsigned char type = 0x08) {
  std::string b{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  int64_t n = 1;
  bool overflow = false;  // the fuzz case declares more than int64 counts
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((d >> s) & 0xff));
    overflow |= __builtin_mul_overflow(n, static_cast<int64_t>(d), &n);
  }
  b.append(static_cast<size_t>(body >= 0 || overflow ? std::max<int64_t>(body, 0) : n), '\x07');
  return b;
}
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// ---- models --------------------------------------------------------------------------------
nn::Sequential mlp(int64_t in = 3, int64_t hidden = 4, int64_t out = 2) {
  ag::manual_seed(11);
  nn::Sequential net;
  net->push_back(nn::Linear(in, hidden));
  net->push_back(nn::BatchNorm1d(hidden));
  net->push_back(nn::ReLU());
  net->push_back(nn::Linear(hidden, out));
  return net;
}
// Parameters that have taken one step (so the optimizer has state to lose).
std::vector<Tensor> stepped_params() {
  ag::manual_seed(12);
  return {ag::randn({2, 3}).requires_grad_(), ag::randn({3}).requires_grad_()};
}
void give_grads(const std::vector<Tensor>& ps) {
  for (const Tensor& p : ps) p.set_grad(ag::full_like(p, 0.5));
}

// ---- the table -------------------------------------------------------------------------------
struct Trial {
  std::function<void()> call;              // the bad call: must throw ag::Error
  std::vector<Tensor> watched;             // must be exactly as before
  std::function<std::string()> state = {}; // fingerprint of other state, compared before and after
};
struct Case {
  std::string area, name;
  std::vector<std::string> expect;  // pieces of the message
  std::function<Trial()> make;
};

std::vector<Case> build_cases() {
  std::vector<Case> cs;
  auto add = [&](const char* area, const char* name, std::vector<std::string> expect, std::function<Trial()> make) {
    cs.push_back({area, name, std::move(expect), std::move(make)});
  };

  // ==== tensors: factories, queries, conversions ============================================
  add("tensor", "values do not fill the shape", {"tensor", "3 values", "[2, 2]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{1, 2, 3}, {2, 2}); }, {}}; });
  add("tensor", "no value for a 0-dim shape", {"tensor", "0 values", "[]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{}, ag::Shape{}); }, {}}; });
  add("tensor", "negative size in tensor()", {"tensor", "negative", "[-1, -2]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{1, 2}, {-1, -2}); }, {}}; });
  add("tensor", "zeros with a negative size", {"negative", "[-1, 2]"}, [] { return Trial{[] { ag::zeros({-1, 2}); }, {}}; });
  add("tensor", "full with a negative size", {"negative", "[-1]"}, [] { return Trial{[] { ag::full({-1}, 2.0); }, {}}; });
  add("tensor", "empty with int64 min", {"negative", "-9223372036854775808"},
      [] { return Trial{[] { ag::empty({std::numeric_limits<int64_t>::min()}); }, {}}; });
  add("tensor", "zeros whose size overflows", {"[1099511627776, 1099511627776]", "overflow"},
      [] { return Trial{[] { ag::zeros({int64_t{1} << 40, int64_t{1} << 40}); }, {}}; });
  add("tensor", "empty zero-size but strides overflow", {"overflow"},
      [] { return Trial{[] { ag::zeros({0, int64_t{1} << 40, int64_t{1} << 40}); }, {}}; });
  add("tensor", "eye negative", {"eye", "-1"}, [] { return Trial{[] { ag::eye(-1); }, {}}; });
  add("tensor", "arange step 0", {"arange", "step"}, [] { return Trial{[] { ag::arange(0.0, 1.0, 0.0); }, {}}; });
  add("tensor", "arange wrong direction", {"arange"}, [] { return Trial{[] { ag::arange(1.0, 0.0, 1.0); }, {}}; });
  add("tensor", "arange to infinity", {"arange", "inf"}, [] { return Trial{[] { ag::arange(0.0, kInf); }, {}}; });
  add("tensor", "arange with NaN step", {"arange", "nan"}, [] { return Trial{[] { ag::arange(0.0, 1.0, kNaN); }, {}}; });
  add("tensor", "arange too long", {"arange", "overflow"}, [] { return Trial{[] { ag::arange(0.0, 1e30); }, {}}; });
  add("tensor", "linspace negative steps", {"linspace", "-1"}, [] { return Trial{[] { ag::linspace(0.0, 1.0, -1); }, {}}; });
  add("tensor", "randint empty range", {"randint", "3"}, [] { return Trial{[] { ag::randint(3, 3, {2}); }, {}}; });
  add("tensor", "randperm negative", {"randperm", "-1"}, [] { return Trial{[] { ag::randperm(-1); }, {}}; });
  add("tensor", "rand of int64", {"rand", "int64"}, [] { return Trial{[] { ag::rand({2}, ag::kInt64); }, {}}; });
  add("tensor", "int64 factory that requires grad", {"int64"},
      [] { return Trial{[] { ag::zeros({2}, ag::TensorOptions().dtype(ag::kInt64).requires_grad(true)); }, {}}; });
  add("tensor", "requires_grad_ on int64", {"requires_grad_", "int64"}, [] {
    Tensor i = ag::tensor({1, 2, 3});
    return Trial{[=] { i.requires_grad_(); }, {i}};
  });
  add("tensor", "requires_grad_ on bool", {"requires_grad_", "bool"}, [] {
    Tensor b = ag::tensor({true, false});
    return Trial{[=] { b.requires_grad_(); }, {b}};
  });
  add("tensor", "item of six elements", {"item", "6 elements", "[2, 3]"}, [] {
    Tensor t = ag::ones({2, 3});
    return Trial{[=] { t.item<float>(); }, {t}};
  });
  add("tensor", "item of an empty tensor", {"item", "0 elements", "[0]"}, [] {
    Tensor t = ag::zeros({0});
    return Trial{[=] { t.item<double>(); }, {t}};
  });
  add("tensor", "data_ptr of another type", {"data_ptr", "float64", "float32"}, [] {
    Tensor t = ag::ones({2});
    return Trial{[=] { t.data_ptr<double>(); }, {t}};
  });
  add("tensor", "size of a missing dimension", {"size", "2"}, [] {
    Tensor t = ag::ones({2, 3});
    return Trial{[=] { t.size(2); }, {t}};
  });
  add("tensor", "size of a 0-dim tensor", {"size", "no dimensions"}, [] {
    Tensor t = ag::scalar_tensor(1.0);
    return Trial{[=] { t.size(0); }, {t}};
  });
  add("tensor", "shape of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().shape(); }, {}}; });
  add("tensor", "to() of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().to(ag::kFloat64); }, {}}; });
  add("tensor", "set_num_threads 0", {"set_num_threads", "0"}, [] {
    return Trial{[] { ag::set_num_threads(0); }, {}, [] { return std::to_string(ag::get_num_threads()); }};
  });

  // ==== ops =======================================================================================
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

  // ==== autograd ==================================================================================
  add("autograd", "backward twice", {"retain_graph", "MulBackward0"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor s = (x * x).sum();
    s.backward();
    return Trial{[=] { s.backward(); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "ag::grad twice", {"retain_graph"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor s = (x * x).sum();
    ag::grad({s}, {x});
    return Trial{[=] { ag::grad({s}, {x}); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "backward of a vector without a gradient",
      {"grad can be implicitly created only for scalar outputs", "[2]"}, [] {
        Tensor x = ag::tensor({1.f, 2.f}, kGrad);
        Tensor y = x * x;
        return Trial{[=] { y.backward(); }, {x, y}, [=] { return fp_grads({x}); }};
      });
  add("autograd", "backward with a gradient of another shape", {"backward", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x, g = ag::ones({3});
    return Trial{[=] { y.backward(g); }, {x, y, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "backward of what does not require grad", {"backward", "does not require grad"}, [] {
    Tensor s = ag::ones({2}).sum();
    return Trial{[=] { s.backward(); }, {s}};
  });
  add("autograd", "backward of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().backward(); }, {}}; });
  add("autograd", "backward with more gradients than roots", {"backward", "1 tensors", "2 gradients"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x;
    return Trial{[=] { ag::backward({y}, {ag::ones({2}), ag::ones({2})}); }, {x, y}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "grad of an input that does not require grad", {"grad", "does not require grad"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), c = ag::ones({2});
    Tensor s = (x * c).sum();
    return Trial{[=] { ag::grad({s}, {c}); }, {x, c}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "grad of an unused input", {"grad", "allow_unused"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), z = ag::ones({2}, kGrad);
    Tensor s = (x * x).sum();
    return Trial{[=] { ag::grad({s}, {z}); }, {x, z}, [=] { return fp_grads({x, z}); }};
  });
  add("autograd", "saved tensor changed in place", {"MulBackward0", "inplace", "version"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor a = x * 2.0;
    Tensor b = (a * a).sum();
    a.add_(1.0);
    return Trial{[=] { b.backward(); }, {x, a}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of another shape", {"set_grad", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), g = ag::ones({3});
    return Trial{[=] { x.set_grad(g); }, {x, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of itself", {"set_grad", "its own grad", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    return Trial{[=] { x.set_grad(x); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of another dtype", {"set_grad", "float64", "float32"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), g = ag::ones({2}, ag::kFloat64);
    return Trial{[=] { x.set_grad(g); }, {x, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "fuzz: a hook that returns another shape", {"hook", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    x.register_hook([](const Tensor&) { return ag::ones({3}); });
    Tensor s = (x * x).sum();
    return Trial{[=] { s.backward(); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "a hook on a non-leaf that returns another dtype", {"hook", "float64", "float32"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * 3.0;
    y.register_hook([](const Tensor& g) { return g.to(ag::kFloat64); });
    Tensor s = (y * y).sum();
    return Trial{[=] { s.backward(); }, {x, y}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "retain_grad on a tensor without grad", {"retain_grad", "requires_grad"}, [] {
    Tensor t = ag::ones({2});
    return Trial{[=] { t.retain_grad(); }, {t}};
  });
  add("autograd", "grad with grad_outputs of another count", {"grad", "1", "2"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x;
    return Trial{[=] { ag::grad({y}, {x}, {ag::ones({2}), ag::ones({2})}); }, {x, y}, [=] { return fp_grads({x}); }};
  });

  // ==== nn ==========================================================================================
  add("nn", "Linear on the wrong width", {"linear", "[4, 5]", "[2, 3]"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::ones({4, 5});
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear on int64 input", {"linear", "int64"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::ones({4, 3}, ag::kInt64);
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear on a 0-dim input", {"linear", "[]"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::scalar_tensor(1.0);
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear with negative features", {"Linear", "-1"}, [] { return Trial{[] { nn::Linear(-1, 2); }, {}}; });
  add("nn", "F::linear with a bias of another size", {"linear", "[3]"}, [] {
    Tensor x = ag::ones({4, 3}), w = ag::ones({2, 3}), b = ag::ones({3});
    return Trial{[=] { F::linear(x, w, b); }, {x, w, b}};
  });
  add("nn", "BatchNorm1d on the wrong features", {"BatchNorm1d", "[4, 3]", "5"}, [] {
    nn::BatchNorm1d bn(5);
    Tensor x = ag::ones({4, 3});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d training on one sample", {"BatchNorm1d", "more than 1 value per channel", "[1, 4]"}, [] {
    nn::BatchNorm1d bn(4);
    Tensor x = ag::ones({1, 4});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d on a 1-D input", {"BatchNorm1d", "2D or 3D", "[4]"}, [] {
    nn::BatchNorm1d bn(4);
    Tensor x = ag::ones({4});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d with no features", {"BatchNorm1d", "num_features", "0"},
      [] { return Trial{[] { nn::BatchNorm1d(0); }, {}}; });
  add("nn", "BatchNorm1d with eps NaN", {"BatchNorm1d", "eps", "nan"},
      [] { return Trial{[] { nn::BatchNorm1d(4, kNaN); }, {}}; });
  add("nn", "Dropout with p 1.5", {"Dropout", "1.5"}, [] { return Trial{[] { nn::Dropout(1.5); }, {}}; });
  add("nn", "Dropout with p NaN", {"Dropout", "nan"}, [] { return Trial{[] { (void)nn::Dropout(kNaN); }, {}}; });
  add("nn", "F::dropout with a negative p", {"dropout", "-0.1"}, [] {
    Tensor x = ag::ones({4});
    return Trial{[=] { F::dropout(x, -0.1, true); }, {x}};
  });
  add("nn", "Softmax over a missing dimension", {"softmax", "5"}, [] {
    nn::Softmax sm(5);
    Tensor x = ag::ones({2, 3});
    return Trial{[=] { sm(x); }, {x}};
  });
  add("nn", "empty Sequential forward", {"Sequential", "empty"}, [] {
    nn::Sequential s;
    Tensor x = ag::ones({2});
    return Trial{[=] { s->forward(x); }, {x}};
  });
  add("nn", "cross_entropy label out of range", {"cross_entropy", "10", "[4, 10]"}, [] {
    Tensor logits = ag::zeros({4, 10}, kGrad), y = ag::tensor({1, 2, 10, 3});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}, [=] { return fp_grads({logits}); }};
  });
  add("nn", "cross_entropy negative label", {"cross_entropy", "-1"}, [] {
    Tensor logits = ag::zeros({2, 3}), y = ag::tensor({int64_t{-1}, int64_t{0}});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy batch sizes differ", {"cross_entropy", "[4, 3]", "[5]"}, [] {
    Tensor logits = ag::zeros({4, 3}), y = ag::zeros({5}, ag::kInt64);
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy with float labels of another shape", {"cross_entropy", "[4, 3]", "[4]"}, [] {
    Tensor logits = ag::zeros({4, 3}), y = ag::zeros({4});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy of 3-D logits", {"cross_entropy", "[2, 3, 4]"}, [] {
    Tensor logits = ag::zeros({2, 3, 4}), y = ag::zeros({2}, ag::kInt64);
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "nll_loss label out of range", {"nll_loss", "3"}, [] {
    Tensor lp = ag::zeros({2, 3}), y = ag::tensor({0, 3});
    return Trial{[=] { F::nll_loss(lp, y); }, {lp, y}};
  });
  add("nn", "mse_loss shapes differ", {"mse_loss", "[2, 3]", "[3]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3});
    return Trial{[=] { F::mse_loss(a, b); }, {a, b}};
  });
  add("nn", "mse_loss dtypes differ", {"mse_loss", "float32", "float64"}, [] {
    Tensor a = ag::ones({3}), b = ag::ones({3}, ag::kFloat64);
    return Trial{[=] { F::mse_loss(a, b); }, {a, b}};
  });
  add("nn", "binary_cross_entropy of 1.5", {"binary_cross_entropy", "between 0 and 1", "[2]"}, [] {
    Tensor p = ag::tensor({0.5f, 1.5f}), y = ag::tensor({0.f, 1.f});
    return Trial{[=] { F::binary_cross_entropy(p, y); }, {p, y}};
  });
  add("nn", "binary_cross_entropy of NaN", {"binary_cross_entropy", "between 0 and 1", "[2]"}, [] {
    Tensor p = ag::tensor({0.5f, static_cast<float>(kNaN)}), y = ag::tensor({0.f, 1.f});
    return Trial{[=] { F::binary_cross_entropy(p, y); }, {p, y}};
  });
  add("nn", "bce_with_logits shapes differ", {"binary_cross_entropy_with_logits", "[2]", "[3]"}, [] {
    Tensor x = ag::ones({2}), y = ag::ones({3});
    return Trial{[=] { F::binary_cross_entropy_with_logits(x, y); }, {x, y}};
  });
  add("nn", "register_parameter with a dot", {"register_parameter", "a.b", "dot"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    return Trial{[=] { m->register_parameter("a.b", ag::ones({2})); }, {}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_parameter twice", {"register_parameter", "'w'", "already"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    m->register_parameter("w", ag::ones({2}));
    return Trial{[=] { m->register_parameter("w", ag::zeros({3})); }, {}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_parameter of a non-leaf", {"register_parameter", "leaf"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    Tensor x = ag::ones({2}, kGrad);
    Tensor y = x * 2.0;
    return Trial{[=] { m->register_parameter("y", y); }, {x, y}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_module of null", {"register_module", "null"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    return Trial{[=] { m->register_module("c", std::shared_ptr<nn::Module>()); }, {}};
  });
  add("nn", "Module::to int64", {"Module::to", "int64"}, [] {
    nn::Sequential net = mlp();
    return Trial{[=] { net->to(ag::kInt64); }, {}, [=] { return fp_module(*net); }};
  });
  add("nn", "Sequential index out of range", {"Sequential", "index 7"}, [] {
    nn::Sequential net = mlp();
    return Trial{[=] { net->ptr<nn::LinearImpl>(7); }, {}, [=] { return fp_module(*net); }};
  });
  add("nn", "clip_grad_norm_ with a negative max_norm", {"clip_grad_norm_", "-1"}, [] {
    Tensor p = ag::ones({3}, kGrad);
    p.set_grad(ag::full({3}, 10.0));
    return Trial{[=] { nn::utils::clip_grad_norm_(std::vector<Tensor>{p}, -1.0); }, {p}, [=] { return fp_grads({p}); }};
  });
  add("nn", "clip_grad_norm_ with a NaN max_norm", {"clip_grad_norm_", "nan"}, [] {
    Tensor p = ag::ones({3}, kGrad);
    p.set_grad(ag::full({3}, 10.0));
    return Trial{[=] { nn::utils::clip_grad_norm_(std::vector<Tensor>{p}, kNaN); }, {p}, [=] { return fp_grads({p}); }};
  });
  add("nn", "init::normal_ with a negative std", {"normal_", "-1"}, [] {
    Tensor t = ag::ones({3});
    return Trial{[=] { nn::init::normal_(t, 0.0, -1.0); }, {t}};
  });
  add("nn", "init::kaiming_uniform_ of a vector", {"fan"}, [] {
    Tensor t = ag::ones({3});
    return Trial{[=] { nn::init::kaiming_uniform_(t); }, {t}};
  });

  // ==== optim =========================================================================================
  add("optim", "SGD with a negative lr", {"SGD", "learning rate", "-0.1"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(-0.1)); }, {}}; });
  add("optim", "SGD with a NaN lr", {"SGD", "learning rate", "nan"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(kNaN)); }, {}}; });
  add("optim", "SGD with a negative momentum", {"SGD", "momentum", "-0.5"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(0.1).momentum(-0.5)); }, {}}; });
  add("optim", "SGD nesterov without momentum", {"SGD", "esterov"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(0.1).nesterov(true)); }, {}}; });
  add("optim", "Adam with beta2 = 1", {"Adam", "beta", "1"},
      [] { return Trial{[] { optim::Adam(stepped_params(), optim::AdamOptions(1e-3).betas({0.9, 1.0})); }, {}}; });
  add("optim", "Adam with a negative eps", {"Adam", "eps", "-1e-08"},
      [] { return Trial{[] { optim::Adam(stepped_params(), optim::AdamOptions(1e-3).eps(-1e-8)); }, {}}; });
  add("optim", "AdamW with an infinite weight decay", {"AdamW", "weight_decay", "inf"},
      [] { return Trial{[] { optim::AdamW(stepped_params(), optim::AdamWOptions(1e-3).weight_decay(kInf)); }, {}}; });
  add("optim", "no parameters", {"SGD", "empty parameter list"},
      [] { return Trial{[] { optim::SGD(std::vector<Tensor>{}, optim::SGDOptions(0.1)); }, {}}; });
  add("optim", "a parameter that does not require grad", {"SGD", "does not require grad", "[2]"}, [] {
    Tensor p = ag::ones({2});
    return Trial{[=] { optim::SGD({p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "a non-leaf parameter", {"Adam", "non-leaf", "[2]"}, [] {
    Tensor x = ag::ones({2}, kGrad);
    Tensor y = x * 2.0;
    return Trial{[=] { optim::Adam({y}, optim::AdamOptions(1e-3)); }, {x, y}};
  });
  add("optim", "an int64 parameter", {"SGD", "int64"}, [] {
    Tensor p = ag::tensor({1, 2});
    return Trial{[=] { optim::SGD({p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "a parameter twice", {"SGD", "twice"}, [] {
    Tensor p = ag::ones({2}, kGrad);
    return Trial{[=] { optim::SGD({p, p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "add_param_group with a parameter already there", {"Adam", "twice"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    opt->step();
    return Trial{[=] { opt->add_param_group(optim::OptimizerParamGroup({ps[0]})); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "step with a group's lr made negative behind set_lr", {"SGD", "learning rate", "-1"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1).momentum(0.9));
    give_grads(ps);
    opt->step();
    give_grads(ps);
    opt->param_groups()[0].options().set_lr(-1.0);  // unchecked: step() must refuse it
    return Trial{[=] { opt->step(); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "set_lr NaN", {"Adam", "learning rate", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    return Trial{[=] { opt->set_lr(kNaN); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict of an Adam into an SGD", {"load_state_dict", "Adam", "SGD"}, [] {
    auto ps = stepped_params();
    optim::Adam adam(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    adam.step();
    const auto sd = adam.state_dict();
    auto ps2 = stepped_params();
    auto sgd = std::make_shared<optim::SGD>(ps2, optim::SGDOptions(0.1).momentum(0.9));
    give_grads(ps2);
    sgd->step();
    return Trial{[=] { sgd->load_state_dict(sd); }, ps2, [=] { return fp_optim(*sgd); }};
  });
  add("optim", "load_state_dict for more parameters", {"load_state_dict", "3 parameters", "2"}, [] {
    auto ps = stepped_params();
    ps.push_back(ag::ones({1}, kGrad));
    optim::SGD big(ps, optim::SGDOptions(0.1));
    const auto sd = big.state_dict();
    auto ps2 = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps2, optim::SGDOptions(0.2));
    return Trial{[=] { opt->load_state_dict(sd); }, ps2, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict with a buffer of another shape", {"load_state_dict", "exp_avg", "[2, 3]"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    opt->step();
    auto sd = opt->state_dict();
    for (auto& [k, t] : sd.tensors)
      if (k == "0.exp_avg") t = ag::zeros({3, 2});
    give_grads(ps);
    opt->step();
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict without an option", {"load_state_dict", "group.0.lr"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto sd = opt->state_dict();
    sd.metadata.erase("group.0.lr");
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict with a NaN lr", {"SGD", "learning rate", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto sd = opt->state_dict();
    sd.metadata["group.0.lr"] = "nan";
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "StepLR with step_size 0", {"StepLR", "step_size", "0"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::StepLR(*opt, 0); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "StepLR with gamma NaN", {"StepLR", "gamma", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::StepLR(*opt, 2, kNaN); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "CosineAnnealingLR with T_max 0", {"CosineAnnealingLR", "T_max", "0"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::CosineAnnealingLR(*opt, 0); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "scheduler state of another kind", {"StepLR", "CosineAnnealingLR"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto cos = std::make_shared<optim::CosineAnnealingLR>(*opt, 5);
    auto step = std::make_shared<optim::StepLR>(*opt, 2);
    const auto sd = cos->state_dict();
    return Trial{[=] { step->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt) + "|" + step->state_dict().at("last_epoch"); }};
  });

  // ==== data ============================================================================================
  add("data", "DataLoader with batch size 0", {"batch_size", "0"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions().batch_size(0)); }, {}}; });
  add("data", "DataLoader with batch size -2", {"batch_size", "-2"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions(-2)); }, {}}; });
  add("data", "DataLoader with a negative prefetch", {"prefetch", "-1"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions(1).prefetch(-1)); }, {}}; });
  add("data", "DataLoader of no dataset", {"DataLoader", "null"},
      [] { return Trial{[] { data::DataLoader(std::shared_ptr<const data::Dataset>(), data::DataLoaderOptions(1)); }, {}}; });
  add("data", "TensorDataset of different lengths", {"TensorDataset", "[3, 2]", "[4]"}, [] {
    Tensor x = ag::zeros({3, 2}), y = ag::zeros({4});
    return Trial{[=] { data::TensorDataset(x, y); }, {x, y}};
  });
  add("data", "TensorDataset of a 0-dim tensor", {"TensorDataset"}, [] {
    Tensor x = ag::zeros({}), y = ag::zeros({1});
    return Trial{[=] { data::TensorDataset(x, y); }, {x, y}};
  });
  add("data", "Dataset::get past the end", {"index 6 is out of range"}, [] {
    auto ds = std::make_shared<data::TensorDataset>(ag::zeros({6, 2}), ag::zeros({6}));
    return Trial{[=] { ds->get(6); }, {ds->inputs(), ds->targets()}};
  });
  add("data", "Dataset::get of -1", {"-1", "out of range"}, [] {
    auto ds = std::make_shared<data::TensorDataset>(ag::zeros({6, 2}), ag::zeros({6}));
    return Trial{[=] { ds->get(-1); }, {ds->inputs(), ds->targets()}};
  });
  add("data", "make_moons of 0 points", {"n must be >= 1"}, [] { return Trial{[] { data::make_moons(0); }, {}}; });
  add("data", "make_spirals of 1 class", {"classes must be >= 2"}, [] { return Trial{[] { data::make_spirals(10, 1); }, {}}; });
  add("data", "make_xor with negative noise", {"noise"}, [] { return Trial{[] { data::make_xor(4, -1.0); }, {}}; });
  add("data", "make_xor with NaN noise", {"noise", "nan"}, [] { return Trial{[] { data::make_xor(4, kNaN); }, {}}; });
  add("data", "MNIST with a negative limit", {"limit must be >= 0", "-5"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 28, 28}));
    write_file(d + "/train-labels-idx1-ubyte", idx({2}, -1));
    return Trial{[=] { data::MNIST(d, true, data::MnistOptions().limit(-5)); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST labels outside 0..9", {"MNIST", "label 12", "0..9"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 28, 28}));
    std::string labels = idx({2});
    labels[labels.size() - 1] = '\x0c';  // the second label is 12
    labels[labels.size() - 2] = '\x07';
    write_file(d + "/train-labels-idx1-ubyte", labels);
    return Trial{[=] { data::MNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST directory missing", {"MNIST", "does not exist"},
      [] { return Trial{[] { data::MNIST(tmp_dir() + "/no-such-dir", true); }, {}}; });
  add("data", "MNIST images of 27x28", {"FashionMNIST", "27x28"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 27, 28}));
    write_file(d + "/train-labels-idx1-ubyte", idx({2}));
    return Trial{[=] { data::FashionMNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST with fewer labels than images", {"MNIST", "3 images", "2 labels"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte.gz", gzip(idx({3, 28, 28})));
    write_file(d + "/train-labels-idx1-ubyte.gz", gzip(idx({2})));
    return Trial{[=] { data::MNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  auto idx_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string()> bytes) {
    add("data", name, std::move(expect), [bytes] {
      const std::string d = case_dir(), p = d + "/f.idx";
      write_file(p, bytes());
      return Trial{[=] { data::read_idx(p); }, {}, [=] { return fp_dir(d); }};
    });
  };
  add("data", "read_idx of a missing file", {"read_idx", "cannot open"}, [] {
    const std::string p = tmp_dir() + "/absent.idx";
    return Trial{[=] { data::read_idx(p); }, {}};
  });
  idx_case("read_idx bad magic", {"read_idx", "bad magic number", "two zero bytes"},
           [] { return std::string("\x01\x02\x08\x01", 4) + std::string(5, '\0'); });
  idx_case("read_idx of float elements", {"read_idx", "0xd", "unsigned byte"}, [] { return idx({2}, -1, 0x0d); });
  idx_case("read_idx with 5 dimensions", {"read_idx", "5 dimensions"}, [] { return idx({1, 1, 1, 1, 1}); });
  idx_case("read_idx truncated header", {"read_idx", "header is truncated"}, [] { return idx({2, 3}).substr(0, 9); });
  idx_case("read_idx short body", {"read_idx", "body is short", "[2, 3]"}, [] { return idx({2, 3}, 5); });
  idx_case("read_idx trailing bytes", {"read_idx", "trailing bytes", "[2, 3]"}, [] { return idx({2, 3}, 7); });
  idx_case("read_idx zero dimension", {"read_idx", "dimension 1 is 0"}, [] { return idx({2, 0}); });
  idx_case("fuzz: read_idx dimensions whose product overflows int64", {"read_idx", "implausibly large"},
           [] { return idx({1, 2, 0x61081a18u, 0xbb550000u}, 4); });
  idx_case("read_idx truncated gzip", {"read_idx", "truncated"}, [] {
    const std::string z = gzip(idx({40, 40}));
    return z.substr(0, z.size() - 10);
  });
  auto csv_case = [&](const char* name, std::vector<std::string> expect, std::string bytes, data::CsvOptions o = {}) {
    add("data", name, std::move(expect), [bytes, o] {
      const std::string d = case_dir(), p = d + "/f.csv";
      write_file(p, bytes);
      return Trial{[=] { data::read_csv(p, o); }, {}, [=] { return fp_dir(d); }};
    });
  };
  csv_case("read_csv ragged row", {"read_csv", ":2:", "ragged", "1 fields", "2"}, "1,2\n3\n");
  csv_case("read_csv not a number", {"read_csv", ":1:", "field 2", "\"x\""}, "1,x\n");
  csv_case("read_csv empty field", {"read_csv", ":1:", "field 2 is empty"}, "1,,3\n");
  csv_case("read_csv number out of range", {"read_csv", "1e400", "out of range"}, "1e400\n");
  csv_case("read_csv empty file", {"read_csv", "empty"}, "");
  csv_case("read_csv header longer than rows", {"read_csv", ":2:", "header"}, "a,b,c\n1,2\n",
           data::CsvOptions().header(true));
  csv_case("read_csv newline delimiter", {"read_csv", "delimiter"}, "1\n", data::CsvOptions().delimiter('\n'));

  // ==== save/load =========================================================================================
  // A model's file loaded into another model: nothing of the target changes.
  auto load_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string(const std::string&)> bytes,
                       std::function<nn::Sequential()> target = [] { return mlp(); }) {
    add("save/load", name, std::move(expect), [bytes, target] {
      const std::string d = case_dir(), p = d + "/m.safetensors";
      nn::Sequential src = mlp();
      src->train();
      src(ag::randn({5, 3}));  // running statistics move
      nn::save(src, p);
      write_file(p, bytes(read_file(p)));
      nn::Sequential dst = target();
      return Trial{[=] { nn::load(dst, p); }, {}, [=] { return fp_module(*dst) + fp_dir(d); }};
    });
  };
  load_case("nn::load of another architecture", {"load", "'0.weight' has shape [4, 3] in the file but [8, 3]"},
            [](const std::string& b) { return b; }, [] { return mlp(3, 8, 2); });
  load_case("nn::load into a bigger model", {"load", "'4.weight'", "missing"}, [](const std::string& b) { return b; }, [] {
    nn::Sequential net = mlp();
    net->push_back(nn::Linear(2, 2));
    return net;
  });
  load_case("nn::load into a smaller model", {"load", "'3.weight'", "does not have"}, [](const std::string& b) { return b; },
            [] {
              nn::Sequential net;
              net->push_back(nn::Linear(3, 4));
              net->push_back(nn::BatchNorm1d(4));
              return net;
            });
  load_case("nn::load into float64", {"load", "'0.weight' has dtype F32", "float64 in the module"},
            [](const std::string& b) { return b; }, [] {
              nn::Sequential net = mlp();
              net->to(ag::kFloat64);
              return net;
            });
  load_case("nn::load truncated data", {"load", "beyond the data area"},
            [](const std::string& b) { return b.substr(0, b.size() - 4); });
  load_case("nn::load truncated header", {"load", "follow the length"}, [](const std::string& b) { return b.substr(0, 40); });
  load_case("nn::load of 5 bytes", {"load", "fewer than the 8"}, [](const std::string& b) { return b.substr(0, 5); });
  load_case("nn::load of an empty file", {"load", "fewer than the 8"}, [](const std::string&) { return std::string(); });
  load_case("nn::load corrupted JSON", {"load", "JSON"}, [](std::string b) {
    b[9] = '#';
    return b;
  });
  load_case("nn::load header length past the file", {"load", "follow the length"}, [](std::string b) {
    return le64(b.size()) + b.substr(8);
  });
  load_case("nn::load header length 2^40", {"load", "limit"}, [](std::string b) { return le64(uint64_t{1} << 40) + b.substr(8); });
  load_case("nn::load trailing bytes", {"load", "trailing"}, [](const std::string& b) { return b + "xyz"; });
  load_case("nn::load of an optimizer's file", {"load", "missing"}, [](const std::string&) {
    auto ps = stepped_params();
    optim::Adam adam(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    adam.step();
    const std::string p = tmp_dir() + "/adam-for-nn.safetensors";
    optim::save(adam, p);
    return read_file(p);
  });
  add("save/load", "nn::load of a missing file", {"load", "cannot open"}, [] {
    nn::Sequential dst = mlp();
    const std::string p = tmp_dir() + "/absent.safetensors";
    return Trial{[=] { nn::load(dst, p); }, {}, [=] { return fp_module(*dst); }};
  });
  add("save/load", "nn::load of a directory", {"load", "not a regular file"}, [] {
    nn::Sequential dst = mlp();
    const std::string d = case_dir();
    return Trial{[=] { nn::load(dst, d); }, {}, [=] { return fp_module(*dst); }};
  });
  add("save/load", "nn::save into a missing directory", {"save", "cannot create"}, [] {
    nn::Sequential net = mlp();
    const std::string d = case_dir();
    return Trial{[=] { nn::save(net, d + "/no/such/dir/m.safetensors"); }, {}, [=] { return fp_module(*net) + fp_dir(d); }};
  });
  add("save/load", "nn::save over a directory keeps the old state", {"save", "renaming"}, [] {
    nn::Sequential net = mlp();
    const std::string d = case_dir();
    fs::create_directories(d + "/taken/x");
    return Trial{[=] { nn::save(net, d + "/taken"); }, {}, [=] { return fp_module(*net) + fp_dir(d); }};
  });
  add("save/load", "save_tensors with a name twice", {"save_tensors", "'a'", "twice"}, [] {
    const std::string d = case_dir();
    Tensor a = ag::ones({2});
    return Trial{[=] { nn::save_tensors({{"a", a}, {"a", a}}, d + "/t.safetensors"); }, {a}, [=] { return fp_dir(d); }};
  });
  add("save/load", "save_tensors of an undefined tensor", {"save_tensors", "'u'", "undefined"}, [] {
    const std::string d = case_dir();
    return Trial{[=] { nn::save_tensors({{"u", Tensor()}}, d + "/t.safetensors"); }, {}, [=] { return fp_dir(d); }};
  });
  add("save/load", "save_tensors named __metadata__", {"save_tensors", "reserved"}, [] {
    const std::string d = case_dir();
    return Trial{[=] { nn::save_tensors({{"__metadata__", ag::ones({1})}}, d + "/t.safetensors"); }, {},
                 [=] { return fp_dir(d); }};
  });
  auto optim_file = [](bool with_scheduler) {
    auto ps = stepped_params();
    optim::SGD sgd(ps, optim::SGDOptions(0.1).momentum(0.9));
    optim::StepLR sched(sgd, 2);
    give_grads(ps);
    sgd.step();
    sched.step();
    const std::string p = tmp_dir() + (with_scheduler ? "/sgd-sched.safetensors" : "/sgd.safetensors");
    if (with_scheduler) optim::save(sgd, sched, p);
    else optim::save(sgd, p);
    return read_file(p);
  };
  auto optim_load_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string()> bytes,
                             bool adam = true) {
    add("save/load", name, std::move(expect), [bytes, adam] {
      const std::string d = case_dir(), p = d + "/o.safetensors";
      write_file(p, bytes());
      auto ps = stepped_params();
      std::shared_ptr<optim::Optimizer> opt;
      if (adam) opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
      else opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.3).momentum(0.5));
      give_grads(ps);
      opt->step();
      return Trial{[=] { optim::load(*opt, p); }, ps, [=] { return fp_optim(*opt) + fp_dir(d); }};
    });
  };
  optim_load_case("optim::load of an SGD's file into Adam", {"load_state_dict", "SGD", "Adam"},
                  [=] { return optim_file(false); });
  optim_load_case("optim::load of a model's file", {"load_state_dict", "optimizer"}, [] {
    const std::string p = tmp_dir() + "/model-for-optim.safetensors";
    nn::save(mlp(), p);
    return read_file(p);
  });
  optim_load_case("optim::load truncated", {"optim::load", "truncated"}, [=] {
    const std::string b = optim_file(false);
    return b.substr(0, b.size() - 8);
  }, false);
  optim_load_case("optim::load corrupt header", {"optim::load", "corrupt header"}, [=] {
    std::string b = optim_file(false);
    b[8] = '[';
    return b;
  }, false);
  optim_load_case("optim::load of 3 bytes", {"optim::load", "not a safetensors file"}, [] { return std::string("abc"); }, false);
  add("save/load", "optim::load without scheduler state", {"optim::load", "no scheduler state"}, [=] {
    const std::string d = case_dir(), p = d + "/o.safetensors";
    write_file(p, optim_file(false));
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1).momentum(0.9));
    auto sched = std::make_shared<optim::StepLR>(*opt, 2);
    give_grads(ps);
    opt->step();
    return Trial{[=] { optim::load(*opt, *sched, p); }, ps, [=] {
                   std::string s = fp_optim(*opt) + fp_dir(d);
                   for (const auto& [k, v] : sched->state_dict()) s += k + v;
                   return s;
                 }};
  });
  add("save/load", "optim::load of a missing file", {"optim::load", "cannot open"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    const std::string p = tmp_dir() + "/absent-optim.safetensors";
    return Trial{[=] { optim::load(*opt, p); }, ps, [=] { return fp_optim(*opt); }};
  });
  return cs;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> cs = build_cases();
  return cs;
}

// What a tensor looked like before the bad call.
struct Snapshot {
  Tensor t;
  std::string bytes;
  uint32_t version;
  const ag::Node* grad_fn;
  bool requires_grad;
  explicit Snapshot(const Tensor& x)
      : t(x), bytes(fp(x)), version(x._version()), grad_fn(x.grad_fn().get()), requires_grad(x.requires_grad()) {}
  void expect_unchanged(size_t i) const {
    EXPECT_EQ(fp(t), bytes) << "watched tensor " << i << " changed (values, shape or dtype)";
    EXPECT_EQ(t._version(), version) << "watched tensor " << i << " was written";
    EXPECT_EQ(t.grad_fn().get(), grad_fn) << "watched tensor " << i << " has another history";
    EXPECT_EQ(t.requires_grad(), requires_grad) << "watched tensor " << i;
  }
};

class BadInput : public ::testing::TestWithParam<size_t> {};

}  // namespace

TEST_P(BadInput, ThrowsAgErrorAndChangesNothing) {
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.area + ": " + c.name);
  Trial trial = c.make();
  std::vector<Snapshot> snaps;
  for (const Tensor& t : trial.watched) snaps.emplace_back(t);
  const std::string before = trial.state ? trial.state() : "";
  const std::string msg = error_of(trial.call);
  for (const std::string& piece : c.expect)
    EXPECT_NE(msg.find(piece), std::string::npos) << "missing \"" << piece << "\" in: " << msg;
  for (size_t i = 0; i < snaps.size(); ++i) snaps[i].expect_unchanged(i);
  if (trial.state) EXPECT_TRUE(trial.state() == before) << "state changed";
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInput, ::testing::Range<size_t>(0, cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           const Case& c = cases()[info.param];
                           std::string n = c.area + "_" + c.name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return std::to_string(info.param) + "_" + n;
                         });

TEST(BadInputCatalogue, CountsEveryArea) {
  std::map<std::string, int> per_area;
  for (const Case& c : cases()) ++per_area[c.area];
  std::ostringstream os;
  for (const auto& [area, n] : per_area) os << area << " " << n << ", ";
  std::printf("bad-input catalogue: %zu cases (%s)\n", cases().size(), os.str().c_str());
  EXPECT_GE(cases().size(), 100u);
  for (const char* area : {"tensor", "ops", "autograd", "nn", "optim", "data", "save/load"})
    EXPECT_GE(per_area[area], 5) << area;
  // Names are unique, so a failure names one case.
  std::set<std::string> names;
  for (const Case& c : cases()) EXPECT_TRUE(names.insert(c.area + c.name).second) << c.name;
}

// ---- not errors: what PyTorch accepts, ag accepts too ---------------------------------------
TEST(BadInputCatalogue, OptimizerSkipsParametersWithoutGrad) {
  auto ps = stepped_params();
  optim::Adam adam(ps, optim::AdamOptions(0.1));
  ps[0].set_grad(ag::ones_like(ps[0]));  // ps[1] has no grad: skipped, as in PyTorch
  const Tensor before1 = ps[1].detach().clone();
  adam.step();
  EXPECT_TRUE(ag::equal(ps[1].detach(), before1));
  EXPECT_EQ(adam.state_of(ps[1]), nullptr);
  EXPECT_NE(adam.state_of(ps[0]), nullptr);
}

// PyTorch casts a gradient of another floating dtype to the output's; so does ag.
TEST(BadInputCatalogue, BackwardCastsAGradientOfAnotherDtype) {
  Tensor x = ag::tensor({1.f, 2.f}, kGrad);
  (x * x).backward(ag::ones({2}, ag::kFloat64));
  EXPECT_EQ(x.grad().dtype(), ag::kFloat32);
  EXPECT_TRUE(ag::equal(x.grad(), ag::tensor({2.f, 4.f})));
}

TEST(BadInputCatalogue, EmptyAndZeroSizeTensorsWork) {
  Tensor e = ag::zeros({0, 3}, kGrad);
  Tensor s = (e * 2.0).sum();
  s.backward();
  EXPECT_EQ(s.item<float>(), 0.f);
  EXPECT_EQ(e.grad().shape(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(ag::mm(ag::ones({2, 0}), ag::ones({0, 4})).sum().item<float>(), 0.f);
  EXPECT_EQ(ag::cat({ag::zeros({0, 2}), ag::ones({1, 2})}).shape(), (std::vector<int64_t>{1, 2}));
  data::DataLoader loader(data::TensorDataset(ag::zeros({0, 2}), ag::zeros({0})), data::DataLoaderOptions(4));
  int batches = 0;
  for (const auto& b : loader) batches += static_cast<int>(b.input.size(0) >= 0);
  EXPECT_EQ(batches, 0);
}

// ---- regressions from the fuzzers (fuzz/corpus/*/crash-*) -------------------------------------
// fuzz_ops: a float -> int64 conversion of inf, NaN or a value past 2^63 was undefined
// behaviour (UBSan: "inf is outside the range of representable values of type 'long'"). It is
// now PyTorch's result on x86-64: INT64_MIN. The other conversions are unchanged.
TEST(FuzzRegressions, NonFiniteFloatToInt64IsDefined) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const Tensor f = ag::tensor({kInf, -kInf, kNaN, 1e30, -1e30, 2.9, -2.9, 9.2233720368547748e18});
  const Tensor i = f.to(ag::kInt64);
  const std::vector<int64_t> want{kMin, kMin, kMin, kMin, kMin, 2, -2, 9223372036854774784};
  ASSERT_EQ(i.numel(), 8);
  for (int64_t k = 0; k < 8; ++k) EXPECT_EQ(i.data_ptr<int64_t>()[k], want[static_cast<size_t>(k)]) << k;
  EXPECT_EQ(ag::tensor({static_cast<float>(kInf)}).to(ag::kInt64).item<int64_t>(), kMin);
  EXPECT_EQ(ag::scalar_tensor(kNaN).item<int64_t>(), kMin);
  EXPECT_EQ(ag::full({2}, kInf, ag::kInt64).data_ptr<int64_t>()[1], kMin);
  EXPECT_EQ(ag::tensor(std::vector<double>{kNaN}, ag::TensorOptions(ag::kInt64)).item<int64_t>(), kMin);
  EXPECT_EQ(ag::linspace(0.0, 1e30, 4, ag::kInt64).data_ptr<int64_t>()[2], kMin);  // 6.7e29
  EXPECT_EQ(ag::linspace(kNaN, 1.0, 1, ag::kInt64).item<int64_t>(), kMin);
  EXPECT_EQ(ag::arange(9.3e18, 9.5e18, 1e17, ag::kInt64).data_ptr<int64_t>()[0], kMin);
  EXPECT_EQ(ag::arange(0.0, 6.0, 2.5, ag::kInt64).data_ptr<int64_t>()[2], 5);
  Tensor dst = ag::zeros({2}, ag::kInt64);
  dst.copy_(ag::tensor({kInf, 3.5}));
  EXPECT_EQ(dst.data_ptr<int64_t>()[0], kMin);
  EXPECT_EQ(dst.data_ptr<int64_t>()[1], 3);
  EXPECT_TRUE(ag::tensor({kNaN}).to(ag::kBool).item<bool>());  // nonzero is true, as in PyTorch
}

// fuzz_ops: slice with a step near INT64_MAX overflowed computing the size and strides.
TEST(FuzzRegressions, SliceWithAHugeStep) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Tensor x = ag::arange(12.0).reshape({3, 4}).requires_grad_();
  const Tensor s = x.slice(1, 1, kMax, kMax - 1);
  EXPECT_EQ(s.shape(), (std::vector<int64_t>{3, 1}));
  EXPECT_TRUE(ag::equal(s.detach().reshape({3}), ag::tensor({1.f, 5.f, 9.f})));
  s.sum().backward();
  EXPECT_TRUE(ag::equal(x.grad().select(1, 1), ag::ones({3})));
  EXPECT_EQ(x.grad().sum().item<float>(), 3.f);
  EXPECT_EQ(x.slice(0, 3, kMax, kMax).shape(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(x.slice(0, std::numeric_limits<int64_t>::min(), kMax, 2).shape(), (std::vector<int64_t>{2, 4}));
}

// fuzz_ops: an int64 sum that overflows was undefined behaviour; it wraps as in PyTorch.
TEST(FuzzRegressions, Int64SumWraps) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(ag::tensor({kMax, int64_t{1}}).sum().item<int64_t>(), kMin);
  EXPECT_EQ(ag::tensor({kMax, kMax, kMax}).reshape({1, 3}).sum(1).item<int64_t>(), kMax - 2);
  EXPECT_EQ(ag::tensor({true, true, true}).sum().item<int64_t>(), 3);
}

// fuzz_ops: empty(kBool) handed out uninitialised bytes, and a bool byte other than 0 or 1
// is undefined behaviour to read (UBSan: "load of value 190 ... not a valid value for type
// 'const bool'"). Bool tensors from empty() start false.
TEST(FuzzRegressions, EmptyBoolIsFalse) {
  for (int i = 0; i < 4; ++i) {
    ag::zeros({64}).fill_(3.0);  // leave garbage in a freed buffer for the next allocation
    const Tensor e = ag::empty({64}, ag::kBool);
    EXPECT_FALSE(e.any().item<bool>());
    EXPECT_FALSE(ag::empty_like(ag::tensor({true, true})).any().item<bool>());
  }
}

// fuzz_ops: randint(low, high) computed high - low in int64, which overflows for wide ranges.
TEST(FuzzRegressions, RandintOverTheWholeInt64Range) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  const Tensor r = ag::randint(kMin, kMax, {1000});
  bool negative = false, positive = false;
  for (int64_t i = 0; i < r.numel(); ++i) {
    const int64_t v = r.data_ptr<int64_t>()[i];
    EXPECT_LT(v, kMax);
    negative |= v < 0;
    positive |= v > 0;
  }
  EXPECT_TRUE(negative && positive);
  const Tensor s = ag::randint(-6, 6, {1000});
  EXPECT_GE(s.min().item<int64_t>(), -6);
  EXPECT_LE(s.max().item<int64_t>(), 5);
}

// Printing int64 went through a double: INT64_MAX rounded to 2^63, whose conversion back is
// undefined, and large values printed wrong.
TEST(FuzzRegressions, Int64PrintsExactly) {
  const Tensor t = ag::tensor({std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                               int64_t{9007199254740993}});
  EXPECT_EQ(ag::to_string(t), "tensor([9223372036854775807, -9223372036854775808, 9007199254740993])")
      << ag::to_string(t);
  EXPECT_EQ(ag::to_string(ag::scalar_tensor(3.0, ag::kInt64)), "tensor(3)");
}

// fuzz_idx: four 32-bit sizes multiplied into int64 before the size check (signed
// overflow); now refused as implausibly large (also a case of the table above).
TEST(FuzzRegressions, IdxSizeProductOverflow) {
  const std::string p = tmp_dir() + "/overflow.idx";
  write_file(p, idx({1, 2, 0x61081a18u, 0xbb550000u}, 4));
  EXPECT_NE(error_of([&] { data::read_idx(p); }).find("implausibly large"), std::string::npos);
}

// Whether any of `nodes` is still alive after its graph should have been freed (a leak
// through a reference cycle). If so, the cycles are broken (so that LeakSanitizer builds
// stay clean): every node reachable from them frees what it saved.
bool leaked_and_broken(std::initializer_list<std::weak_ptr<ag::Node>> nodes) {
  bool leaked = false;
  std::vector<std::shared_ptr<ag::Node>> stack;
  for (const auto& w : nodes) {
    leaked |= !w.expired();
    stack.push_back(w.lock());
  }
  std::set<const ag::Node*> seen;
  while (!stack.empty()) {
    const std::shared_ptr<ag::Node> n = stack.back();
    stack.pop_back();
    if (!n || !seen.insert(n.get()).second) continue;
    n->release_variables();
    for (const auto& e : n->next_edges()) stack.push_back(e.function);
  }
  return leaked;
}

// fuzz_ops (LeakSanitizer): x.div_(x) on a tensor with history saved x for the division's
// backward and then made that node x's grad_fn: x -> node -> saved x, a reference cycle that
// never freed (likewise x.mul_(x * x)). Fixed in the engine (973e19b): as PyTorch's
// SavedVariable, a non-output input is kept by its data and grad_fn, not by handle.
TEST(FuzzRegressions, InPlaceWithItselfLeavesNoCycle) {
  std::weak_ptr<ag::Node> div_node, mul_node;
  {
    Tensor x = ag::ones({3}, kGrad);
    Tensor a = x * 2.0;
    a.div_(a);
    div_node = a.grad_fn();
    Tensor b = x * 3.0;
    b.mul_(b * b);
    mul_node = b.grad_fn();
  }
  EXPECT_FALSE(leaked_and_broken({div_node, mul_node})) << "an in-place op whose operand is (or was computed from) its own target leaves a "
                          "node -> saved tensor -> node cycle";
}

// fuzz_ops (LeakSanitizer, leak-leaf-loses-requires-grad): a leaf used in a graph, then
// x.requires_grad_(false) and x.add_(y) with y computed from x: x's new history leads to
// x's accumulator, which held x by handle (and so did a node that saved x): a cycle that
// never freed. Fixed in the engine: AccumulateGrad and a saved leaf hold the leaf weakly.
TEST(FuzzRegressions, LeafThatLosesRequiresGradAndTakesHistoryLeavesNoCycle) {
  std::weak_ptr<ag::Node> add_node, mul_node;
  {
    Tensor x = ag::ones({3}, kGrad);
    Tensor y = x + 1.0;  // y -> AddBackward -> x's accumulator
    x.requires_grad_(false);
    x.add_(y);
    add_node = x.grad_fn();
    Tensor z = ag::ones({3}, kGrad);
    Tensor w = z * z;  // MulBackward saves z
    z.requires_grad_(false);
    z.mul_(w);
    mul_node = z.grad_fn();
    // As in PyTorch, backward through y then refuses to accumulate into x, which is no
    // longer a leaf; and a leaf that only stopped requiring grad takes no gradient.
    const std::string e = error_of([&] { y.sum().backward(); });
    EXPECT_NE(e.find("AccumulateGrad: the leaf of shape [3] has been moved into the graph interior"), std::string::npos) << e;
    Tensor v = ag::ones({2}, kGrad);
    Tensor u = (v * v).sum();
    v.requires_grad_(false);
    u.backward();
    EXPECT_FALSE(v.grad().defined());
  }
  EXPECT_FALSE(leaked_and_broken({add_node, mul_node})) << "a leaf's accumulator or a saved leaf keeps the leaf alive through its own history";
}

// A gradient for a leaf that nobody holds any more has nowhere to go and is dropped; the
// rest of the backward goes on.
TEST(FuzzRegressions, BackwardAfterALeafIsGoneStillReachesTheOthers) {
  Tensor kept = ag::ones({2}, kGrad);
  Tensor loss;
  {
    Tensor gone = ag::full({2}, 3.0, kGrad);
    loss = (kept * gone).sum();
  }
  loss.backward();
  EXPECT_EQ(kept.grad()[1].item<float>(), 3.0f);
}

// fuzz_ops (crash-backward-freed-graph-midway): a backward over several roots, one of whose
// graphs an earlier backward had freed, failed only when it reached that graph, after the
// other root's gradient had already been added to x.grad(). The engine now looks for freed
// nodes before it runs anything (Note [Freed graphs]), so the error changes nothing.
TEST(FuzzRegressions, BackwardThroughAFreedGraphChangesNoGradient) {
  Tensor x = ag::full({3}, 2.0, kGrad), y = ag::full({3}, 1.0, kGrad);
  Tensor freed = (x * x).sum();
  freed.backward();  // frees MulBackward0's saved tensors
  Tensor fresh = (y * 3.0).sum();
  for (const bool fresh_first : {true, false}) {  // whichever the engine would run first
    const std::string e = error_of([&] {
      if (fresh_first) ag::backward({fresh, freed}, {}, true);
      else ag::backward({freed, fresh}, {}, true);
    });
    EXPECT_NE(e.find("Trying to backward through the graph a second time"), std::string::npos) << e;
    EXPECT_NE(e.find("MulBackward0"), std::string::npos) << e;
    EXPECT_FALSE(y.grad().defined()) << "y.grad() was written by a backward that failed";
    EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 4.0f);
  }
  // The graph that was not freed still runs.
  fresh.backward();
  EXPECT_FLOAT_EQ(y.grad()[0].item<float>(), 3.0f);
}

// fuzz_ops (crash-retained-grad-aliases-root): with retain_grad, the first gradient of a
// non-leaf was stored as it came under create_graph; ag::grad({r}, {r}, {r}) passes r as
// its own gradient, so r became r.grad(), and the next backward's in-place accumulation
// wrote into r (a saved output), failing midway. As PyTorch, a retained gradient is now
// copied first and accumulated out of place.
TEST(FuzzRegressions, RetainedGradNeverAliasesTheTensor) {
  Tensor a = ag::full({3}, 2.0, kGrad);
  Tensor r = a.norm();
  r.retain_grad();
  (void)ag::grad({r}, {r}, {r}, true, true);
  ASSERT_TRUE(r.grad().defined());
  EXPECT_NE(r.grad().unsafeGetTensorImpl(), r.unsafeGetTensorImpl());
  EXPECT_NE(r.grad().unsafeGetTensorImpl()->storage.get(), r.unsafeGetTensorImpl()->storage.get());
  const uint32_t version = r._version();
  ag::backward({r}, {}, true);
  EXPECT_EQ(r._version(), version);
  EXPECT_NEAR(r.grad().item<float>(), r.item<float>() + 1.0f, 1e-5);
  Tensor g = ag::ones({});
  Tensor s = a.sum();
  s.retain_grad();
  s.backward(g);
  g.add_(5.0);  // the gradient passed in is the user's; .grad() is a copy
  EXPECT_FLOAT_EQ(s.grad().item<float>(), 1.0f);
}

// fuzz_ops (crash-function-freed-graph-midway): the same through a custom Function (the nn
// losses are Functions): its node is marked freed when its backward read what it saved, so
// a second backward fails before anything runs; one whose backward never reads its saved
// tensors may run again, as in libtorch.
struct SquareReadingSaved : ag::Function<SquareReadingSaved> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x;
  }
  static ag::tensor_list backward(ag::AutogradContext* ctx, ag::tensor_list g) {
    return {g[0] * 2.0 * ctx->get_saved_variables()[0]};
  }
};
struct DoubleIgnoringSaved : ag::Function<DoubleIgnoringSaved> {
  static Tensor forward(ag::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * 2.0;
  }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list g) { return {g[0] * 2.0}; }
};
TEST(FuzzRegressions, BackwardThroughAFreedFunctionChangesNoGradient) {
  Tensor x = ag::full({3}, 2.0, kGrad), y = ag::full({3}, 1.0, kGrad);
  Tensor freed = SquareReadingSaved::apply(x).sum();
  freed.backward();
  Tensor fresh = (y * 3.0).sum();
  for (const bool fresh_first : {true, false}) {
    const std::string e = error_of([&] {
      if (fresh_first) ag::backward({fresh, freed}, {}, true);
      else ag::backward({freed, fresh}, {}, true);
    });
    EXPECT_NE(e.find("Trying to backward through the graph a second time"), std::string::npos) << e;
    EXPECT_FALSE(y.grad().defined()) << "y.grad() was written by a backward that failed";
  }
  Tensor again = DoubleIgnoringSaved::apply(x).sum();
  again.backward();
  again.backward();  // its backward never reads what it saved: allowed, as in libtorch
  EXPECT_FLOAT_EQ(x.grad()[0].item<float>(), 4.0f + 2.0f + 2.0f);  // d(x²)/dx at 2, then 2 twice
}

// fuzz_ops (a timeout): x.backward(x, create_graph=true) when x already had a grad
// deadlocked: AccumulateGrad added the new gradient to x.grad() while it held x's gradient
// lock, and recording that addition (create_graph) asked for x's accumulator, which takes
// the same lock again. Fixed in the engine (0fd4e6d). Run in a child process so that a hang
// cannot hang the suite.
TEST(FuzzRegressions, CreateGraphBackwardWithTheLeafAsItsGradientDoesNotDeadlock) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // never outlive the parent's patience
    Tensor x = ag::ones({2}, kGrad);
    x.backward(x, /*retain_graph=*/true, /*create_graph=*/true);
    x.backward(x, /*retain_graph=*/true, /*create_graph=*/true);
    _exit(x.grad().defined() && x.grad().data_ptr<float>()[0] == 2.f ? 0 : 3);
  }
  int status = 0;
  bool done = false;
  for (int i = 0; i < 500 && !done; ++i) {  // up to 5 s
    done = waitpid(pid, &status, WNOHANG) == pid;
    if (!done) usleep(10000);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(done) << "backward with create_graph deadlocked adding a leaf to its own gradient";
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
