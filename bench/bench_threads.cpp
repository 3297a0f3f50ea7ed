// What threads buy: each workload run with 1 thread and with N threads (default 2),
// alternately in one process, and reported as the median of the per-pair ratios
// time(1 thread) / time(N threads). On a shared virtual machine the speed of a whole
// process can change from one run to the next (the same 1-thread backward has measured
// 2.1 ms in one process and 4.0 ms in the next); a ratio of two runs made a few
// milliseconds apart is not moved by that, a ratio of two medians taken in different
// processes is.
//
//   bench_threads [--threads N] [--pairs P] [--only NAME] [--csv FILE]
//
// The model: from the speed-up S measured at N threads, the Karp-Flatt serial fraction
// e = (1/S - 1/N) / (1 - 1/N) — the share of the 1-thread time that did not shrink with
// threads: the serial walk, hand-overs, work that threads inflate — and what Amdahl's law
// predicts with it at 4, 8 and 16 threads, 1 / (e + (1 - e) / p). A prediction, to set
// beside a measured curve on a machine with that many cores; --csv writes
// workload,threads,speedup,kind rows (kind: measured or predicted) for scripts/bench.sh.
//
// Workloads (the list; target in brackets):
//   wide      64 branches x 200 ops (tanh(y) * 0.9 + 0.01) on 256 floats, backward only  [>= 1.8x]
//   mlp1024   784-1024-10 sigmoid MLP, batch 1024, whole step: forward, backward, SGD      [>= 1.75x]
//   mlp256    784-256-10 sigmoid MLP, batch 256, whole step                                 [>= 1.4x]
//   tiny      2-4-1 sigmoid net, one sample, whole step (1000 steps a sample)               [>= 0.95x]
//   chain     y = y * c + d over 0-d tensors, 20000 steps, backward only (also ns per node) [>= 0.95x]
#include <ag/ag.hpp>

#include "workloads.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/elementwise.hpp"  // simd_arch_name

