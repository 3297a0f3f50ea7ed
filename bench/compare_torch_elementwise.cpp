// Elementwise ops through the tensor API, ag against libtorch, one thread, in one process:
// out = op(x) for exp, sigmoid and tanh (the transcendental ops the issue asks to be at
// least as fast as libtorch's) and out = a + b, a * b, at 1M and 16M floats.
//
// Both libraries get the same values (a deep copy made before any timing) and write into
// a fresh output each call, as a user's `y = x.sigmoid()` does. ag's caching allocator
// hands the previous call's buffer back; libtorch's CPU allocator returns large buffers to
// the system, so its fresh 64 MB output pays its page faults on every call. The
// `out=` column (torch::sigmoid_out into a preallocated tensor) removes that and compares
// the kernels alone. The two run in alternating
// blocks of ~50 ms, R rounds; the figure is the median time per call of each and the
// ratio ag / libtorch of the medians (below 1: ag is faster). A check first compares the
// outputs (max |difference| relative to 1 ulp-ish tolerance) so the same thing is timed.
//   compare_torch_elementwise [--rounds R]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ag/ag.hpp"
#include "kernels/elementwise.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Runs f repeatedly for about `ms` milliseconds; returns seconds per call.
double time_block(const std::function<void()>& f, double ms) {
  int64_t n = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  do {
    f();
    ++n;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (elapsed * 1e3 < ms);
  return elapsed / static_cast<double>(n);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Row {
  std::string op;
  int64_t n;
  double ag_us, torch_us, torch_out_us;
  double max_diff;
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 9;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--rounds R]\n", argv[0]);
      return 2;
    }
  }
  ag::set_num_threads(1);
  torch::set_num_threads(1);
  std::printf("compare_torch_elementwise: ag (SIMD %s) vs libtorch %s, 1 thread, %d alternating rounds\n\n",
              ag::kernels::simd_arch_name(), TORCH_VERSION, rounds);

  std::vector<Row> rows;
  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 24}) {
    ag::manual_seed(7);
    // Values where the ops are not saturated: exp stays finite, sigmoid/tanh in their
    // curved range.
    const ag::Tensor a = ag::randn({n}) * 3.0, b = ag::randn({n});
    const torch::Tensor ta = torch::from_blob(a.data_ptr<float>(), {n}, torch::kFloat32).clone();
    const torch::Tensor tb = torch::from_blob(b.data_ptr<float>(), {n}, torch::kFloat32).clone();
    struct Op {
      const char* name;
      std::function<ag::Tensor()> ag_f;
      std::function<torch::Tensor()> torch_f;
      std::function<void(torch::Tensor&)> torch_out;  // into a preallocated output
    };
    torch::Tensor out = torch::empty({n}, torch::kFloat32);
    const Op ops[] = {
        {"exp", [&] { return ag::exp(a); }, [&] { return torch::exp(ta); }, [&](torch::Tensor& o) { torch::exp_out(o, ta); }},
        {"sigmoid", [&] { return ag::sigmoid(a); }, [&] { return torch::sigmoid(ta); },
         [&](torch::Tensor& o) { torch::sigmoid_out(o, ta); }},
        {"tanh", [&] { return ag::tanh(a); }, [&] { return torch::tanh(ta); }, [&](torch::Tensor& o) { torch::tanh_out(o, ta); }},
        {"add", [&] { return a + b; }, [&] { return ta + tb; }, [&](torch::Tensor& o) { torch::add_out(o, ta, tb); }},
        {"mul", [&] { return a * b; }, [&] { return ta * tb; }, [&](torch::Tensor& o) { torch::mul_out(o, ta, tb); }},
    };
    for (const Op& op : ops) {
      // The same thing is timed: outputs agree to a few float ulps (relative).
      const ag::Tensor y = op.ag_f();
      const torch::Tensor ty = op.torch_f();
      const float* yp = y.data_ptr<float>();
      const float* tp = ty.data_ptr<float>();
      double worst = 0;
      for (int64_t i = 0; i < n; ++i)
        worst = std::max(worst, std::fabs(double(yp[i]) - double(tp[i])) / std::max(1e-30, std::fabs(double(tp[i]))));
      std::vector<double> ta_s, tt_s, to_s;
      for (int r = 0; r < rounds; ++r) {
        ta_s.push_back(time_block([&] { ag::Tensor o = op.ag_f(); }, 50));
        tt_s.push_back(time_block([&] { torch::Tensor o = op.torch_f(); }, 50));
        to_s.push_back(time_block([&] { op.torch_out(out); }, 50));
      }
      rows.push_back({op.name, n, median(ta_s) * 1e6, median(tt_s) * 1e6, median(to_s) * 1e6, worst});
    }
  }
  std::printf("| op | n | ag µs/call | libtorch µs/call | ratio | libtorch out= µs/call | ratio to out= | max rel. diff |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows)
    std::printf("| %s | %lld | %.1f | %.1f | %.2f | %.1f | %.2f | %.1e |\n", r.op.c_str(), static_cast<long long>(r.n),
                r.ag_us, r.torch_us, r.ag_us / r.torch_us, r.torch_out_us, r.ag_us / r.torch_out_us, r.max_diff);
  std::printf("\nratio = median ag time / median libtorch time over %d alternating rounds (below 1: ag is faster)\n",
              rounds);
  return 0;
}
