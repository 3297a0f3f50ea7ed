// The number of threads ag uses: the backward scheduler's workers and the chunks of large
// kernels, all in one oneTBB arena (so the two levels never oversubscribe the cores).
#pragma once

#include <cstdint>
#include <functional>

namespace ag {

// requires: n >= 1.
// ensures: later backward passes and kernels use n threads (default: the hardware threads,
//          or the environment variable AG_NUM_THREADS). Throws ag::Error for n < 1.
void set_num_threads(int n);
int get_num_threads();

// Runs f(b, e) over sub-ranges of [begin, end) of at least grain_size elements each, in
// the arena ag's kernels and backward run in, and returns when all are done; one call
// f(begin, end) when the range is under two grains or one thread is set. Called from a
// backward node, the chunks join the running backward's workers. As at::parallel_for.
// ag::Error, before anything runs: an empty f, grain_size < 0 (0 means any size), a range
// longer than int64 can count. An exception f throws reaches the caller.
void parallel_for(int64_t begin, int64_t end, int64_t grain_size, const std::function<void(int64_t, int64_t)>& f);

}  // namespace ag