namespace {

namespace F = ag::nn::functional;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One workload: prepare() builds what a sample needs outside the timed part (a graph for
// backward-only workloads); sample() runs the timed part and returns its seconds.
struct Workload {
  const char* name;
  const char* what;
  double target;  // the ratio it should reach
  std::function<double()> sample;
  double nodes_per_sample = 0;  // for ns per node (chain)
};

using ag_bench::build_wide;

struct Mlp {
  ag::nn::Linear fc1, fc2;
  ag::optim::SGD opt;
  ag::Tensor x, y;
  Mlp(int64_t hidden, int64_t batch)
      : fc1(784, hidden), fc2(hidden, 10), opt({fc1->weight, fc1->bias, fc2->weight, fc2->bias}, ag::optim::SGDOptions(0.01)),
        x(ag::rand({batch, 784})), y(ag::randint(10, {batch})) {}
  double step() {
    const auto t0 = Clock::now();
    opt.zero_grad();
    ag::Tensor loss = F::cross_entropy(fc2(ag::sigmoid(fc1(x))), y);
    loss.backward();
    opt.step();
    return seconds_since(t0);
  }
};

struct Tiny {
  ag::nn::Linear fc1{2, 4}, fc2{4, 1};
  ag::optim::SGD opt{{fc1->weight, fc1->bias, fc2->weight, fc2->bias}, ag::optim::SGDOptions(0.1)};
  ag::Tensor x = ag::tensor(std::vector<float>{0.3f, -0.7f}, {1, 2});
  ag::Tensor target = ag::tensor(std::vector<float>{1.f}, {1, 1});
  double steps(int n) {
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      opt.zero_grad();
      F::mse_loss(ag::sigmoid(fc2(ag::sigmoid(fc1(x)))), target).backward();
      opt.step();
    }
    return seconds_since(t0);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, pairs = 60;
  std::string only, csv_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--pairs" && i + 1 < argc) pairs = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--csv" && i + 1 < argc) csv_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_threads [--threads N] [--pairs P] [--only NAME] [--csv FILE]\n");
      return 2;
    }
  }
  if (threads < 2 || pairs < 1) {
    std::fprintf(stderr, "bench_threads: --threads must be >= 2 and --pairs >= 1\n");
    return 2;
  }
  try {
    ag::set_num_threads(threads);  // checks the value before anything runs
  } catch (const ag::Error& e) {
    std::fprintf(stderr, "bench_threads: %s\n", e.what());
    return 2;
  }
  ag::manual_seed(7);

  ag::Tensor wide_x = ag::randn({256}).requires_grad_(true);
  Mlp big(1024, 1024), small(256, 256);
  Tiny tiny;
  // The chain's operands are 0-d tensors that need no gradient; y starts at a leaf that does.
  ag::Tensor c = ag::scalar_tensor(0.999), d = ag::scalar_tensor(0.001);
  ag::Tensor y0 = ag::scalar_tensor(1.0).requires_grad_(true);
  constexpr int kChain = 20000, kTinySteps = 1000;

  std::vector<Workload> workloads = {
      {"wide", "wide graph backward (64 x 200 ops, 256 floats)", 1.8,
       [&] {
         ag::Tensor loss = build_wide(wide_x, 64, 200 / 3);
         const auto t0 = Clock::now();
         loss.backward();
         const double s = seconds_since(t0);
         wide_x.grad().zero_();
         return s;
       }},
      {"mlp1024", "784-1024-10 b1024 whole step", 1.75, [&] { return big.step(); }},
      {"mlp256", "784-256-10 b256 whole step", 1.4, [&] { return small.step(); }},
      {"tiny", "2-4-1 net whole step (x1000)", 0.95, [&] { return tiny.steps(kTinySteps); }},
      {"chain", "scalar chain backward (0-d operands)", 0.95,
       [&] {
         ag::Tensor y = y0;
         for (int i = 0; i < kChain; ++i) y = y * c + d;
         const auto t0 = Clock::now();
         y.backward();
         const double s = seconds_since(t0);
         y0.grad().zero_();
         return s;
       },
       2.0 * kChain},
  };

  std::printf("bench_threads: %d threads against 1, %d alternating pairs per workload; kernels: %s\n\n", threads, pairs,
              ag::kernels::simd_arch_name());
  std::FILE* csv = nullptr;
  if (!csv_path.empty()) {
    csv = std::fopen(csv_path.c_str(), "w");
    if (!csv) {
      std::fprintf(stderr, "bench_threads: cannot write %s\n", csv_path.c_str());
      return 2;
    }
    std::fprintf(csv, "workload,threads,speedup,kind\n");
  }
  std::printf("| workload | 1 thread (median) | %d threads (median) | speed-up (median of pairs) | target | serial fraction | predicted at 4 / 8 / 16 |\n", threads);
  std::printf("|---|---|---|---|---|---|---|\n");
  for (Workload& w : workloads) {
    if (!only.empty() && only != w.name) continue;
    for (int warm = 0; warm < 3; ++warm)
      for (int t : {1, threads}) {
        ag::set_num_threads(t);
        w.sample();
      }
    std::vector<double> one, many, ratio;
    for (int p = 0; p < pairs; ++p) {
      // Alternate which goes first, so that neither always follows the other.
      double a = 0, b = 0;
      for (int k = 0; k < 2; ++k) {
        const bool single = (k == 0) == (p % 2 == 0);
        ag::set_num_threads(single ? 1 : threads);
        (single ? a : b) = w.sample();
      }
      one.push_back(a);
      many.push_back(b);
      ratio.push_back(a / b);
    }
    const double r = median(ratio);
    const double n = threads;
    const double e = std::clamp((1.0 / r - 1.0 / n) / (1.0 - 1.0 / n), 0.0, 1.0);  // Karp-Flatt
    auto predict = [e](double p) { return 1.0 / (e + (1.0 - e) / p); };
    std::printf("| %s | %.3f ms | %.3f ms | **%.2fx** | %s %.2fx | %.2f | %.1fx / %.1fx / %.1fx |", w.what,
                median(one) * 1e3, median(many) * 1e3, r, r >= w.target ? "met," : "MISSED,", w.target, e, predict(4),
                predict(8), predict(16));
    if (w.nodes_per_sample > 0)
      std::printf(" %.0f ns per node (1 thread)", median(one) * 1e9 / w.nodes_per_sample);
    std::printf("\n");
    if (csv) {
      std::fprintf(csv, "%s,1,1,measured\n%s,%d,%.4f,measured\n", w.name, w.name, threads, r);
      for (int p : {1, 2, 4, 8, 16}) std::fprintf(csv, "%s,%d,%.4f,predicted\n", w.name, p, predict(p));
    }
    std::fflush(stdout);
  }
  if (csv) std::fclose(csv);
  return 0;
}
