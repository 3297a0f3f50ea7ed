// The number of threads ag uses: the backward scheduler's workers and the chunks of large
// kernels, all in one oneTBB arena (so the two levels never oversubscribe the cores).
#pragma once

namespace ag {

// requires: n >= 1.
// ensures: later backward passes and kernels use n threads (default: the hardware threads,
//          or the environment variable AG_NUM_THREADS). Throws ag::Error for n < 1.
void set_num_threads(int n);
int get_num_threads();

}  // namespace ag
