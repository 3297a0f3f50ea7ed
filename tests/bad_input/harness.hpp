// The harness of the bad-input catalogue (issue 7), shared by the files of tests/bad_input/:
// each area's file (tensor.cpp, ops.cpp, autograd.cpp, nn.cpp, optim.cpp, data.cpp,
// save_load.cpp) lists its named cases, and catalogue.cpp runs them all. Each case builds
// what it needs, makes one bad call, and asserts (DESIGN.md, "Errors") that
//   - the call throws ag::Error (nothing else), whose message contains the listed pieces —
//     the op's name and the shapes or values involved;
//   - nothing changed: every watched tensor keeps its values, version, shape, dtype and
//     history, and the case's other state (gradients, a module's parameters and buffers,
//     an optimizer's state_dict, files on disk) has the same fingerprint before and after.
// Inputs found by the fuzzers (fuzz/) are cases too, marked "fuzz:"; their conversions'
// regressions are in fuzz_regressions.cpp.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <ag/ag.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "test_util.hpp"

namespace bad_input {

namespace fs = std::filesystem;
namespace nn = ag::nn;
namespace F = ag::nn::functional;
namespace optim = ag::optim;
namespace data = ag::data;
using ag::Tensor;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline const ag::TensorOptions kGrad = ag::TensorOptions().requires_grad(true);

// ---- fingerprints of state --------------------------------------------------------------
inline std::string fp(const Tensor& t) {
  if (!t.defined()) return "undefined;";
  const Tensor c = t.detach().contiguous();
  std::string s = ag::shape_str(c.shape()) + ag::dtype_name(c.dtype()) + ":";
  s.append(static_cast<const char*>(c.unsafeGetTensorImpl()->raw_data()),
           static_cast<size_t>(c.numel()) * ag::element_size(c.dtype()));
  return s + ";";
}
inline std::string fp_grads(const std::vector<Tensor>& ts) {
  std::string s;
  for (const Tensor& t : ts) s += fp(t.grad());
  return s;
}
inline std::string fp_module(const nn::Module& m) {
  std::string s;
  for (const auto& [name, t] : m.named_parameters()) s += name + "=" + fp(t) + std::to_string(t._version());
  for (const auto& [name, t] : m.named_buffers()) s += name + "=" + fp(t) + std::to_string(t._version());
  return s;
}
inline std::string fp_optim(const optim::Optimizer& o) {
  const optim::OptimizerStateDict sd = o.state_dict();
  std::string s;
  for (const auto& [k, v] : sd.metadata) s += k + "=" + v + ";";
  for (const auto& [k, t] : sd.tensors) s += k + "=" + fp(t);
  for (const Tensor& p : o.parameters()) s += fp(p) + fp(p.grad());
  return s;
}
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "<absent>";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
// Every file of a directory with its bytes (a failed save must leave no temporary file).
inline std::string fp_dir(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files[e.path().filename()] = read_file(e.path());
  std::string s;
  for (const auto& [n, b] : files) s += n + "=" + std::to_string(b.size()) + ":" + b + ";";
  return s;
}

// ---- files ----------------------------------------------------------------------------------
// One directory for the whole program, removed at exit.
inline const std::string& tmp_dir() {
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
inline std::string case_dir() {
  static int n = 0;
  const std::string d = tmp_dir() + "/case" + std::to_string(n++);
  fs::create_directories(d);
  return d;
}
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline std::string gzip(const std::string& in) {
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
inline std::string idx(std::vector<uint32_t> dims, int64_t body = -1, unsigned char type = 0x08) {
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
inline std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// ---- models --------------------------------------------------------------------------------
inline nn::Sequential mlp(int64_t in = 3, int64_t hidden = 4, int64_t out = 2) {
  ag::manual_seed(11);
  nn::Sequential net;
  net->push_back(nn::Linear(in, hidden));
  net->push_back(nn::BatchNorm1d(hidden));
  net->push_back(nn::ReLU());
  net->push_back(nn::Linear(hidden, out));
  return net;
}
// Parameters that have taken one step (so the optimizer has state to lose).
inline std::vector<Tensor> stepped_params() {
  ag::manual_seed(12);
  return {ag::randn({2, 3}).requires_grad_(), ag::randn({3}).requires_grad_()};
}
inline void give_grads(const std::vector<Tensor>& ps) {
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

// The add(area, name, expect, make) each area's file writes its cases with.
inline auto adder(std::vector<Case>& cs) {
  return [&cs](const char* area, const char* name, std::vector<std::string> expect, std::function<Trial()> make) {
    cs.push_back({area, name, std::move(expect), std::move(make)});
  };
}

// The cases of each area, one file each; catalogue.cpp numbers them in this order.
std::vector<Case> tensor_cases();     // tensor.cpp
std::vector<Case> ops_cases();        // ops.cpp
std::vector<Case> autograd_cases();   // autograd.cpp
std::vector<Case> nn_cases();         // nn.cpp
std::vector<Case> optim_cases();      // optim.cpp
std::vector<Case> data_cases();       // data.cpp
std::vector<Case> save_load_cases();  // save_load.cpp

}  // namespace bad_input
