// Graph size limits: no recursion anywhere on the graph. These run with the default
// 8 MiB stack; a recursive walk, run or destructor would overflow it.
#include <gtest/gtest.h>

#include <ag/ag.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <new>

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && defined(__linux__)
#define AG_COUNT_ALLOCS 1
#include <dlfcn.h>
#else
#define AG_COUNT_ALLOCS 0
#endif

// ---- heap allocations, counted --------------------------------------------------------------
// Every operator new of this binary, and tbbmalloc's entry points (where ag's nodes, tensor
// handles and storages come from), count and pass on to the real allocator.
#if AG_COUNT_ALLOCS
namespace {
std::atomic<uint64_t> g_allocs{0};
void* counted(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
template <class Fn>
Fn real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) {
    std::cerr << "test_graph_scale: cannot find the real " << name << "\n";
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}
}  // namespace
void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
extern "C" {
void* scalable_malloc(std::size_t n) {
  static auto f = real<void* (*)(std::size_t)>("scalable_malloc");
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return f(n);
}
void* scalable_aligned_malloc(std::size_t n, std::size_t a) {
  static auto f = real<void* (*)(std::size_t, std::size_t)>("scalable_aligned_malloc");
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return f(n, a);
}
}
#endif

TEST(GraphScale, TenMillionNodeChain) {
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::scalar_tensor(1.0).requires_grad_(true);
  {
    ag::Tensor y = x;
    constexpr int kSteps = 10'000'000;
    for (int i = 0; i < kSteps; ++i) y = y + 1.0;  // AddBackward0 saves nothing: ~10M small nodes
    EXPECT_EQ(ag::live_node_count(), before + kSteps + 1);  // + the leaf's accumulator
    EXPECT_FLOAT_EQ(y.item<float>(), 1.0f + kSteps);
    y.backward();
  }  // the chain is destroyed here, iteratively
  EXPECT_EQ(ag::live_node_count(), before);
  EXPECT_EQ(x.grad().item<float>(), 1.0f);
}

TEST(GraphScale, MillionWideGraph) {
  const int64_t before = ag::live_node_count();
  ag::Tensor x = ag::scalar_tensor(2.0).requires_grad_(true);
  {
    ag::tensor_list branches;
    constexpr int kWidth = 1'000'000;
    branches.reserve(kWidth);
    for (int i = 0; i < kWidth; ++i) branches.push_back(x * 3.0);
    ag::Tensor total = ag::stack(branches).sum();
    branches.clear();
    total.backward();
  }
  EXPECT_EQ(ag::live_node_count(), before);
  EXPECT_EQ(x.grad().item<float>(), 3.0f * 1'000'000);
}

// Note [Cheap nodes] (ag/autograd.hpp): recording an op allocates its node once (edges and
// saved tensors in the same block) beside the output tensor's handle and storage (the
// buffer comes from the cache); running a node allocates only the list its derivative
// returns and the tensors it computes; no bookkeeping is allocated per node or per
// backward once the walk's arrays have grown. Measured: 3 per op, 2 per node, 0.
TEST(GraphScale, ChainAllocationsPerNode) {
#if !AG_COUNT_ALLOCS
  GTEST_SKIP() << "allocations are not counted under the sanitizers";
#else
  const int prev_threads = ag::get_num_threads();
  constexpr int kSteps = 20000;  // y = y * 0.5 + 1.0: a MulBackward0 and an AddBackward0 per step
  ag::Tensor x = ag::scalar_tensor(0.5).requires_grad_(true);
  for (int threads : {1, 2}) {
    ag::set_num_threads(threads);
    for (int run = 0; run < 2; ++run) {  // the second run is the steady state
      const uint64_t a0 = g_allocs.load();
      ag::Tensor y = x;
      for (int i = 0; i < kSteps; ++i) y = y * 0.5 + 1.0;
      const uint64_t a1 = g_allocs.load();
      y.backward();
      const uint64_t a2 = g_allocs.load();
      y = ag::Tensor();
      const uint64_t a3 = g_allocs.load();
      if (run == 0) continue;
      const double nodes = 2.0 * kSteps;
      const double build = (a1 - a0) / nodes, backward = (a2 - a1) / nodes, teardown = (a3 - a2) / nodes;
      std::cout << "threads " << threads << ": allocations per node: build " << build << ", backward " << backward
                << ", teardown " << teardown << "\n";
      // Each op: its node, the output's handle and storage. (Before the nodes were one
      // block: 5.)
      EXPECT_LE(build, 3.01);
      // Each node: its derivative's returned list; MulBackward0 also its product's handle
      // and storage: (1 + 3) / 2. (Before: 3.)
      EXPECT_LE(backward, 2.01);
      EXPECT_EQ(a3 - a2, 0u) << teardown;
    }
    x.grad().zero_();
  }
  ag::set_num_threads(prev_threads);
#endif
}
