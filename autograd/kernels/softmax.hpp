// Softmax and log-softmax over the rows of a contiguous [rows x cols] block, each row
// shifted by its maximum so exp never overflows.
#pragma once

#include <cstdint>

namespace ag::kernels {

template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log);

namespace reference {
template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log);
}

}  // namespace ag::kernels
