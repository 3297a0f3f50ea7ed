// Elementwise kernels against memcpy, in one binary and one run (see shared/DESIGN.md,
// "Speed, in this order"): the kernel's bytes/s divided by memcpy's bytes/s for the same
// number of floats is the figure to read; absolute GB/s on a shared machine are noise.
//
//   kernel level   add, mul (binary, contiguous), sigmoid, exp, tanh, relu (unary) and the
//                  fused sigmoid_backward, called on raw 64-byte-aligned pointers, at 1M and
//                  16M floats, one thread. Buffers are allocated and touched once, before
//                  any timing, and shared by every benchmark of that size.
//   references     memcpy (glibc), and copy_stream: a copy with non-temporal stores, the
//                  ceiling for any kernel that writes its output to memory. glibc's
//                  memcpy streams only above its x86_non_temporal_threshold, which depends
//                  on the cache size the CPU reports (see bench/README.md); below it, its
//                  destination lines are read before they are written, so a kernel that
//                  streams can beat it.
//   Tensor level   ag::add, ag::mul, ag::sigmoid at 16M: the kernel plus what the library
//                  adds per op (shape checks, dispatch, allocating the output). The output
//                  comes from ag's caching allocator, so in steady state it is the buffer
//                  freed by the previous iteration: no page faults. The "_cold" variant
//                  empties the cache before each iteration (outside the timing), so every
//                  output is fresh memory from the system and its first touch page-faults
//                  64 MB inside the op: what the first step of a training run pays.
//
// Bytes counted (read + written): memcpy 2·4N, binary ops 3·4N, unary 2·4N,
// sigmoid_backward 3·4N. Rates use the benchmark's default CPU-time clock of the calling
// thread (page faults are counted: the kernel time is charged to the thread).
//
// After the runs a table is printed: median GB/s (1e9 bytes/s) and the ratio to memcpy of
// the same size from the same run. By default the program runs 5 repetitions, randomly
// interleaved, and shows only the aggregates; any flag given on the command line wins.
#include <benchmark/benchmark.h>

#include <ag/autograd.hpp>
#include <ag/ops.hpp>
#include <ag/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/elementwise.hpp"
#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#endif
#include "runtime/allocator.hpp"

namespace {

namespace k = ag::kernels;

constexpr int64_t k1M = int64_t{1} << 20;
constexpr int64_t k16M = int64_t{1} << 24;

// ---- buffers: 64-byte aligned (as ag's storage is), filled before any timing ------------
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;

Buffer make_buffer(int64_t n, uint32_t seed, float lo, float hi) {
  const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
  Buffer b(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!b) std::abort();
  uint32_t s = seed;
  for (int64_t i = 0; i < n; ++i) {  // a small LCG: deterministic, and touches every page
    s = s * 1664525u + 1013904223u;
    b[i] = lo + (hi - lo) * static_cast<float>(s >> 8) * (1.0f / 16777216.0f);
  }
  return b;
}

// a in [-4, 4] (sigmoid, exp, tanh, relu all see both signs), b in (0, 1) (a valid sigmoid
// output for sigmoid_backward), out: the destination.
struct Set {
  Buffer a, b, out;
};
Set& buffers(int64_t n) {
  static std::map<int64_t, Set> sets;
  auto it = sets.find(n);
  if (it == sets.end())
    it = sets.emplace(n, Set{make_buffer(n, 1, -4.f, 4.f), make_buffer(n, 2, 0.f, 1.f), make_buffer(n, 3, 0.f, 0.f)})
             .first;
  return it->second;
}

void set_bytes(benchmark::State& state, int64_t n, int streams) {
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)) * streams);
}

// ---- kernel level -----------------------------------------------------------------------
void BM_memcpy(benchmark::State& state) {
  const int64_t n = state.range(0);
  Set& s = buffers(n);
  for (auto _ : state) {
    std::memcpy(s.out.get(), s.a.get(), static_cast<size_t>(n) * sizeof(float));
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 2);
}

