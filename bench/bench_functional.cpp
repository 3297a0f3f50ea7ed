// The functional helpers (ag/functional.hpp), each beside its reference in the same run:
//  1. ag::hvp (a Hessian-vector product: forward, backward with create_graph, double
//     backward) against one gradient of the same function (forward + ag::grad).
//     Target: hvp <= 5x a gradient.
//  2. ag::jvp (a Jacobian-vector product) against one plain forward pass (no graph).
//     Target: jvp <= 3x a forward. jvp is true forward mode (Note [jvp by forward mode] in
//     ag/functional.hpp): one forward pass carrying tangents, with explicit JVP rules for
//     the fused linear(+activation), tanh and cross_entropy used here.
// The function is a small MLP's loss as a function of its parameters:
//   cross_entropy(linear(tanh(linear(x, W1, b1)), W2, b2), labels), float32, one thread.
// After the runs a table prints the median time of each and the two ratios (same run).
// Compare rows of one run only: the ratios are the result, the absolute times are noise.
#include <benchmark/benchmark.h>

#include <ag/ag.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {

namespace F = ag::nn::functional;
using ag::Tensor;
using ag::tensor_list;

struct Size {
  int64_t batch, in, hidden, out;
};
const std::vector<Size> kSizes = {{64, 32, 64, 10}, {128, 784, 128, 10}};

struct Problem {
  Tensor x, labels;
  tensor_list params, dirs;  // W1, b1, W2, b2 and one random direction per parameter

  explicit Problem(const Size& s) {
    ag::manual_seed(7);
    x = ag::randn({s.batch, s.in});
    labels = ag::randint(0, s.out, {s.batch});
    params = {ag::randn({s.hidden, s.in}) * 0.1, ag::zeros({s.hidden}), ag::randn({s.out, s.hidden}) * 0.1,
              ag::zeros({s.out})};
    for (Tensor& p : params) p.requires_grad_(true);
    for (const Tensor& p : params) dirs.push_back(ag::randn(p.shape()));
  }
  Tensor loss(const tensor_list& p) const {
    return F::cross_entropy(F::linear(ag::tanh(F::linear(x, p[0], p[1])), p[2], p[3]), labels);
  }
};

// Built on first use, emptied by main() before it returns: a tensor freed during static
// destruction would reach the allocator's per-thread cache after the main thread's
// thread_local objects are gone (autograd/runtime/allocator.cpp, t_cache).
std::map<int64_t, Problem>& problems() {
  static std::map<int64_t, Problem> cache;
  return cache;
}
Problem& problem(int64_t i) {
  auto& cache = problems();
  auto it = cache.find(i);
  if (it == cache.end()) it = cache.emplace(i, Problem(kSizes[static_cast<size_t>(i)])).first;
  return it->second;
}

void label(benchmark::State& state) {
  const Size& s = kSizes[static_cast<size_t>(state.range(0))];
  state.SetLabel(std::to_string(s.batch) + "x" + std::to_string(s.in) + "-" + std::to_string(s.hidden) + "-" +
                 std::to_string(s.out));
}

// One gradient: forward with a graph, then ag::grad over the four parameters.
void BM_grad(benchmark::State& state) {
  Problem& p = problem(state.range(0));
  for (auto _ : state) {
    tensor_list g = ag::grad({p.loss(p.params)}, p.params);
    benchmark::DoNotOptimize(g[0].data_ptr<float>());
  }
  label(state);
}

// H·v over all parameters.
void BM_hvp(benchmark::State& state) {
  Problem& p = problem(state.range(0));
  const ag::ScalarFunction f = [&p](const tensor_list& ps) { return p.loss(ps); };
  for (auto _ : state) {
    auto [y, hv] = ag::hvp(f, p.params, p.dirs);
    benchmark::DoNotOptimize(hv[0].data_ptr<float>());
  }
  label(state);
}

// A plain forward pass: no graph recorded.
void BM_forward(benchmark::State& state) {
  Problem& p = problem(state.range(0));
  for (auto _ : state) {
    ag::NoGradGuard ng;
    Tensor l = p.loss(p.params);
    benchmark::DoNotOptimize(l.data_ptr<float>());
  }
  label(state);
}

