// The parallel backward scheduler: determinism across thread counts, concurrency,
// errors inside nodes, hooks, and the release of the graph.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/engine.hpp"

namespace {

// Restores the thread count after each test.
struct ThreadsGuard {
  int prev = ag::get_num_threads();
  ~ThreadsGuard() { ag::set_num_threads(prev); }
};

// Sends every branching graph, however small, through the task scheduler instead of
// running it on the calling thread (engine.cpp, Note [Running inline]), while it lives.
struct ForceTasks {
  int64_t prev = ag::engine::inline_work();
  explicit ForceTasks(bool on = true) {
    if (on) ag::engine::set_inline_work(-1);
  }
  ~ForceTasks() { ag::engine::set_inline_work(prev); }
};

// Heavy fan-in: one leaf used by hundreds of ops, whose results meet again in a sum.
ag::Tensor fan_in_loss(const ag::Tensor& x, int branches) {
  ag::Tensor total;
  for (int i = 0; i < branches; ++i) {
    ag::Tensor b = ag::sigmoid(x * (0.01 * (i + 1)) + 0.1 * (i % 7)) * ag::tanh(x - 0.001 * i);
    total = total.defined() ? total + b : b;
  }
  return total.sum();
}

std::vector<uint32_t> bits(const ag::Tensor& t) {
  ag::Tensor c = t.contiguous();
  std::vector<uint32_t> b(static_cast<size_t>(c.numel()));
  std::memcpy(b.data(), c.data_ptr<float>(), b.size() * 4);
  return b;
}

std::vector<uint32_t> fan_in_grad(int threads) {
  ag::set_num_threads(threads);
  ag::manual_seed(7);
  ag::Tensor x = ag::randn({256}).requires_grad_(true);
  fan_in_loss(x, 300).backward();
  return bits(x.grad());
}

}  // namespace

TEST(Scheduler, BitwiseEqualAcrossThreadCounts) {
  ThreadsGuard g;
  const auto ref = fan_in_grad(1);
  for (int threads : {2, 4, 8, 16}) EXPECT_EQ(fan_in_grad(threads), ref) << "threads=" << threads;
}

namespace {

// The wide graph of bench_threads: 64 branches of tanh(y) * 0.9 + 0.01 on one leaf.
std::vector<uint32_t> wide_grad(int threads) {
  ag::set_num_threads(threads);
  ag::manual_seed(11);
  ag::Tensor x = ag::randn({256}).requires_grad_(true);
  ag::Tensor total;
  for (int b = 0; b < 64; ++b) {
    ag::Tensor y = x * (1.0 + 0.001 * b);
    for (int d = 0; d < 66; ++d) y = ag::tanh(y) * 0.9 + 0.01;
    total = total.defined() ? total + y : y;
  }
  total.sum().backward();
  return bits(x.grad());
}

// A 784-512-10 sigmoid MLP on a batch of 512: GEMMs and the hidden layer's elementwise
// ops are large enough to split across threads (Note [Elementwise grain] in ops/iter.hpp).
std::vector<std::vector<uint32_t>> mlp_grads(int threads) {
  ag::set_num_threads(threads);
  ag::manual_seed(12);
  ag::Tensor x = ag::rand({512, 784});
  ag::Tensor w1 = (ag::randn({784, 512}) * 0.05).requires_grad_(true), b1 = ag::zeros({512}).requires_grad_(true);
  ag::Tensor w2 = (ag::randn({512, 10}) * 0.05).requires_grad_(true), b2 = ag::zeros({10}).requires_grad_(true);
  ag::Tensor labels = ag::randint(10, {512});
  ag::Tensor h = ag::sigmoid(ag::addmm(b1, x, w1));
  ag::Tensor logp = ag::log_softmax(ag::addmm(b2, h, w2) * 1.5 - 0.25, 1);
  ag::Tensor onehot = (labels.unsqueeze(1) == ag::arange(10.0, ag::kInt64).unsqueeze(0)).to(ag::kFloat32);
  (-(logp * onehot).sum() / 512.0).backward();
  return {bits(w1.grad()), bits(b1.grad()), bits(w2.grad()), bits(b2.grad()), bits(h)};
}

}  // namespace

