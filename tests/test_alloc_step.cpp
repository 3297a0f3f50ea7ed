// An allocation-free steady-state training step: a 784-128-10 sigmoid MLP trained with
// cross-entropy, once with SGD + momentum and once with Adam. After a few warm-up steps:
//  - tensor buffers: zero system allocations per step (the caching allocator serves all of
//    them; ag::detail::allocator_stats). The cache is off under ASan/TSan: skipped there.
//  - all heap allocations per step: counted by replacing the global operator new/delete in
//    this binary and by wrapping tbbmalloc's scalable_* entry points, which ag's graph
//    objects (tensor handles, storages, nodes) come from. The count is printed, recorded as
//    a test property, and held under a bound a little above the measured value, so a
//    regression in per-node heap churn fails here.
#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "runtime/allocator.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AG_TEST_SANITIZED 1
#else
#define AG_TEST_SANITIZED 0
#endif

#if !AG_TEST_SANITIZED && defined(__linux__)
#define AG_COUNT_TBBMALLOC 1
#include <dlfcn.h>
#else
#define AG_COUNT_TBBMALLOC 0
#endif

// ---- counting allocation functions -----------------------------------------------------------

namespace {
std::atomic<uint64_t> g_new_calls{0};
std::atomic<uint64_t> g_scalable_calls{0};

void* counted_alloc(std::size_t n) {
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(al);
  const std::size_t size = (n + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, size ? size : a)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t al) { return counted_aligned_alloc(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_aligned_alloc(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

#if AG_COUNT_TBBMALLOC
// tbbmalloc's allocation entry points, as ag's code calls them (runtime/pool.hpp,
// runtime/allocator.cpp): defined here, they take precedence over libtbbmalloc's for the code
// linked into this binary; each counts and calls the real one (found with RTLD_NEXT).
namespace {
template <class Fn>
Fn real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) {
    std::cerr << "test_alloc_step: cannot find the real " << name << "\n";
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}
}  // namespace
extern "C" {
void* scalable_malloc(std::size_t n) {
  static auto f = real<void* (*)(std::size_t)>("scalable_malloc");
  g_scalable_calls.fetch_add(1, std::memory_order_relaxed);
  return f(n);
}
void* scalable_calloc(std::size_t m, std::size_t n) {
  static auto f = real<void* (*)(std::size_t, std::size_t)>("scalable_calloc");
  g_scalable_calls.fetch_add(1, std::memory_order_relaxed);
  return f(m, n);
}
void* scalable_realloc(void* p, std::size_t n) {
  static auto f = real<void* (*)(void*, std::size_t)>("scalable_realloc");
  g_scalable_calls.fetch_add(1, std::memory_order_relaxed);
  return f(p, n);
}
void* scalable_aligned_malloc(std::size_t n, std::size_t a) {
  static auto f = real<void* (*)(std::size_t, std::size_t)>("scalable_aligned_malloc");
  g_scalable_calls.fetch_add(1, std::memory_order_relaxed);
  return f(n, a);
}
}
#endif

// ---- the training step -----------------------------------------------------------------------

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;

namespace {

struct Counts {
  uint64_t system = 0, news = 0, scalable = 0;
};
Counts now() {
  return {ag::detail::allocator_stats().system_allocs, g_new_calls.load(), g_scalable_calls.load()};
}

struct Batch {
  Tensor x, y;
};

std::vector<Batch> make_batches(int n, int64_t batch) {
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) {
    Tensor x = ag::randn({batch, 784});
    Tensor y = ag::randint(0, 10, {batch});
    out.push_back({x, y});
  }
  return out;
}

nn::Sequential make_mlp() {
  return nn::Sequential(nn::Linear(784, 128), nn::Sigmoid(), nn::Linear(128, 10));
}

// Trains `warmup` steps, then `steps` more while counting; returns the counts per step.
template <class Opt>
Counts train(nn::Sequential& model, Opt& opt, const std::vector<Batch>& data, int warmup, int steps,
             float* last_loss) {
  size_t k = 0;
  auto step = [&] {
    const Batch& b = data[k++ % data.size()];
    opt.zero_grad();
    Tensor loss = F::cross_entropy(model->forward(b.x), b.y);
    loss.backward();
    opt.step();
    *last_loss = loss.item<float>();
  };
  for (int i = 0; i < warmup; ++i) step();
  const Counts a = now();
  for (int i = 0; i < steps; ++i) step();
  const Counts z = now();
  return {(z.system - a.system) / steps, (z.news - a.news) / steps, (z.scalable - a.scalable) / steps};
}

// The bound on all heap allocations per step (operator new + tbbmalloc), a little above the
// value measured when this test was written, so that new per-step heap churn fails here.
// Measured (Release, 784-128-10 MLP, batch 64, at commit 2b5dccc): 41 per step with 2
// threads, 39 with 1 — about one per tensor object and graph node made in the step (108
// before the engine's one-allocation nodes, 123 before linear's backward called GEMM
// directly). Under ASan only operator new is counted (tbbmalloc is not used there).
// If it fails, find the new allocations (or, if justified, raise the bound and say why).
constexpr uint64_t kMaxHeapAllocsPerStep = 50;

void report(const char* who, const Counts& c) {
  std::cout << "[ alloc    ] " << who << ": per step " << c.system << " tensor-buffer system allocations, "
            << c.news << " operator new, " << c.scalable << " tbbmalloc (" << c.news + c.scalable << " heap in all)"
            << (AG_COUNT_TBBMALLOC ? "" : " [tbbmalloc not counted in this build]") << "\n";
  ::testing::Test::RecordProperty(std::string(who) + "_system_allocs_per_step", std::to_string(c.system));
  ::testing::Test::RecordProperty(std::string(who) + "_operator_new_per_step", std::to_string(c.news));
  ::testing::Test::RecordProperty(std::string(who) + "_tbbmalloc_per_step", std::to_string(c.scalable));
}

template <class Opt>
void check_step(const char* who, nn::Sequential& model, Opt& opt) {
  ag::manual_seed(1);
  const auto data = make_batches(3, 64);
  float first = 0, last = 0;
  train(model, opt, data, 0, 1, &first);
  const Counts c = train(model, opt, data, 5, 20, &last);
  report(who, c);
  EXPECT_LT(last, first) << "the loss should go down while training";
  EXPECT_LE(c.news + c.scalable, kMaxHeapAllocsPerStep) << who << ": heap allocations per step grew";
  if (AG_TEST_SANITIZED) {
    GTEST_SKIP() << "the buffer cache is off under ASan/TSan: every buffer is a system allocation there "
                    "(heap allocations per step were still counted: "
                 << c.news + c.scalable << ")";
  }
  EXPECT_EQ(c.system, 0u) << who << ": a steady-state step allocated tensor buffers from the system";
}

}  // namespace

TEST(AllocStep, SgdMomentumStepAllocatesNoBuffers) {
  ag::manual_seed(0);
  nn::Sequential model = make_mlp();
  ag::optim::SGD opt(model->parameters(), ag::optim::SGDOptions(0.1).momentum(0.9));
  check_step("sgd_momentum", model, opt);
}

TEST(AllocStep, AdamStepAllocatesNoBuffers) {
  ag::manual_seed(0);
  nn::Sequential model = make_mlp();
  ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(1e-3));
  check_step("adam", model, opt);
}

TEST(AllocStep, ZeroGradAndStepAloneAllocateNothing) {
  // The optimizers' and the module's per-step bookkeeping: no heap allocation at all.
  ag::manual_seed(0);
  nn::Sequential model = make_mlp();
  ag::optim::Adam opt(model->parameters(), ag::optim::AdamOptions(1e-3));
  const auto data = make_batches(1, 8);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    F::cross_entropy(model->forward(data[0].x), data[0].y).backward();
    opt.step();
  }
  auto expect_none = [](const char* what, const Counts& a, const Counts& z) {
    EXPECT_EQ(z.news - a.news, 0u) << what;
    EXPECT_EQ(z.scalable - a.scalable, 0u) << what;
    EXPECT_EQ(z.system - a.system, 0u) << what;
  };
  Counts a = now();
  for (int i = 0; i < 10; ++i) opt.step();
  expect_none("Adam::step", a, now());
  a = now();
  model->zero_grad(/*set_to_none=*/false);
  expect_none("Module::zero_grad(false)", a, now());
  a = now();
  opt.zero_grad(/*set_to_none=*/false);
  expect_none("Optimizer::zero_grad(false)", a, now());
  a = now();
  model->zero_grad();
  expect_none("Module::zero_grad()", a, now());
  // SGD with momentum and weight decay (its buffers exist after the first step).
  F::cross_entropy(model->forward(data[0].x), data[0].y).backward();
  ag::optim::SGD sgd(model->parameters(), ag::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-4));
  sgd.step();
  a = now();
  for (int i = 0; i < 10; ++i) sgd.step();
  expect_none("SGD::step", a, now());
}
