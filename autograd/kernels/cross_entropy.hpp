// Softmax cross-entropy with class-index targets over the rows of a contiguous
// [rows x cols] block of logits: the forward and the derivative of
// nn::functional::cross_entropy, each in one sweep over the logits.
//
// Every row is shifted by its maximum, so exp never overflows; the log-sum-exp is kept as
// two numbers per row (the maximum m and log s, s = sum_c exp(x[c] - m)) and never added
// into one, for the reason given in softmax.cpp: m + log s rounds away log s when |m| is
// large ([1e8, 1e8] in float32), and the derivative exp((x - m) - log s) would come out
// 1 instead of 0.5.
#pragma once

#include <cstdint>

namespace ag::kernels {

// requires: x holds rows * cols logits, target holds rows labels in [0, cols), cols >= 1.
// ensures: for each row r, with m = max_c x[r,c] (NaN if any is NaN) and
//          s = sum_c exp(x[r,c] - m):
//            loss[r]        = (m - x[r, target[r]]) + log(s)   (unless loss is nullptr)
//            stats[2r]      = m, stats[2r + 1] = log(s)         (unless stats is nullptr)
//          and returns sum_r loss[r], accumulated in double.
template <class T>
double cross_entropy_forward(const T* x, const int64_t* target, int64_t rows, int64_t cols, T* loss, T* stats);

// requires: x, target as above; stats from cross_entropy_forward of the same x;
//           g holds one value (g_stride 0) or rows values (g_stride 1).
// ensures: grad[r,c] = (exp((x[r,c] - m_r) - log s_r) - [c == target[r]]) * (scale * g[r * g_stride]),
//          i.e. (softmax - onehot) times the upstream gradient; grad may not alias x.
template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* stats, const T* g, int64_t g_stride, T scale,
                            int64_t rows, int64_t cols, T* grad);

// The scalar twins (kernels/reference.cpp), in double: the tests' reference.
namespace reference {
template <class T>
double cross_entropy_forward(const T* x, const int64_t* target, int64_t rows, int64_t cols, T* loss, T* stats);
template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* stats, const T* g, int64_t g_stride, T scale,
                            int64_t rows, int64_t cols, T* grad);
}  // namespace reference

}  // namespace ag::kernels