TEST(Scheduler, WideGraphBitwiseEqualAcrossThreadCounts) {
  ThreadsGuard g;
  const auto ref = wide_grad(1);
  for (int threads : {2, 4, 8, 16}) EXPECT_EQ(wide_grad(threads), ref) << "threads=" << threads;
}

TEST(Scheduler, MlpBitwiseEqualAcrossThreadCounts) {
  ThreadsGuard g;
  const auto ref = mlp_grads(1);
  for (int threads : {2, 4, 8, 16}) {
    const auto got = mlp_grads(threads);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(got[i], ref[i]) << "threads=" << threads << ", tensor " << i;
  }
}

// Elementwise ops over more than 2 x kElementwiseGrain elements split into chunks; each
// element must still take the path (SIMD or scalar tail) it takes in one call, so the bits
// are those of one thread. 300001 elements: neither a multiple of the chunk block nor of
// any SIMD width.
TEST(Scheduler, ElementwiseChunksGiveTheBitsOfOneThread) {
  ThreadsGuard g;
  auto run = [](int threads) {
    ag::set_num_threads(threads);
    ag::manual_seed(13);
    ag::Tensor x = (ag::randn({300001}) * 3.0).requires_grad_(true);
    ag::Tensor y = ag::randn({300001});
    ag::Tensor s = ag::sigmoid(x), t = ag::tanh(x), e = ag::exp(x * 0.5), sum = x + y, sc = 1.0 - x;
    (s * 0.3 + t * 0.2 + e * 0.1 + sum * sc).sum().backward();
    return std::vector<std::vector<uint32_t>>{bits(s), bits(t), bits(e), bits(sum), bits(sc), bits(x.grad())};
  };
  const auto ref = run(1);
  for (int threads : {2, 4, 8, 16}) {
    const auto got = run(threads);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(got[i], ref[i]) << "threads=" << threads << ", tensor " << i;
  }
}

// ag::parallel_for covers [begin, end) exactly once, in pieces of at least the grain
// (but the last), on any number of threads; an empty range calls nothing.
TEST(Scheduler, ParallelForCoversTheRangeOnce) {
  ThreadsGuard g;
  for (int threads : {1, 2, 4}) {
    ag::set_num_threads(threads);
    constexpr int64_t kBegin = 7, kEnd = 100007, kGrain = 1000;
    std::vector<std::atomic<int>> hits(kEnd);
    std::atomic<int64_t> short_pieces{0};
    ag::parallel_for(kBegin, kEnd, kGrain, [&](int64_t b, int64_t e) {
      if (e - b < kGrain) short_pieces.fetch_add(1);
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < kEnd; ++i) ASSERT_EQ(hits[i].load(), i >= kBegin ? 1 : 0) << "i=" << i << " threads=" << threads;
    EXPECT_LE(short_pieces.load(), 1) << "threads=" << threads;
    int calls = 0;
    ag::parallel_for(5, 5, 1, [&](int64_t, int64_t) { ++calls; });
    ag::parallel_for(5, 2, 1, [&](int64_t, int64_t) { ++calls; });
    EXPECT_EQ(calls, 0);
  }
}

// The optimizers' updates split across the arena (optim/src/util.hpp, Note [Parallel
// update]); the parameters they leave are those of one thread. 300001 elements, as above.
TEST(Scheduler, OptimizerStepsGiveTheBitsOfOneThread) {
  ThreadsGuard g;
  auto run = [](int threads) {
    ag::set_num_threads(threads);
    ag::manual_seed(17);
    std::vector<ag::Tensor> params;
    for (int i = 0; i < 3; ++i) params.push_back(ag::randn({300001}).requires_grad_(true));
    ag::optim::SGD sgd({params[0]}, ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-2));
    ag::optim::Adam adam({params[1]}, ag::optim::AdamOptions(1e-2).amsgrad(true).weight_decay(1e-2));
    ag::optim::AdamW adamw({params[2]}, ag::optim::AdamWOptions(1e-2));
    for (int step = 0; step < 3; ++step) {
      for (auto& p : params) p.set_grad(ag::randn({300001}));
      sgd.step();
      adam.step();
      adamw.step();
    }
    return std::vector<std::vector<uint32_t>>{bits(params[0]), bits(params[1]), bits(params[2])};
  };
  const auto ref = run(1);
  for (int threads : {2, 4, 16}) {
    const auto got = run(threads);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(got[i], ref[i]) << "threads=" << threads << ", parameter " << i;
  }
}