// A copy with streaming stores: what the memory system gives when the destination lines are
// not read first. glibc's memcpy streams only above its non-temporal threshold (see
// bench/README.md); below it, memcpy's destination lines are read, then written.
void BM_copy_stream(benchmark::State& state) {
  const int64_t n = state.range(0);
  Set& s = buffers(n);
  for (auto _ : state) {
    const float* src = s.a.get();
    float* dst = s.out.get();
    int64_t i = 0;
#if defined(__AVX__)
    for (; i + 16 <= n; i += 16) {
      const __m256 x0 = _mm256_load_ps(src + i), x1 = _mm256_load_ps(src + i + 8);
      _mm256_stream_ps(dst + i, x0);
      _mm256_stream_ps(dst + i + 8, x1);
    }
    _mm_sfence();
#elif defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
      for (int k = 0; k < 16; k += 4) _mm_stream_ps(dst + i + k, _mm_load_ps(src + i + k));
    }
    _mm_sfence();
#endif
    for (; i < n; ++i) dst[i] = src[i];
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 2);
}

template <k::BinaryOp Op>
void BM_binary(benchmark::State& state) {
  const int64_t n = state.range(0);
  Set& s = buffers(n);
  for (auto _ : state) {
    k::binary<float>(Op, s.a.get(), 1, s.b.get(), 1, s.out.get(), n);
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 3);
}

template <k::UnaryOp Op>
void BM_unary(benchmark::State& state) {
  const int64_t n = state.range(0);
  Set& s = buffers(n);
  for (auto _ : state) {
    k::unary<float>(Op, s.a.get(), s.out.get(), n);
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 2);
}

void BM_sigmoid_backward(benchmark::State& state) {
  const int64_t n = state.range(0);
  Set& s = buffers(n);
  for (auto _ : state) {
    k::sigmoid_backward<float>(s.a.get(), s.b.get(), s.out.get(), n);
    benchmark::ClobberMemory();
  }
  set_bytes(state, n, 3);
}

// ---- Tensor level -----------------------------------------------------------------------
struct Tensors {
  ag::Tensor a, b;
};
Tensors& tensors(int64_t n) {
  static std::map<int64_t, Tensors> sets;
  auto it = sets.find(n);
  if (it == sets.end()) {
    ag::manual_seed(7);
    it = sets.emplace(n, Tensors{ag::rand({n}) * 8.0 - 4.0, ag::rand({n})}).first;
  }
  return it->second;
}

// The allocator's system allocations per iteration: 0 in steady state (cache hit), 1 when
// every output is fresh memory.
void alloc_counter(benchmark::State& state, const ag::detail::AllocatorStats& before) {
  const auto after = ag::detail::allocator_stats();
  state.counters["sys_allocs_per_iter"] = benchmark::Counter(
      static_cast<double>(after.system_allocs - before.system_allocs) / static_cast<double>(state.iterations()));
}

template <class F>
void tensor_bench(benchmark::State& state, int streams, bool cold, F op) {
  ag::set_num_threads(1);
  const int64_t n = state.range(0);
  Tensors& t = tensors(n);
  const auto before = ag::detail::allocator_stats();
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      ag::detail::empty_cache();
      state.ResumeTiming();
    }
    ag::Tensor r = op(t);
    benchmark::DoNotOptimize(r);
    // r is released here, inside the timing: handing the buffer back is part of the op's cost.
  }
  alloc_counter(state, before);
  set_bytes(state, n, streams);
}

void BM_tensor_add(benchmark::State& state) {
  tensor_bench(state, 3, false, [](Tensors& t) { return ag::add(t.a, t.b); });
}
void BM_tensor_mul(benchmark::State& state) {
  tensor_bench(state, 3, false, [](Tensors& t) { return ag::mul(t.a, t.b); });
}
void BM_tensor_sigmoid(benchmark::State& state) {
  tensor_bench(state, 2, false, [](Tensors& t) { return ag::sigmoid(t.a); });
}
void BM_tensor_add_cold(benchmark::State& state) {
  tensor_bench(state, 3, true, [](Tensors& t) { return ag::add(t.a, t.b); });
}
void BM_tensor_sigmoid_cold(benchmark::State& state) {
  tensor_bench(state, 2, true, [](Tensors& t) { return ag::sigmoid(t.a); });
}

