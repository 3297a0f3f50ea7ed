#include "runtime/parallel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#include <algorithm>

#include "ag/error.hpp"
#include "ag/threads.hpp"

namespace ag {

namespace {
std::mutex g_arena_mutex;
std::shared_ptr<tbb::task_arena> g_arena;
// TBB caps its workers at the core count; a user who asks for more threads (to test, or
// to overlap waiting) gets them.
std::unique_ptr<tbb::global_control> g_parallelism;
std::atomic<int> g_num_threads{0};

int default_threads() {
  if (const char* env = std::getenv("AG_NUM_THREADS")) {
    int e = std::atoi(env);
    if (e > 0) return e;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}
}  // namespace

void set_num_threads(int n) {
  AG_CHECK(n >= 1, "set_num_threads: the number of threads must be at least 1, got ", n);
  std::lock_guard<std::mutex> l(g_arena_mutex);
  if (g_num_threads.load() == n && g_arena) return;
  g_num_threads.store(n);
  g_parallelism.reset();
  if (n > static_cast<int>(std::thread::hardware_concurrency()))
    g_parallelism = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, n);
  g_arena.reset();  // rebuilt on next use; running work keeps its own reference
}

int get_num_threads() {
  int n = g_num_threads.load();
  return n > 0 ? n : default_threads();
}

namespace detail {

std::shared_ptr<tbb::task_arena> arena() {
  std::lock_guard<std::mutex> l(g_arena_mutex);
  if (!g_arena) g_arena = std::make_shared<tbb::task_arena>(get_num_threads());
  return g_arena;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int threads = get_num_threads();
#if defined(__SANITIZE_THREAD__)
  // Under TSan oneTBB's uninstrumented hand-overs would be reported as races (see
  // engine.cpp); chunks run on plain threads instead.
  if (threads > 1 && n >= 2 * grain) {
    const int64_t chunks = std::min<int64_t>(threads, n / grain);
    std::vector<std::thread> ts;
    for (int64_t c = 1; c < chunks; ++c)
      ts.emplace_back([&, c] { body(n * c / chunks, n * (c + 1) / chunks); });
    body(0, n / chunks);
    for (auto& t : ts) t.join();
    return;
  }
#endif
  if (threads == 1 || n < 2 * grain) {
    body(0, n);
    return;
  }
  // Called from inside the arena (a backward node), this joins the running arena.
  auto run = [&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, static_cast<size_t>(grain)),
                      [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); });
  };
  if (tbb::this_task_arena::current_thread_index() != tbb::task_arena::not_initialized) run();
  else arena()->execute(run);
}

}  // namespace detail
}  // namespace ag
