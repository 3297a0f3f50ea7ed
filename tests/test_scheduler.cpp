// The parallel backward scheduler: determinism across thread counts, concurrency,
// errors inside nodes, hooks, and the release of the graph.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// Restores the thread count after each test.
struct ThreadsGuard {
  int prev = ag::get_num_threads();
  ~ThreadsGuard() { ag::set_num_threads(prev); }
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
  ThreadsGuard g;
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
  for (int threads : {1, 2, 4}) {
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
