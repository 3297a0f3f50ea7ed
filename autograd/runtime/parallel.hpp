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

}  // namespace ag::detail