TEST(Scheduler, BitwiseEqualAcrossRepeatedRuns) {
  ThreadsGuard g;
  ag::set_num_threads(4);
  ag::manual_seed(3);
  ag::Tensor x = ag::randn({64}).requires_grad_(true);
  // Many independent branches that all reach the same leaf, with retain_graph so one
  // graph is replayed 50 times.
  ag::Tensor loss = fan_in_loss(x, 200);
  loss.backward({}, true);
  const auto ref = bits(x.grad());
  for (int run = 0; run < 50; ++run) {
    x.grad().zero_();
    loss.backward({}, true);
    ASSERT_EQ(bits(x.grad()), ref) << "run " << run;
  }
}

TEST(Scheduler, ConcurrentBackwardOnSharedLeaves) {
  for (bool tasks : {false, true}) {
  SCOPED_TRACE(tasks ? "tasks" : "inline");
  ThreadsGuard g;
  ForceTasks f(tasks);
  ag::set_num_threads(2);
  ag::Tensor w = ag::ones({16}).requires_grad_(true);
  constexpr int kThreads = 8, kIters = 50;
  std::vector<std::thread> pool;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int i = 0; i < kIters; ++i) {
          // d/dw sum(w * (t + 1) + w) = t + 2: small integers, so the sum is exact in any order.
          ag::Tensor loss = (w * static_cast<double>(t + 1) + w).sum();
          loss.backward();
        }
      } catch (...) {
        ++errors;
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(errors.load(), 0);
  double expected = 0;
  for (int t = 0; t < kThreads; ++t) expected += kIters * (t + 2);
  EXPECT_TRUE(ag::equal(w.grad(), ag::full({16}, expected))) << w.grad();
  }
}

namespace {
struct Explode : ag::Function<Explode> {
  static ag::Tensor forward(ag::AutogradContext*, const ag::Tensor& x) { return x * 1.0; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list) {
    throw ag::Error("Explode: backward failed on purpose");
  }
};
}  // namespace

TEST(Scheduler, ErrorInsideABackwardNodeReachesTheCaller) {
  ThreadsGuard g;
  for (int threads : {1, 2, 4})
  for (bool tasks : {false, true}) {
    SCOPED_TRACE(testing::Message() << "threads=" << threads << (tasks ? " tasks" : " inline"));
    ForceTasks f(tasks);
    ag::set_num_threads(threads);
    ag::Tensor x = ag::randn({32}).requires_grad_(true);
    // Many branches run in parallel with the one that throws.
    ag::Tensor total = Explode::apply(x).sum();
    for (int i = 0; i < 64; ++i) total = total + ag::exp(x * (0.01 * i)).sum();
    try {
      total.backward();
      ADD_FAILURE() << "backward should have thrown";
    } catch (const ag::Error& e) {
      EXPECT_NE(std::string(e.what()).find("failed on purpose"), std::string::npos);
    }
    // The engine is usable afterwards, and nothing is left running.
    ag::Tensor y = (x * x).sum();
    x.grad().defined() ? (void)x.grad().zero_() : (void)0;
    y.backward();
    EXPECT_TRUE(ag::allclose(x.grad(), 2 * x));
  }
}

TEST(Scheduler, HooksInspectAndReplaceGradients) {
  ThreadsGuard g;
  ForceTasks f;
  ag::set_num_threads(2);
  ag::Tensor x = ag::tensor({1.f, 2.f, 3.f}).requires_grad_(true);
  ag::Tensor seen;
  x.register_hook([&](const ag::Tensor& grad) { seen = grad.clone(); });
  ag::Tensor y = x * 2;
  y.register_hook([](const ag::Tensor& grad) { return grad * 10; });
  y.sum().backward();
  EXPECT_TRUE(ag::equal(seen, ag::full({3}, 20.0)));
  EXPECT_TRUE(ag::equal(x.grad(), ag::full({3}, 20.0)));
}