// Names in registration order: the order of the table.
std::vector<std::string>& names() {
  static std::vector<std::string> v;
  return v;
}

template <class F>
void reg(const char* name, F fn, std::initializer_list<int64_t> sizes) {
  names().push_back(name);
  auto* b = benchmark::RegisterBenchmark(name, fn);
  for (int64_t n : sizes) b->Arg(n);
  b->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const auto both = {k1M, k16M};
  reg("memcpy", BM_memcpy, both);
  reg("copy_stream", BM_copy_stream, both);
  reg("add", BM_binary<k::BinaryOp::Add>, both);
  reg("mul", BM_binary<k::BinaryOp::Mul>, both);
  reg("sigmoid", BM_unary<k::UnaryOp::Sigmoid>, both);
  reg("exp", BM_unary<k::UnaryOp::Exp>, both);
  reg("tanh", BM_unary<k::UnaryOp::Tanh>, both);
  reg("relu", BM_unary<k::UnaryOp::Relu>, both);
  reg("sigmoid_backward", BM_sigmoid_backward, both);
  reg("tensor_add", BM_tensor_add, {k16M});
  reg("tensor_mul", BM_tensor_mul, {k16M});
  reg("tensor_sigmoid", BM_tensor_sigmoid, {k16M});
  reg("tensor_add_cold", BM_tensor_add_cold, {k16M});
  reg("tensor_sigmoid_cold", BM_tensor_sigmoid_cold, {k16M});
}

// ---- the table: median bytes/s and the ratio to memcpy of the same size, same run --------
class TableReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      const Key key{r.run_name.function_name, r.run_name.args};
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median") median_[key] = it->second.value;
      } else {
        single_[key].push_back(it->second.value);  // used when there is a single repetition
      }
      if (std::find(order_.begin(), order_.end(), key) == order_.end()) order_.push_back(key);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_table() const {
    std::printf("\nSIMD: %s, %d float lanes. Median of the repetitions; ratio = op / memcpy of the same n.\n\n",
                k::simd_arch_name(), k::simd_float_lanes());
    std::printf("| %-20s | %9s | %12s | %16s |\n", "benchmark", "n", "GB/s median", "ratio to memcpy");
    std::printf("|%s|%s|%s|%s|\n", std::string(22, '-').c_str(), std::string(11, '-').c_str(),
                std::string(14, '-').c_str(), std::string(18, '-').c_str());
    std::vector<Key> keys = order_;
    auto rank = [](const Key& k) {
      const auto& v = names();
      return std::make_pair(std::find(v.begin(), v.end(), k.first) - v.begin(), std::stoll(k.second));
    };
    std::sort(keys.begin(), keys.end(), [&](const Key& x, const Key& y) { return rank(x) < rank(y); });
    for (const Key& key : keys) {
      const double v = value(key);
      const double ref = value(Key{"memcpy", key.second});
      std::printf("| %-20s | %9s | %12.2f | %16s |\n", key.first.c_str(), key.second.c_str(), v / 1e9,
                  ref > 0 ? format_ratio(v / ref).c_str() : "-");
    }
  }

 private:
  using Key = std::pair<std::string, std::string>;
  double value(const Key& key) const {
    if (auto it = median_.find(key); it != median_.end()) return it->second;
    if (auto it = single_.find(key); it != single_.end() && !it->second.empty()) return it->second.back();
    return 0.0;
  }
  static std::string format_ratio(double r) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", r);
    return buf;
  }
  std::map<Key, double> median_;
  std::map<Key, std::vector<double>> single_;
  std::vector<Key> order_;
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
  benchmark::Shutdown();
  return 0;
}