// J·v: the directional derivative of the loss along `dirs`.
void BM_jvp(benchmark::State& state) {
  Problem& p = problem(state.range(0));
  const ag::MultiFunction f = [&p](const tensor_list& ps) { return tensor_list{p.loss(ps)}; };
  for (auto _ : state) {
    auto [y, jv] = ag::jvp(f, p.params, p.dirs);
    benchmark::DoNotOptimize(jv[0].data_ptr<float>());
  }
  label(state);
}

const char* const kNames[] = {"grad", "hvp", "forward", "jvp"};

void register_all() {
  void (*fns[])(benchmark::State&) = {BM_grad, BM_hvp, BM_forward, BM_jvp};
  for (int k = 0; k < 4; ++k) {
    auto* b = benchmark::RegisterBenchmark(kNames[k], fns[k]);
    for (size_t i = 0; i < kSizes.size(); ++i) b->Arg(static_cast<int64_t>(i));
    b->Unit(benchmark::kMicrosecond);
  }
}

// ---- the table: median CPU time per call and the ratios, same run --------------------------
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const Key key{r.run_name.function_name, r.run_name.args};
      const double us = r.GetAdjustedCPUTime();  // in the benchmark's unit (µs)
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median") median_[key] = us;
      } else {
        single_[key] = us;  // used when there is a single repetition
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::printf("\nMedian CPU time per call (one thread, float32); ratios from the same run.\n\n");
    // (µs is two bytes in UTF-8: its columns get one more byte of width.)
    std::printf("| %-27s | %10s | %10s | %12s | %13s | %13s | %13s |\n", "MLP (batch x in-hidden-out)", "grad µs",
                "hvp µs", "hvp / grad", "forward µs", "jvp µs", "jvp / forward");
    std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(29, '-').c_str(), std::string(11, '-').c_str(),
                std::string(11, '-').c_str(), std::string(14, '-').c_str(), std::string(14, '-').c_str(),
                std::string(14, '-').c_str(), std::string(15, '-').c_str());
    for (size_t i = 0; i < kSizes.size(); ++i) {
      const std::string arg = std::to_string(i);
      const double g = value({"grad", arg}), h = value({"hvp", arg}), f = value({"forward", arg}),
                   j = value({"jvp", arg});
      if (g <= 0 && h <= 0 && f <= 0 && j <= 0) continue;  // filtered out
      const Size& s = kSizes[i];
      const std::string name = std::to_string(s.batch) + " x " + std::to_string(s.in) + "-" +
                               std::to_string(s.hidden) + "-" + std::to_string(s.out);
      std::printf("| %-27s | %9.1f | %9.1f | %12s | %12.1f | %12.1f | %13s |\n", name.c_str(), g, h,
                  ratio(h, g, 5.0).c_str(), f, j, ratio(j, f, 3.0).c_str());
    }
    std::printf("\nTargets: hvp / grad <= 5, jvp / forward <= 3 (jvp: forward mode, ag::forward_ad).\n");
  }

 private:
  using Key = std::pair<std::string, std::string>;
  double value(const Key& key) const {
    if (auto it = median_.find(key); it != median_.end()) return it->second;
    if (auto it = single_.find(key); it != single_.end()) return it->second;
    return 0.0;
  }
  static std::string ratio(double a, double b, double target) {
    if (a <= 0 || b <= 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f %s", a / b, a / b <= target ? "ok" : "MISS");
    return buf;
  }
  std::map<Key, double> median_, single_;
};

}  // namespace

int main(int argc, char** argv) {
  // Defaults first, so that the same flags given by the user (parsed later) override them.
  std::vector<char*> args{argv[0]};
  std::string reps = "--benchmark_repetitions=5";
  std::string aggr = "--benchmark_display_aggregates_only=true";
  std::string inter = "--benchmark_enable_random_interleaving=true";
  args.push_back(reps.data());
  args.push_back(aggr.data());
  args.push_back(inter.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  ag::set_num_threads(1);
  register_all();
  TableReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_table();
  problems().clear();
  benchmark::Shutdown();
  return 0;
}