TEST(Scheduler, NoNodeLeftAliveAfterBackward) {
  ThreadsGuard g;
  ForceTasks f;
  ag::set_num_threads(2);
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::randn({8}).requires_grad_(true);
  {
    ag::Tensor loss = fan_in_loss(x, 20);
    EXPECT_GT(ag::live_node_count(), before + 20);
    loss.backward();
  }
  // Only the tensors held nodes; the engine kept none, and the leaf's accumulator died
  // with the graph.
  EXPECT_EQ(ag::live_node_count(), before);
  EXPECT_TRUE(x.grad().defined());
}

TEST(Scheduler, SavedTensorsAreReleasedAfterTheNodeRuns) {
  ThreadsGuard g;
  ForceTasks f;
  ag::set_num_threads(2);
  ag::Tensor x = ag::randn({1024}).requires_grad_(true);
  ag::Tensor h = ag::sigmoid(x);  // SigmoidBackward saves its output
  ag::Tensor loss = (h * h).sum();  // MulBackward saves h twice
  const long before = h.impl_ptr().use_count();
  loss.backward();
  // MulBackward dropped its two references to h's data when it ran.
  EXPECT_LT(h.impl_ptr().use_count(), before + 1);
  EXPECT_THROW(loss.backward(), ag::Error);
}

TEST(Scheduler, IntraOpParallelismSharesTheArena) {
  ThreadsGuard g;
  ag::set_num_threads(2);
  // A backward whose nodes run large kernels: results must match one thread exactly.
  ag::manual_seed(11);
  ag::Tensor a = ag::randn({256, 300}).requires_grad_(true);
  ag::Tensor b = ag::randn({300, 200}).requires_grad_(true);
  ag::mm(a, b).sigmoid().sum().backward();
  ag::Tensor ga = a.grad().clone(), gb = b.grad().clone();
  ag::set_num_threads(1);
  a.grad().zero_();
  b.grad().zero_();
  ag::mm(a, b).sigmoid().sum().backward();
  EXPECT_TRUE(ag::equal(a.grad(), ga));
  EXPECT_TRUE(ag::equal(b.grad(), gb));
}

// ---- Note [Running inline] and Note [Reused bookkeeping] ----------------------------------

TEST(Scheduler, InlineAndTasksGiveTheSameBits) {
  ThreadsGuard g;
  ag::set_num_threads(4);
  ag::manual_seed(5);
  ag::Tensor x = ag::randn({16}).requires_grad_(true);
  // Small enough to run inline by default: fan-in of 40 branches on 16 floats.
  fan_in_loss(x, 40).backward();
  const auto inline_bits = bits(x.grad());
  x.grad().zero_();
  {
    ForceTasks f;
    fan_in_loss(x, 40).backward();
  }
  EXPECT_EQ(bits(x.grad()), inline_bits);
  x.grad().zero_();
  ag::set_num_threads(1);
  fan_in_loss(x, 40).backward();
  EXPECT_EQ(bits(x.grad()), inline_bits);
}

TEST(Scheduler, ChainsAndSmallGraphsRunOnTheCallingThread) {
  ThreadsGuard g;
  ag::set_num_threads(4);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> elsewhere{0}, seen{0};
  auto watch = [&](const ag::Tensor& t) {
    t.register_hook([&](const ag::Tensor&) {
      ++seen;
      if (std::this_thread::get_id() != caller) ++elsewhere;
    });
  };
  // A long chain of large tensors: one node is ready at a time, whatever its size.
  ag::Tensor x = ag::randn({1 << 16}).requires_grad_(true);
  ag::Tensor y = x;
  for (int i = 0; i < 50; ++i) {
    y = ag::tanh(y) * 0.5;
    watch(y);
  }
  y.sum().backward();
  // A small graph with branches: a 2-4-1 net on one sample.
  ag::Tensor w1 = ag::randn({2, 4}).requires_grad_(true), b1 = ag::zeros({4}).requires_grad_(true);
  ag::Tensor w2 = ag::randn({4, 1}).requires_grad_(true), b2 = ag::zeros({1}).requires_grad_(true);
  ag::Tensor h = ag::sigmoid(ag::addmm(b1, ag::ones({1, 2}), w1));
  watch(h);
  ag::Tensor out = ag::sigmoid(ag::addmm(b2, h, w2));
  watch(out);
  (out * out).sum().backward();
  EXPECT_EQ(seen.load(), 52);
  EXPECT_EQ(elsewhere.load(), 0);
}

