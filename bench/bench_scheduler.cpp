// The backward scheduler, each figure beside its reference in the same binary:
//  1. a chain of scalar ops (y = y * c + d, 100 000 steps): ns per node to build the
//     graph and to run backward, against a hand-written reverse sweep over a tape of
//     doubles (the floor for "one node, one multiply");
//  2. a wide graph (64 independent branches, each a chain of 200 ops on 256 floats,
//     summed): backward with 1 thread against backward with N threads;
//  3. a two-layer MLP (784-256-10, batch 256) backward with 1 and N threads;
//  4. a 2-4-1 sigmoid net on one sample (forward, backward, zeroing the gradients): the
//     per-op and per-node overhead of a whole step, with 1 and 2 threads (the engine runs
//     a graph this small on the calling thread either way: Note [Running inline]).
// Compare rows of one run only: the ratios are the result, the absolute times are noise.
#include <benchmark/benchmark.h>

#include <ag/ag.hpp>

#include "workloads.hpp"

#include <chrono>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

constexpr int kChain = 100000;

ag::Tensor build_chain(const ag::Tensor& x) {
  ag::Tensor y = x;
  for (int i = 0; i < kChain; ++i) y = y * 0.999 + 0.001;
  return y;
}

void BM_ChainBuild(benchmark::State& state) {
  ag::set_num_threads(1);
  ag::Tensor x = ag::scalar_tensor(0.5).requires_grad_(true);
  for (auto _ : state) {
    auto t0 = Clock::now();
    ag::Tensor y = build_chain(x);
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
    benchmark::DoNotOptimize(y);
  }
  state.counters["ns_per_node"] =
      benchmark::Counter(2.0 * kChain * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ChainBuild)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_ChainBackward(benchmark::State& state) {
  ag::set_num_threads(static_cast<int>(state.range(0)));
  ag::Tensor x = ag::scalar_tensor(0.5).requires_grad_(true);
  for (auto _ : state) {
    ag::Tensor y = build_chain(x);
    auto t0 = Clock::now();
    y.backward();
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
    x.grad().zero_();
  }
  state.counters["ns_per_node"] =
      benchmark::Counter(2.0 * kChain * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
// With 2 threads the chain still runs on the calling thread (Note [Running inline]).
BENCHMARK(BM_ChainBackward)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

// Dropping the graph after backward (the nodes, their edges; saved tensors are gone).
void BM_ChainTeardown(benchmark::State& state) {
  ag::set_num_threads(1);
  ag::Tensor x = ag::scalar_tensor(0.5).requires_grad_(true);
  for (auto _ : state) {
    ag::Tensor y = build_chain(x);
    y.backward();
    auto t0 = Clock::now();
    y = ag::Tensor();
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
    x.grad().zero_();
  }
  state.counters["ns_per_node"] =
      benchmark::Counter(2.0 * kChain * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ChainTeardown)->UseManualTime()->Unit(benchmark::kMillisecond);

// The reference: the same chain as a tape of doubles, swept backwards by hand.
void BM_ChainHandTape(benchmark::State& state) {
  std::vector<double> tape(2 * kChain);
  for (auto _ : state) {
    auto t0 = Clock::now();
    double y = 0.5;
    for (int i = 0; i < kChain; ++i) {
      tape[2 * i] = 0.999;  // d(y*c)/dy
      tape[2 * i + 1] = 1.0;  // d(u+d)/du
      y = y * 0.999 + 0.001;
    }
    double g = 1.0;
    for (int i = 2 * kChain - 1; i >= 0; --i) g *= tape[i];
    auto t1 = Clock::now();
    benchmark::DoNotOptimize(g);
    benchmark::DoNotOptimize(y);
    state.SetIterationTime(seconds(t0, t1));
  }
  state.counters["ns_per_node"] =
      benchmark::Counter(2.0 * kChain * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ChainHandTape)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---- wide graph --------------------------------------------------------------------------
using ag_bench::build_wide;

void BM_WideBackward(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ag::set_num_threads(threads);
  ag::manual_seed(1);
  ag::Tensor x = ag::randn({256}).requires_grad_(true);
  for (auto _ : state) {
    ag::Tensor loss = build_wide(x, 64, 200 / 3);  // 3 ops per step: ~200 ops per branch
    auto t0 = Clock::now();
    loss.backward();
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
    x.grad().zero_();
  }
  state.counters["threads"] = threads;
}
BENCHMARK(BM_WideBackward)->DenseRange(1, 2)->Arg(4)->Arg(8)->Arg(16)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---- MLP -------------------------------------------------------------------------------
void BM_MlpBackward(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ag::set_num_threads(threads);
  ag::manual_seed(2);
  ag::Tensor x = ag::rand({256, 784});
  ag::Tensor w1 = (ag::randn({784, 256}) * 0.05).requires_grad_(true);
  ag::Tensor b1 = ag::zeros({256}).requires_grad_(true);
  ag::Tensor w2 = (ag::randn({256, 10}) * 0.05).requires_grad_(true);
  ag::Tensor b2 = ag::zeros({10}).requires_grad_(true);
  ag::Tensor labels = ag::randint(10, {256});
  ag::Tensor onehot = (labels.unsqueeze(1) == ag::arange(10.0, ag::kInt64).unsqueeze(0)).to(ag::kFloat32);
  for (auto _ : state) {
    ag::Tensor h = ag::sigmoid(ag::addmm(b1, x, w1));
    ag::Tensor logp = ag::log_softmax(ag::addmm(b2, h, w2), 1);
    ag::Tensor loss = -(logp * onehot).sum() / 256.0;
    auto t0 = Clock::now();
    loss.backward();
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
  }
  state.counters["threads"] = threads;
}
BENCHMARK(BM_MlpBackward)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMicrosecond);

// ---- tiny net ---------------------------------------------------------------------------
// h = sigmoid(x W1 + b1), y = sigmoid(h W2 + b2), loss = mean((y - t)^2): 7 op nodes and
// 4 leaf accumulators per step.
void BM_TinyNetStep(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ag::set_num_threads(threads);
  ag::manual_seed(3);
  ag::Tensor w1 = ag::randn({2, 4}).requires_grad_(true), b1 = ag::zeros({4}).requires_grad_(true);
  ag::Tensor w2 = ag::randn({4, 1}).requires_grad_(true), b2 = ag::zeros({1}).requires_grad_(true);
  ag::Tensor x = ag::tensor({0.5f, -1.0f}).reshape({1, 2}), t = ag::tensor({1.0f}).reshape({1, 1});
  constexpr int kSteps = 1000;
  for (auto _ : state) {
    auto t0 = Clock::now();
    for (int i = 0; i < kSteps; ++i) {
      ag::Tensor h = ag::sigmoid(ag::addmm(b1, x, w1));
      ag::Tensor y = ag::sigmoid(ag::addmm(b2, h, w2));
      ag::Tensor d = y - t;
      (d * d).mean().backward();
      for (ag::Tensor* p : {&w1, &b1, &w2, &b2}) p->grad().zero_();
    }
    auto t1 = Clock::now();
    state.SetIterationTime(seconds(t0, t1));
  }
  state.counters["ns_per_step"] =
      benchmark::Counter(kSteps * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_node"] =
      benchmark::Counter(11.0 * kSteps * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TinyNetStep)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
