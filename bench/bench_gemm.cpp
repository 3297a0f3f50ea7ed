// GEMM: ag's packed kernel (autograd/kernels/gemm.cpp) against OpenBLAS's cblas_sgemm,
// in the same binary and the same run, on the same row-major buffers with the same
// transposition flags, at 1 and 2 threads.
//
// Shapes: square 64-1024, and the products of one training step of the MLPs the issue
// names (batch x in x out): for a Linear layer y = x Wᵀ with x [B x I] and W [O x I]
//   forward   y  [B x O] = x · Wᵀ     (M=B, N=O, K=I, trans_b)
//   grad x    gx [B x I] = g · W      (M=B, N=I, K=O)
//   grad W    gW [O x I] = gᵀ · x     (M=O, N=I, K=B, trans_a)
// Every benchmark reports GFLOP/s (2·M·N·K per call). The repetitions of all benchmarks
// run interleaved in a shuffled order, so a burst of load from a neighbour hits ag and
// OpenBLAS alike; the table at the end gives the median GFLOP/s of each and the ratio
// ag / OpenBLAS of the two medians (above 1: ag is faster).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ag/autograd.hpp"  // set_num_threads
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"

#if AG_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

struct Shape {
  std::string name;
  int64_t M, N, K;
  bool ta, tb;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (int64_t n : {64, 96, 128, 256, 512, 1024})
    s.push_back({"square " + std::to_string(n), n, n, n, false, false});
  struct Mlp {
    int64_t batch, in, out;
  };
  for (Mlp m : {Mlp{64, 784, 128}, Mlp{256, 784, 256}, Mlp{1024, 784, 1024}}) {
    const std::string tag = std::to_string(m.batch) + "x" + std::to_string(m.in) + "x" + std::to_string(m.out);
    s.push_back({tag + " fwd x.Wt", m.batch, m.out, m.in, false, true});
    s.push_back({tag + " bwd g.W", m.batch, m.in, m.out, false, false});
    s.push_back({tag + " bwd gt.x", m.out, m.in, m.batch, true, false});
  }
  return s;
}

// Buffers shared by both libraries for one shape, filled once.
struct Operands {
  std::vector<float> a, b, c;
  int64_t lda, ldb;
  explicit Operands(const Shape& s) {
    const int64_t ar = s.ta ? s.K : s.M, ac = s.ta ? s.M : s.K;
    const int64_t br = s.tb ? s.N : s.K, bc = s.tb ? s.K : s.N;
    lda = ac;
    ldb = bc;
    std::mt19937 gen(42);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    a.resize(ar * ac);
    b.resize(br * bc);
    c.assign(s.M * s.N, 0.f);
    for (auto& x : a) x = u(gen);
    for (auto& x : b) x = u(gen);
  }
};

Operands& operands(size_t i) {
  static std::map<size_t, Operands> cache;
  auto it = cache.find(i);
  if (it == cache.end()) it = cache.emplace(i, Operands(shapes()[i])).first;
  return it->second;
}

void set_flops(benchmark::State& st, const Shape& s) {
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * s.M * s.N * s.K * static_cast<double>(st.iterations()) / 1e9,
                                             benchmark::Counter::kIsRate);
}

void BM_ag(benchmark::State& st) {
  const size_t i = static_cast<size_t>(st.range(0));
  const Shape& s = shapes()[i];
  Operands& o = operands(i);
  ag::set_num_threads(static_cast<int>(st.range(1)));
  for (auto _ : st) {
    ag::kernels::gemm<float>(s.ta, s.tb, s.M, s.N, s.K, 1.f, o.a.data(), o.lda, o.b.data(), o.ldb, 0.f, o.c.data(),
                             s.N);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(st, s);
}

#if AG_HAVE_OPENBLAS
void BM_openblas(benchmark::State& st) {
  const size_t i = static_cast<size_t>(st.range(0));
  const Shape& s = shapes()[i];
  Operands& o = operands(i);
  openblas_set_num_threads(static_cast<int>(st.range(1)));
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.M, s.N, s.K, 1.f,
                o.a.data(), o.lda, o.b.data(), o.ldb, 0.f, o.c.data(), s.N);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(st, s);
}
#endif

// ---- the table: median GFLOP/s of each library and the ratio of the medians -------------
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      auto it = r.counters.find("GFLOPS");
      if (it == r.counters.end()) continue;
      const Key key{r.run_name.function_name, r.run_name.args};
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median") median_[key] = it->second.value;
      } else {
        single_[key] = it->second.value;  // used when there is a single repetition
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::printf("\nag SIMD: %s", ag::kernels::simd_arch_name());
#if AG_HAVE_OPENBLAS
    std::printf("; OpenBLAS kernels: %s (%s)", openblas_get_corename(), openblas_get_config());
#endif
    std::printf(".\nMedian GFLOP/s of the repetitions; ratio = ag / OpenBLAS (above 1: ag is faster).\n\n");
    std::printf("| %-26s | %4s | %4s | %4s | %7s | %8s | %8s | %5s |\n", "shape", "M", "N", "K", "threads", "ag",
                "OpenBLAS", "ratio");
    std::printf("|----------------------------|------|------|------|---------|----------|----------|-------|\n");
    const auto all = shapes();
    for (int threads : {1, 2})
      for (size_t i = 0; i < all.size(); ++i) {
        const std::string args = std::to_string(i) + "/" + std::to_string(threads);
        const double a = value({"ag", args}), b = value({"openblas", args});
        if (a == 0) continue;
        const Shape& s = all[i];
        char ratio[16] = "-", ref[16] = "-";
        if (b > 0) {
          std::snprintf(ratio, sizeof ratio, "%.2f", a / b);
          std::snprintf(ref, sizeof ref, "%.1f", b);
        }
        std::printf("| %-26s | %4lld | %4lld | %4lld | %7d | %8.1f | %8s | %5s |\n", s.name.c_str(),
                    static_cast<long long>(s.M), static_cast<long long>(s.N), static_cast<long long>(s.K), threads,
                    a, ref, ratio);
      }
  }

 private:
  using Key = std::pair<std::string, std::string>;
  double value(const Key& key) const {
    if (auto it = median_.find(key); it != median_.end()) return it->second;
    if (auto it = single_.find(key); it != single_.end()) return it->second;
    return 0.0;
  }
  std::map<Key, double> median_, single_;
};

}  // namespace

int main(int argc, char** argv) {
  // Defaults first, so that the same flags given by the user (parsed later) override them.
  std::vector<std::string> defaults{"--benchmark_repetitions=5", "--benchmark_display_aggregates_only=true",
                                    "--benchmark_enable_random_interleaving=true", "--benchmark_min_time=0.05"};
  std::vector<char*> args{argv[0]};
  for (auto& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  const auto all = shapes();
  for (int threads : {1, 2})
    for (size_t i = 0; i < all.size(); ++i) {
      // One thread: CPU time, which a neighbour's process on this shared machine does not
      // inflate; two threads: wall time (CPU time would count the calling thread only).
      auto* a = benchmark::RegisterBenchmark("ag", BM_ag)->Args({static_cast<int64_t>(i), threads});
      if (threads > 1) a->UseRealTime();
#if AG_HAVE_OPENBLAS
      auto* b = benchmark::RegisterBenchmark("openblas", BM_openblas)->Args({static_cast<int64_t>(i), threads});
      if (threads > 1) b->UseRealTime();
#endif
    }
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table();
  benchmark::Shutdown();
  return 0;
}