TEST(Scheduler, BackwardInsideABackwardHook) {
  // The hook runs a second backward on the same thread while the first one's bookkeeping
  // is in use: each must keep its own.
  ThreadsGuard g;
  for (int threads : {1, 2}) {
    ag::set_num_threads(threads);
    ag::Tensor a = ag::tensor({1.f, 2.f, 3.f}).requires_grad_(true);
    ag::Tensor b = ag::tensor({4.f, 5.f}).requires_grad_(true);
    ag::Tensor y = a * 3.0;
    y.register_hook([&](const ag::Tensor&) {
      ag::AutoGradMode on(true);  // backward runs its nodes with grad mode off
      (b * b).sum().backward();
    });
    (y * y).sum().backward();
    EXPECT_TRUE(ag::allclose(a.grad(), 18 * a)) << a.grad();  // d/da sum(9a^2) = 18a
    EXPECT_TRUE(ag::allclose(b.grad(), 2 * b)) << b.grad();
  }
}

namespace {
// Passes no gradient back: its input's inbox position receives nothing.
struct NoGrad : ag::Function<NoGrad> {
  static ag::Tensor forward(ag::AutogradContext*, const ag::Tensor& x) { return x * 1.0; }
  static ag::tensor_list backward(ag::AutogradContext*, ag::tensor_list) { return {ag::Tensor()}; }
};
}  // namespace

TEST(Scheduler, BookkeepingIsCleanAfterAFailedBackward) {
  // A failed backward leaves gradients in its inboxes; the next backward on this thread
  // reuses the same arrays and must not see them. One thread, so the order is fixed: the
  // second operand of + runs first, and its gradient for x lands in the inbox position
  // that, in the next graph of the same shape, receives nothing.
  ThreadsGuard g;
  ag::set_num_threads(1);
  ag::Tensor x = ag::tensor({1.f, 2.f}).requires_grad_(true);
  EXPECT_THROW((Explode::apply(x) + x * 5.0).sum().backward(), ag::Error);
  EXPECT_FALSE(x.grad().defined());  // its accumulator waited for the branch that threw
  (x * 7.0 + NoGrad::apply(x)).sum().backward();
  EXPECT_TRUE(ag::equal(x.grad(), ag::full({2}, 7.0))) << x.grad();
}

TEST(Scheduler, NodeCountIsExactAcrossThreads) {
  // Nodes made on one thread and freed on another: the per-thread counts still sum up.
  ThreadsGuard g;
  ag::set_num_threads(2);
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::ones({4}).requires_grad_(true);
  std::vector<ag::Tensor> made(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) ts.emplace_back([&, t] { made[t] = (x * (t + 1.0)).exp(); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ag::live_node_count(), before + 8 * 2 + 1);  // mul, exp per thread; one accumulator
  std::thread([&] { made.clear(); }).join();
  EXPECT_EQ(ag::live_node_count(), before);
}

TEST(Scheduler, AHookMayNotChangeTheGradientsShapeOrDtype) {
  // The replacement goes on to nodes and .grad() that expect the original's shape and
  // dtype: refused with the shapes named, before anything is accumulated.
  ThreadsGuard g;
  for (bool tasks : {false, true}) {
    ForceTasks f(tasks);
    ag::set_num_threads(tasks ? 2 : 1);
    ag::Tensor x = ag::tensor({1.f, 2.f}).requires_grad_(true);
    x.register_hook([](const ag::Tensor&) { return ag::ones({3}); });
    std::string msg;
    try {
      (x * x).sum().backward();
    } catch (const ag::Error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("hook"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
    EXPECT_FALSE(x.grad().defined());

    ag::Tensor z = ag::tensor({1.f, 2.f}).requires_grad_(true);
    ag::Tensor y = z * 3.0;
    y.register_hook([](const ag::Tensor& gr) { return gr.to(ag::kFloat64); });
    msg.clear();
    try {
      (y * y + z).sum().backward();
    } catch (const ag::Error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("float64"), std::string::npos) << msg;
    EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
    EXPECT_FALSE(z.grad().defined());
  }
}
