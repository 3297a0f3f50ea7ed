// The one TBB arena in which all of ag's parallel work runs: backward nodes and the
// chunks of large kernels. Sharing it means the two levels never oversubscribe the cores.
// Internal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <tbb/task_arena.h>

namespace ag::detail {

// The arena sized by ag::set_num_threads (default: hardware threads or AG_NUM_THREADS).
// Returned as a shared_ptr so a resize never pulls the arena from under a running backward.
std::shared_ptr<tbb::task_arena> arena();

// Runs body(begin, end) over [0, n) in chunks of at least `grain`, in the arena, and
// returns when all chunks are done. Serial when n < 2 * grain or one thread is set.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

// Note [Parallel accounting]
// What the scaling model of bench/bench_threads needs, counted where the library decides
// to use threads: the time spent in regions that may run on several threads (timed on the
// thread that enters one, not again inside another: a backward that runs as tasks, a
// parallel_for of at least two grains, a GEMM of at least two tasks' work), and the pieces
// that did run as separate tasks (spawned backward tasks, parallel_for chunks). The cost:
// two clock reads per region, each tens of microseconds of work or more, and one relaxed
// increment per task beside the task's own hand-over.
struct ParallelAccount {
  int64_t region_ns = 0;  // in regions that may use threads, entered on the calling thread
  int64_t pieces = 0;     // pieces that ran as tasks, on all threads
};
ParallelAccount parallel_account();
void add_pieces(int64_t n);

// Times a region that may use threads, unless `eligible` is false or it is inside another.
class ParallelRegion {
 public:
  explicit ParallelRegion(bool eligible);
  ~ParallelRegion();
  ParallelRegion(const ParallelRegion&) = delete;
  ParallelRegion& operator=(const ParallelRegion&) = delete;

 private:
  int64_t start_ns_ = -1;
};

}  // namespace ag::detail
