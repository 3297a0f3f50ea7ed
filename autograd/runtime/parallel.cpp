#include "runtime/parallel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cerrno>
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

int hardware_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

// More threads than this only ties the machine up: each is a real thread of the arena
// (train --threads 100000 spent minutes creating threads, then aborted in pthread_create).
// Never below 16, so that the determinism tests' 1-16 threads run on a 2-core machine.
int max_threads() { return std::max(16, 4 * hardware_threads()); }

void check_threads(int64_t n, const char* who) {
  AG_CHECK(n >= 1, who, ": the number of threads must be at least 1, got ", n);
  AG_CHECK(n <= max_threads(), who, ": ", n, " threads is far more than the ", hardware_threads(),
           " hardware threads of this machine (at most ", max_threads(), ": 4 per hardware thread, or 16)");
}

// AG_NUM_THREADS when set (checked as set_num_threads checks its argument), else the
// hardware threads.
int default_threads() {
  const char* env = std::getenv("AG_NUM_THREADS");
  if (!env || !*env) return hardware_threads();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(env, &end, 10);
  AG_CHECK(errno == 0 && end && *end == '\0', "AG_NUM_THREADS: expected a whole number of threads, got '", env, "'");
  check_threads(v, "AG_NUM_THREADS");
  return static_cast<int>(v);
}
}  // namespace

void set_num_threads(int n) {
  check_threads(n, "set_num_threads");
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

namespace {
std::atomic<int64_t> g_pieces{0};
thread_local int64_t t_region_ns = 0;
thread_local int t_region_depth = 0;
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// Note [Parallel accounting]
ParallelAccount parallel_account() { return {t_region_ns, g_pieces.load(std::memory_order_relaxed)}; }
void add_pieces(int64_t n) { g_pieces.fetch_add(n, std::memory_order_relaxed); }

ParallelRegion::ParallelRegion(bool eligible) {
  if (eligible && t_region_depth == 0) start_ns_ = now_ns();
  ++t_region_depth;
}
ParallelRegion::~ParallelRegion() {
  --t_region_depth;
  if (start_ns_ >= 0) t_region_ns += now_ns() - start_ns_;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  ParallelRegion region(n >= 2 * grain);
  const int threads = get_num_threads();
#if defined(__SANITIZE_THREAD__)
  // Under TSan oneTBB's uninstrumented hand-overs would be reported as races (see
  // engine.cpp); chunks run on plain threads instead.
  if (threads > 1 && n >= 2 * grain) {
    const int64_t chunks = std::min<int64_t>(threads, n / grain);
    std::vector<std::thread> ts;
    for (int64_t c = 1; c < chunks; ++c)
      ts.emplace_back([&, c] { body(n * c / chunks, n * (c + 1) / chunks); });
    add_pieces(chunks);
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
    // TBB splits a range in halves while it is longer than its grainsize, so pieces of a
    // grainsize g are (g/2, g] long; 2 * grain - 1 makes them [grain, 2 * grain).
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, static_cast<size_t>(2 * grain - 1)),
                      [&](const tbb::blocked_range<int64_t>& r) {
                        add_pieces(1);
                        body(r.begin(), r.end());
                      });
  };
  if (tbb::this_task_arena::current_thread_index() != tbb::task_arena::not_initialized) run();
  else arena()->execute(run);
}

}  // namespace detail
}  // namespace ag

namespace ag {
void parallel_for(int64_t begin, int64_t end, int64_t grain_size, const std::function<void(int64_t, int64_t)>& f) {
  AG_CHECK(f, "parallel_for: the function to run is empty");
  AG_CHECK(grain_size >= 0, "parallel_for: grain_size must be at least 0, got ", grain_size);
  if (end <= begin) return;
  int64_t n = 0;
  AG_CHECK(!__builtin_sub_overflow(end, begin, &n), "parallel_for: the range [", begin, ", ", end,
           ") has more elements than int64 can count");
  detail::parallel_for(n, grain_size, [&](int64_t b, int64_t e) { f(begin + b, begin + e); });
}
}  // namespace ag
