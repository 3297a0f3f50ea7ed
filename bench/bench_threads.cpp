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
// The model (Note [Scaling model] below): the 1-thread time W splits into the part spent in
// regions that may use threads, P, and the rest, S, which threads cannot shorten (the
// backward's walk, small ops, the glue between ops). A backward graph's parallel part
// cannot finish before its longest path, C = P x (nodes on the longest path / nodes).
// Running on N threads costs extra CPU time, N x T_N - W, spread over the pieces that ran
// as tasks: the overhead per task, o. With those, T_p = S + max(P / p, C) + o x tasks / p
// for p >= 2, and the table gives W / T_p at 4, 8 and 16 threads, to set beside a curve
// measured on a machine with that many cores; --csv writes workload,threads,speedup,kind
// rows (kind: measured, ceiling or predicted) for scripts/bench.sh.
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
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/elementwise.hpp"  // simd_arch_name
#include "runtime/parallel.hpp"     // parallel_account

namespace {

namespace F = ag::nn::functional;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One instance of a workload: prepare() does what a sample needs outside the timed part
// (builds the graph of a backward-only workload, drops the last one), run() is the timed
// part. The copies measurement makes one instance per thread, on that thread.
struct Instance {
  virtual ~Instance() = default;
  virtual void prepare() {}
  virtual void run() = 0;
  virtual const ag::Tensor* graph() const { return nullptr; }  // a backward-only workload's root
};

struct Workload {
  const char* name;
  const char* what;
  double target;  // the ratio it should reach
  std::function<std::unique_ptr<Instance>()> make;
  double nodes_per_sample = 0;  // for ns per node (chain)
};

using ag_bench::build_wide;

// The wide graph's backward on its own leaf.
struct Wide final : Instance {
  ag::Tensor x = ag::randn({256}).requires_grad_(true);
  ag::Tensor loss;
  void prepare() override {
    if (loss.defined()) x.grad().zero_();
    loss = ag::Tensor();  // the previous graph goes before the next is built
    loss = build_wide(x, 64, 200 / 3);
  }
  void run() override { loss.backward(); }
  const ag::Tensor* graph() const override { return &loss; }
};

struct Mlp final : Instance {
  ag::nn::Linear fc1, fc2;
  ag::optim::SGD opt;
  ag::Tensor x, y;
  Mlp(int64_t hidden, int64_t batch)
      : fc1(784, hidden), fc2(hidden, 10), opt({fc1->weight, fc1->bias, fc2->weight, fc2->bias}, ag::optim::SGDOptions(0.01)),
        x(ag::rand({batch, 784})), y(ag::randint(10, {batch})) {}
  void run() override {
    opt.zero_grad();
    ag::Tensor loss = F::cross_entropy(fc2(ag::sigmoid(fc1(x))), y);
    loss.backward();
    opt.step();
  }
};

constexpr int kTinySteps = 1000;
struct Tiny final : Instance {
  ag::nn::Linear fc1{2, 4}, fc2{4, 1};
  ag::optim::SGD opt{{fc1->weight, fc1->bias, fc2->weight, fc2->bias}, ag::optim::SGDOptions(0.1)};
  ag::Tensor x = ag::tensor(std::vector<float>{0.3f, -0.7f}, {1, 2});
  ag::Tensor target = ag::tensor(std::vector<float>{1.f}, {1, 1});
  void run() override {
    for (int i = 0; i < kTinySteps; ++i) {
      opt.zero_grad();
      F::mse_loss(ag::sigmoid(fc2(ag::sigmoid(fc1(x)))), target).backward();
      opt.step();
    }
  }
};

// y = y * c + d over 0-d tensors: c and d need no gradient, y starts at a leaf that does.
constexpr int kChain = 20000;
struct Chain final : Instance {
  ag::Tensor c = ag::scalar_tensor(0.999), d = ag::scalar_tensor(0.001);
  ag::Tensor y0 = ag::scalar_tensor(1.0).requires_grad_(true);
  ag::Tensor y;
  void prepare() override {
    if (y.defined()) y0.grad().zero_();
    y = ag::Tensor();
    y = y0;
    for (int i = 0; i < kChain; ++i) y = y * c + d;
  }
  void run() override { y.backward(); }
  const ag::Tensor* graph() const override { return &y; }
};

// One timed sample, with what the library counted during it (Note [Parallel accounting]
// in autograd/runtime/parallel.hpp): seconds in regions that may use threads, and pieces
// that ran as tasks.
struct Sample {
  double seconds = 0, region_seconds = 0, pieces = 0;
};

Sample timed(Instance& w) {
  w.prepare();
  const ag::detail::ParallelAccount a = ag::detail::parallel_account();
  const auto t0 = Clock::now();
  w.run();
  const double s = seconds_since(t0);
  const ag::detail::ParallelAccount b = ag::detail::parallel_account();
  return {s, (b.region_ns - a.region_ns) * 1e-9, static_cast<double>(b.pieces - a.pieces)};
}

// Note [Scaling model]
// Four numbers per workload, all measured in the same run: W, the 1-thread time; P, the
// part of W the library spent in regions that may use threads (Note [Parallel
// accounting]); C, for a backward-only graph, P times the share of its nodes on the
// longest path (the critical path, assuming nodes of equal cost; 0 where no graph is
// known); o, the extra CPU time a run on N threads cost (N x T_N - W) per piece that ran
// as a task. The prediction keeps S = W - P serial, divides P by p down to C, and charges
// o for every task: T_p = S + max(P / p, C) + o x tasks / p. At p = N it gives back the
// measured time (with medians of each side). What it leaves out: tasks grow with p for a
// GEMM (2 per thread) and the extra cost per task grows with the distance between cores,
// so at 16 it is an upper bound, and it knows nothing of memory bandwidth (see the
// ceiling column).
//
// Note [Independent copies]
// What the machine gives N threads on work that shares nothing: N threads, each with its
// own instance of the workload (made on that thread), prepare, then run at the same time;
// the sample is the wall time from the start signal to the last one done. N copies in
// that time against one instance in the 1-thread time is the ceiling a parallel backward
// of the same work can reach here, memory and caches included. On the 2-vCPU machine it
// is not 2: two wide-graph backwards at once each ran up to ~1.4x slower than one alone
// (two whole processes as well: 1.44-1.75x the throughput of one), because the work is
// bound by memory latency, and the two vCPUs share what serves it.
// A reusable barrier of n threads.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n), left_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> l(m_);
    const uint64_t gen = gen_;
    if (--left_ == 0) {
      ++gen_;
      left_ = n_;
      cv_.notify_all();
    } else {
      cv_.wait(l, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  const int n_;
  int left_;
  uint64_t gen_ = 0;
};

class Copies {
 public:
  Copies(int n, const std::function<std::unique_ptr<Instance>()>& make)
      : start_(n + 1), done_(n + 1), begin_(n), end_(n) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this, &make, i] {
        std::unique_ptr<Instance> w;
        {
          std::lock_guard<std::mutex> l(make_mutex_);  // the shared random generator
          w = make();
        }
        for (;;) {
          w->prepare();
          start_.arrive_and_wait();
          if (stop_.load()) return;
          begin_[i] = Clock::now();
          w->run();
          end_[i] = Clock::now();
          done_.arrive_and_wait();
        }
      });
  }
  ~Copies() {
    stop_.store(true);
    start_.arrive_and_wait();
    for (auto& t : threads_) t.join();
  }
  // From the first copy's start to the last one's end, as the copies saw them: the caller
  // is a third thread on two cores and may wake up late.
  double sample() {
    start_.arrive_and_wait();
    done_.arrive_and_wait();
    return std::chrono::duration<double>(*std::max_element(end_.begin(), end_.end()) -
                                         *std::min_element(begin_.begin(), begin_.end()))
        .count();
  }

 private:
  Barrier start_, done_;
  std::vector<Clock::time_point> begin_, end_;
  std::atomic<bool> stop_{false};
  std::mutex make_mutex_;
  std::vector<std::thread> threads_;
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

  std::vector<Workload> workloads = {
      {"wide", "wide graph backward (64 x 200 ops, 256 floats)", 1.8, [] { return std::make_unique<Wide>(); }},
      {"mlp1024", "784-1024-10 b1024 whole step", 1.75, [] { return std::make_unique<Mlp>(1024, 1024); }},
      {"mlp256", "784-256-10 b256 whole step", 1.4, [] { return std::make_unique<Mlp>(256, 256); }},
      {"tiny", "2-4-1 net whole step (x1000)", 0.95, [] { return std::make_unique<Tiny>(); }},
      {"chain", "scalar chain backward (0-d operands)", 0.95, [] { return std::make_unique<Chain>(); }, 2.0 * kChain},
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
  std::printf("| workload | 1 thread (median) | %d threads (median) | speed-up (median of rounds) | target | %d independent copies (ceiling) | share of ceiling | work W / serial S / critical path C | tasks at %d threads, overhead each | predicted at 4 / 8 / 16 |\n", threads, threads, threads);
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (Workload& w : workloads) {
    if (!only.empty() && only != w.name) continue;
    std::unique_ptr<Instance> inst = w.make();
    Copies copies(threads, w.make);
    auto measure = [&](int kind) {  // 0: one thread, 1: N threads, 2: N copies on one thread each
      ag::set_num_threads(kind == 1 ? threads : 1);
      return kind == 2 ? Sample{copies.sample()} : timed(*inst);
    };
    for (int warm = 0; warm < 3; ++warm)
      for (int kind : {0, 1, 2}) measure(kind);
    std::vector<double> one, many, ratio, ceiling, region1, pieces;
    for (int p = 0; p < pairs; ++p) {
      // Rotate the order, so that none always follows another.
      Sample t[3];
      for (int k = 0; k < 3; ++k) {
        const int kind = (k + p) % 3;
        t[kind] = measure(kind);
      }
      one.push_back(t[0].seconds);
      many.push_back(t[1].seconds);
      ratio.push_back(t[0].seconds / t[1].seconds);
      ceiling.push_back(threads * t[0].seconds / t[2].seconds);
      region1.push_back(t[0].region_seconds);
      pieces.push_back(t[1].pieces);
    }
    // Note [Scaling model]
    const double r = median(ratio), c = median(ceiling);
    const double W = median(one), TN = median(many);
    const double P = std::min(median(region1), W), S = W - P;
    double C = 0;
    if (const ag::Tensor* root = inst->graph()) {
      inst->prepare();
      const ag_bench::GraphShape g = ag_bench::graph_shape(*root);
      if (g.nodes > 0) C = P * static_cast<double>(g.longest) / static_cast<double>(g.nodes);
    }
    const double tasks = median(pieces);
    const double o = tasks > 0 ? std::max(0.0, (threads * TN - W) / tasks) : 0.0;
    auto predict = [&](double p) { return p < 2 ? 1.0 : W / (S + std::max(P / p, C) + o * tasks / p); };
    std::printf("| %s | %.3f ms | %.3f ms | **%.2fx** | %s %.2fx | %.2fx | %.0f%% | %.3f / %.3f / %.3f ms | %.0f, %.1f us | %.1fx / %.1fx / %.1fx |",
                w.what, W * 1e3, TN * 1e3, r, r >= w.target ? "met," : "MISSED,", w.target, c, 100.0 * r / c, W * 1e3,
                S * 1e3, C * 1e3, tasks, o * 1e6, predict(4), predict(8), predict(16));
    if (w.nodes_per_sample > 0)
      std::printf(" %.0f ns per node (1 thread)", W * 1e9 / w.nodes_per_sample);
    std::printf("\n");
    if (csv) {
      std::fprintf(csv, "%s,1,1,measured\n%s,%d,%.4f,measured\n%s,%d,%.4f,ceiling\n", w.name, w.name, threads, r,
                   w.name, threads, c);
      for (int p : {1, 2, 4, 8, 16}) std::fprintf(csv, "%s,%d,%.4f,predicted\n", w.name, p, predict(p));
    }
    std::fflush(stdout);
  }
  if (csv) std::fclose(csv);
  return 0;
}
