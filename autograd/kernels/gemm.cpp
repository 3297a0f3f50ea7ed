// A packed, cache-blocked GEMM in the style of GotoBLAS / BLIS, on xsimd.
//
// Note [GEMM blocking]
// C (M x N, row-major) is computed in tiles of MR rows x NR columns by a register-blocked
// micro-kernel: NR is two SIMD registers wide (32 floats with AVX-512), so the vectors
// run along the rows of C and B, and each step of k broadcasts MR values of A and does
// 2 * MR fused multiply-adds. MR is 12 when the ISA has 32 vector registers (AVX-512:
// 24 accumulators + 2 of B + 1 broadcast) and 6 when it has 16 (AVX2, SSE).
//
// B is copied ("packed") into contiguous micro-panels in the order the micro-kernel reads
// them: Bp[jr][k][c], NR columns per micro-panel, zero-padded past N. That makes every
// load of B unit-stride and aligned whatever the transposition flag (so backward's g·Bᵀ
// costs no transposed copy: see Note [Transposed packing]), and lets edge tiles run the
// same SIMD micro-kernel as full ones (only their write-back goes element by element).
// A is read in place: the micro-kernel broadcasts one value per row and k, from MR rows
// of a row-major A or from one row of a transposed one; its MR x KC slice (18 KiB) stays
// in L1 while the micro-panels of B stream past it. Only a last panel of fewer than MR
// rows is packed, with zero rows below it. (Packing all of A, as GotoBLAS does, measured
// slower here: it costs a strided copy, and the L1 is large enough without it.)
// Loops, outer to inner, inside one task:
//   for each k block (KC deep)        — the accumulation depth per pass over C
//     pack B block (KC x NB)          — stays in L2 for the loops below
//     for each row panel (MR rows)    — its MR x KC slice of A stays in L1
//       for each micro-panel (NR)     — streamed from L2
//         micro-kernel: C tile (+)= alpha * A·Bp
//       activation of the finished rows (last k block only)
// KC = 384 keeps an A slice (12 x 384 floats = 18 KiB) in L1; a B block of 384 x 256
// floats (384 KiB) fits in a 1 MiB L2.
//
// Note [GEMM threads]
// Large products are split into tasks over (column block, row chunk) in the shared TBB
// arena; each task packs its own B block.
// Every element of C is summed over k in the same order (k blocks in order, k within a
// block in order) whatever the split, so the result is bitwise the same for any number
// of threads.
#include "gemm.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "ag/threads.hpp"
#include "elementwise.hpp"
#include "runtime/parallel.hpp"
#include "scalar_ops.hpp"
#include "runtime/allocator.hpp"

namespace ag::kernels {
namespace {

template <class T>
using Vec = xsimd::batch<T>;  // the widest batch the build targets

template <class T>
constexpr int64_t kW = static_cast<int64_t>(Vec<T>::size);
template <class T>
constexpr int64_t kNR = 2 * kW<T>;
// 32 vector registers with AVX-512, 16 below it.
template <class T>
constexpr int64_t kMR = sizeof(Vec<T>) >= 64 ? 12 : 6;

constexpr int64_t kKC = 384;
constexpr int64_t kNB = 256;  // columns of a packed B block (a multiple of every NR)
constexpr int64_t kInPlaceBytes = 256 << 10;  // a row-major B this small is not packed
constexpr int64_t kPackALdBytes = 2048;       // a transposed A with rows this long is packed

// Products below this many multiply-adds run the direct loop: packing would cost more
// than it saves (the 2-4-1 net's matrices are 1 x 2 x 4).
constexpr int64_t kSmallFlops = 4096;
// Multiply-adds per task below which splitting across threads does not pay. Measured
// (ag::matmul, 1 against 2 threads alternating, 400 rounds, 2-vCPU AMD EPYC): with 2^18 the
// products of 0.5-2 M multiply-adds ran 1.32-1.61x faster on two threads (64x128x64,
// 96^3, 128^3, the 784-256-10 net's 256x10x256 and its transposes); with 2^20 they did
// not split and ran at 1.00x. 64^3 (2^18) does not split either way.
constexpr int64_t kTaskFlops = int64_t{1} << 18;

// A buffer from ag's caching allocator: after the first step of a training loop no
// packing buffer comes from the system.
template <class T>
class Buffer {
 public:
  // n == 0: no buffer (and no call to the allocator).
  explicit Buffer(int64_t n) : bytes_(static_cast<size_t>(n) * sizeof(T)) {
    if (n > 0) p_ = static_cast<T*>(ag::detail::cached_alloc(bytes_, &cap_));
  }
  ~Buffer() {
    if (p_) ag::detail::cached_free(p_, cap_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* get() const { return p_; }

 private:
  size_t bytes_, cap_ = 0;
  T* p_ = nullptr;
};

// op(A)[i][k] and op(B)[k][j] for the stored layouts.
template <class T>
struct View {
  const T* p;
  int64_t ld;
  bool trans;
  T at(int64_t r, int64_t c) const { return trans ? p[c * ld + r] : p[r * ld + c]; }
};

// The rows of the micro-kernel that a last panel of `rows` rows runs with: a third, two
// thirds or all of MR (Note [GEMM blocking]).
template <class T>
constexpr int64_t edge_kernel_rows(int64_t rows) {
  constexpr int64_t MR = kMR<T>;
  return rows <= MR / 3 ? MR / 3 : rows <= 2 * MR / 3 ? 2 * MR / 3 : MR;
}

// The last panel of op(A): rows [row0, row0 + rows), all K, zero-padded to R =
// edge_kernel_rows(rows) rows: dst[k * R + r] = op(A)[row0 + r][k].
template <class T>
void pack_a_edge(const View<T>& a, int64_t row0, int64_t rows, int64_t K, T* dst) {
  const int64_t R = edge_kernel_rows<T>(rows);
  std::fill(dst, dst + K * R, T(0));
  if (a.trans) {
    // op(A)[i][k] = A[k][i]: the values of one k are contiguous in memory.
    for (int64_t k = 0; k < K; ++k) std::copy_n(a.p + k * a.ld + row0, rows, dst + k * R);
  } else {
    // Each row is contiguous in k: read rows, write with stride R.
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = a.p + (row0 + r) * a.ld;
      for (int64_t k = 0; k < K; ++k) dst[k * R + r] = src[k];
    }
  }
}

#if defined(__AVX512F__)
// Note [Transposed packing]
// Packing op(B) = Bᵀ (nn.Linear's x·Wᵀ) one element at a time costs about as much as the
// product itself for a batch of 64. With AVX-512 it goes W x W at a time: W rows of B
// loaded, transposed in registers by log2(W) rounds of interleaving pairs of rows (the
// "perfect shuffle": row i with row i + W/2, low halves into row 2i and high halves into
// row 2i + 1), W rows of the micro-panel stored. xsimd 8's zip_lo/zip_hi interleave
// within 128-bit lanes only, hence the intrinsics (vpermt2ps / vpermt2pd).
inline void transpose_square(__m512* r) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int round = 0; round < 4; ++round) {
    __m512 n[16];
    for (int i = 0; i < 8; ++i) {
      n[2 * i] = _mm512_permutex2var_ps(r[i], lo, r[i + 8]);
      n[2 * i + 1] = _mm512_permutex2var_ps(r[i], hi, r[i + 8]);
    }
    for (int i = 0; i < 16; ++i) r[i] = n[i];
  }
}
inline void transpose_square(__m512d* r) {
  const __m512i lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  for (int round = 0; round < 3; ++round) {
    __m512d n[8];
    for (int i = 0; i < 4; ++i) {
      n[2 * i] = _mm512_permutex2var_pd(r[i], lo, r[i + 4]);
      n[2 * i + 1] = _mm512_permutex2var_pd(r[i], hi, r[i + 4]);
    }
    for (int i = 0; i < 8; ++i) r[i] = n[i];
  }
}
template <class T>
struct Zmm;
template <>
struct Zmm<float> {
  using type = __m512;
};
template <>
struct Zmm<double> {
  using type = __m512d;
};
inline __m512 load512(const float* p) { return _mm512_loadu_ps(p); }
inline __m512d load512(const double* p) { return _mm512_loadu_pd(p); }
inline void store512(float* p, __m512 v) { _mm512_store_ps(p, v); }
inline void store512(double* p, __m512d v) { _mm512_store_pd(p, v); }

// panel[k * NR + c] = src[c * ld + k] for c < NR and k below the largest multiple of the
// square's side in kc; returns that multiple (the caller copies the rest).
template <class T>
int64_t pack_transposed_avx512(const T* src, int64_t ld, int64_t kc, T* panel) {
  constexpr int64_t S = 64 / sizeof(T), NR = kNR<T>;  // side of a square: one zmm of T
  using R = typename Zmm<T>::type;
  if constexpr (NR % S != 0) {
    return 0;
  } else {
    const int64_t k_end = kc / S * S;
    for (int64_t k = 0; k < k_end; k += S)
      for (int64_t h = 0; h < NR; h += S) {
        R r[S];
        for (int64_t i = 0; i < S; ++i) r[i] = load512(src + (h + i) * ld + k);
        transpose_square(r);
        for (int64_t i = 0; i < S; ++i) store512(panel + (k + i) * NR + h, r[i]);
      }
    return k_end;
  }
}
#endif

// Bp for k in [k0, k0 + kc), columns [j0, j0 + nb), in micro-panels of NR columns,
// zero-padded past nb: dst[jr * kc * NR + k * NR + c] = op(B)[k0 + k][j0 + jr * NR + c].
template <class T>
void pack_b_block(const View<T>& b, int64_t k0, int64_t kc, int64_t j0, int64_t nb, T* dst) {
  constexpr int64_t NR = kNR<T>;
  for (int64_t jr = 0; jr * NR < nb; ++jr) {
    const int64_t cols = std::min(NR, nb - jr * NR), c0 = j0 + jr * NR;
    T* panel = dst + jr * kc * NR;
    if (!b.trans) {
      // Rows of B are contiguous in j: a row of the micro-panel is one copy.
      for (int64_t k = 0; k < kc; ++k) {
        const T* src = b.p + (k0 + k) * b.ld + c0;
        T* d = panel + k * NR;
        if (cols == NR) {
          Vec<T>::load_unaligned(src).store_aligned(d);
          Vec<T>::load_unaligned(src + kW<T>).store_aligned(d + kW<T>);
        } else {
          int64_t c = 0;
          for (; c < cols; ++c) d[c] = src[c];
          for (; c < NR; ++c) d[c] = T(0);
        }
      }
    } else {
      // op(B)[k][j] = B[j][k]: each column of the micro-panel is contiguous in k.
      int64_t k_done = 0;
#if defined(__AVX512F__)
      // Whole W x W squares go through registers: W rows of B in, W rows of Bp out.
      if (cols == NR) k_done = pack_transposed_avx512(b.p + c0 * b.ld + k0, b.ld, kc, panel);
#endif
      if (k_done == kc) continue;
      for (int64_t c = 0; c < cols; ++c) {
        const T* src = b.p + (c0 + c) * b.ld + k0;
        for (int64_t k = k_done; k < kc; ++k) panel[k * NR + c] = src[k];
      }
      for (int64_t c = cols; c < NR; ++c)
        for (int64_t k = k_done; k < kc; ++k) panel[k * NR + c] = T(0);
    }
  }
}

// How a tile's accumulators meet C: on the first k block C = alpha·AB + beta·C (C not
// read when beta is 0); on later ones C += alpha·AB; on the last one the epilogue
// (bias, activation) follows.
template <class T>
struct WriteBack {
  T alpha, beta;
  bool first, last;
  const T* bias;  // already offset to the tile's first column; nullptr: none
  GemmActivation act;
};

template <class T>
void activate(GemmActivation act, T* p, int64_t n) {
  switch (act) {
    case GemmActivation::None: return;
    case GemmActivation::Sigmoid: return unary<T>(UnaryOp::Sigmoid, p, p, n);
    case GemmActivation::Tanh: return unary<T>(UnaryOp::Tanh, p, p, n);
    case GemmActivation::Relu: return unary<T>(UnaryOp::Relu, p, p, n);
  }
}

// The activation of n values of a row of C, starting at a column that is a multiple of W.
// Whole registers only: the last few values go through one zero-padded register instead
// of the kernels' scalar tail. So every value is computed by the same SIMD function, in a
// register holding the same columns whatever the column blocks were (they start at
// multiples of NR), which keeps results bitwise the same for any number of threads; and a
// narrow output (10 classes) costs one register per row, not ten scalar calls.
template <class T>
void activate_row(GemmActivation act, T* row, int64_t n) {
  if (act == GemmActivation::None) return;
  constexpr int64_t W = kW<T>;
  const int64_t full = n / W * W;
  if (full) activate(act, row, full);
  if (const int64_t rest = n - full) {
    alignas(64) T pad[W] = {};
    std::copy_n(row + full, rest, pad);
    activate(act, pad, W);
    std::copy_n(pad, rest, row + full);
  }
}

// The micro-kernel: C[0:mr, 0:nr] (+)= alpha * a[Rows x kc] · b[kc x NR], where a(r, k)
// is ap[k * lda + r] (RowsA false: a packed panel, lda = MR, or a transposed A read in
// place) or ap[r * lda + k] (RowsA true: the rows of a row-major A read in place), and
// b(k, c) is bp[k * ldb + c] (a packed micro-panel, ldb = NR, or a row-major B read in
// place). Rows is MR, or a third or two thirds of it for a last panel of few rows.
template <class T, bool RowsA, int64_t Rows = kMR<T>>
void micro_kernel(int64_t kc, const T* __restrict ap, int64_t lda, const T* __restrict bp, int64_t ldb, T* c,
                  int64_t ldc, int64_t mr, int64_t nr, const WriteBack<T>& wb) {
  constexpr int64_t MR = Rows, NR = kNR<T>, W = kW<T>;
  using V = Vec<T>;
  std::array<V, MR> c0, c1;
#pragma GCC unroll 12
  for (int64_t r = 0; r < MR; ++r) c0[r] = c1[r] = V(T(0));
  for (int64_t k = 0; k < kc; ++k) {
    const V b0 = V::load_unaligned(bp), b1 = V::load_unaligned(bp + W);
#pragma GCC unroll 12
    for (int64_t r = 0; r < MR; ++r) {
      const V a(RowsA ? ap[r * lda + k] : ap[k * lda + r]);
      c0[r] = xsimd::fma(a, b0, c0[r]);
      c1[r] = xsimd::fma(a, b1, c1[r]);
    }
    bp += ldb;
  }
  const V alpha(wb.alpha), beta(wb.beta);
  if (mr == MR && nr == NR) {
    const bool with_bias = wb.last && wb.bias;
    const V bias0 = with_bias ? V::load_unaligned(wb.bias) : V(T(0));
    const V bias1 = with_bias ? V::load_unaligned(wb.bias + W) : V(T(0));
#pragma GCC unroll 12
    for (int64_t r = 0; r < MR; ++r) {
      T* row = c + r * ldc;
      V v0 = c0[r], v1 = c1[r];
      if (wb.alpha != T(1)) {
        v0 *= alpha;
        v1 *= alpha;
      }
      if (!wb.first) {
        v0 += V::load_unaligned(row);
        v1 += V::load_unaligned(row + W);
      } else if (wb.beta != T(0)) {
        v0 = xsimd::fma(beta, V::load_unaligned(row), v0);
        v1 = xsimd::fma(beta, V::load_unaligned(row + W), v1);
      }
      if (with_bias) {
        v0 += bias0;
        v1 += bias1;
      }
      v0.store_unaligned(row);
      v1.store_unaligned(row + W);
    }
  } else {
    // Edge tile: the same accumulators, written back element by element.
    alignas(64) T tile[MR * NR];
#pragma GCC unroll 12
    for (int64_t r = 0; r < MR; ++r) {
      c0[r].store_aligned(tile + r * NR);
      c1[r].store_aligned(tile + r * NR + W);
    }
    for (int64_t r = 0; r < mr; ++r) {
      T* row = c + r * ldc;
      const T* t = tile + r * NR;
      for (int64_t j = 0; j < nr; ++j) {
        T v = wb.alpha * t[j];
        if (!wb.first) v += row[j];
        else if (wb.beta != T(0)) v += wb.beta * row[j];
        if (wb.last && wb.bias) v += wb.bias[j];
        row[j] = v;
      }
    }
  }
}

// C = beta * C + epilogue, for K == 0 or alpha == 0 (no product to add).
template <class T>
void scale_only(int64_t M, int64_t N, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& ep) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) std::fill(c, c + N, T(0));
    else if (beta != T(1)) affine<T>(c, beta, T(0), c, N);
    if (ep.bias) binary<T>(BinaryOp::Add, c, 1, ep.bias, 1, c, N);
    activate_row(ep.act, c, N);
  }
}

// Tiny products: a direct loop, accumulating each row of C in a register-sized run.
template <class T>
void gemm_small(const View<T>& a, const View<T>& b, int64_t M, int64_t N, int64_t K, T alpha, T beta, T* C,
                int64_t ldc, const GemmEpilogue<T>& ep) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) {
      T s = T(0);
      for (int64_t k = 0; k < K; ++k) s += a.at(i, k) * b.at(k, j);
      T v = alpha * s;
      if (beta != T(0)) v += beta * c[j];
      if (ep.bias) v += ep.bias[j];
      c[j] = v;
    }
    activate_row(ep.act, c, N);
  }
}

template <class T>
void gemm_blocked(const View<T>& a, const View<T>& b, int64_t M, int64_t N, int64_t K, T alpha, T beta, T* C,
                  int64_t ldc, const GemmEpilogue<T>& ep) {
  constexpr int64_t MR = kMR<T>, NR = kNR<T>;
  const int64_t panels = (M + MR - 1) / MR;
  // k blocks of equal depth (784 = 2 x 392, not 384 + 384 + 16).
  const int64_t kblocks = (K + kKC - 1) / kKC;
  const int64_t kc_max = (K + kblocks - 1) / kblocks;
  // Threads: tasks over (column block, row chunk), enough for every thread when the
  // product is large enough to feed them. Columns are split first: a column block's
  // tasks share nothing but the packed A, while two row chunks of one column block
  // would each pack the same B block.
  const int64_t threads = ag::get_num_threads();
  const int64_t flops = M * N * K;
  const int64_t want = threads > 1 ? std::clamp<int64_t>(flops / kTaskFlops, 1, 2 * threads) : 1;
  const ag::detail::ParallelRegion region(flops / kTaskFlops >= 2);  // Note [Parallel accounting]
  // Column blocks: at most kNB wide, at least `want` of them where there are tiles enough,
  // and balanced in whole NR-wide tiles: 784 columns (25 tiles) in 4 blocks are 6, 6, 6
  // and 7 tiles, not 7, 7, 7 and 4, which gave one of two threads 448 columns and the
  // other 336 (1024x784x1024 gᵀ·x on 2 threads: 0.85x OpenBLAS).
  const int64_t n_tiles = (N + NR - 1) / NR;
  const int64_t nblocks = std::max((n_tiles * NR + kNB - 1) / kNB, std::min(want, n_tiles));
  const int64_t nb_max = (n_tiles + nblocks - 1) / nblocks * NR;  // <= kNB: kNB is a multiple of NR
  auto block_start = [&](int64_t jb) { return jb * n_tiles / nblocks * NR; };
  const int64_t chunks = std::clamp<int64_t>((want + nblocks - 1) / nblocks, 1, panels);
  const int64_t tasks = nblocks * chunks;

  // A is read in place (a row-major A row by row, a transposed one column
  // by column), all but a last panel of fewer than MR rows: that one is packed with zero
  // rows below it, so that it runs the same micro-kernel.
  const int64_t edge_rows = M % MR, edge_r = edge_kernel_rows<T>(edge_rows);
  Buffer<T> edge(edge_rows ? K * edge_r : 0);
  if (edge_rows) pack_a_edge(a, M - edge_rows, edge_rows, K, edge.get());

  // A transposed B is packed whole (Note [Transposed packing]); a small row-major one is
  // read in place, all but a last micro-panel of fewer than NR columns, packed
  // zero-padded: for a 64 x 64 product the copy was a tenth of the time. In place only
  // while all of B fits well inside an L2: beyond that, the packed copy's unit-stride
  // stream measured faster (0.77-0.84x OpenBLAS in place at 1024, 1.0 packed).
  const bool b_in_place = !b.trans && K * N * static_cast<int64_t>(sizeof(T)) <= kInPlaceBytes;
  // A transposed A with long rows, read in place, is read one row per step of k: every
  // step lands on another page, and a KC-deep slice touches more pages than the TLB
  // holds. Such an A is packed per k block, reading its rows end to end.
  const bool a_packed = a.trans && a.ld * static_cast<int64_t>(sizeof(T)) >= kPackALdBytes;
  const int64_t full_panels = M / MR;

  // Rows [p_begin, p_end) panels x column blocks [jb_begin, jb_end).
  auto run_task = [&](int64_t p_begin, int64_t p_end, int64_t jb_begin, int64_t jb_end) {
    Buffer<T> bpack(b_in_place ? (N % NR ? kc_max * NR : 0) : kc_max * nb_max);
    T* const bp = bpack.get();
    const int64_t pa_end = std::min(p_end, full_panels);  // the edge panel has its own copy
    Buffer<T> apack(a_packed ? kc_max * MR * std::max<int64_t>(pa_end - p_begin, 0) : 0);
    for (int64_t kb = 0; kb < kblocks; ++kb) {
      const int64_t k0 = kb * kc_max, kc = std::min(kc_max, K - k0);
      if (a_packed)
        for (int64_t k = 0; k < kc; ++k) {
          const T* src = a.p + (k0 + k) * a.ld;
          for (int64_t p = p_begin; p < pa_end; ++p)
            std::copy_n(src + p * MR, MR, apack.get() + (p - p_begin) * kc * MR + k * MR);
        }
      WriteBack<T> wb{alpha, beta, kb == 0, kb == kblocks - 1, nullptr, ep.act};
      for (int64_t jb = jb_begin; jb < jb_end; ++jb) {
        const int64_t j0 = block_start(jb), nb = std::min(N, block_start(jb + 1)) - j0;
        const int64_t nb_panels = (nb + NR - 1) / NR;
        if (!b_in_place) pack_b_block(b, k0, kc, j0, nb, bp);
        else if (nb % NR != 0) pack_b_block(b, k0, kc, j0 + (nb_panels - 1) * NR, nb - (nb_panels - 1) * NR, bp);
        for (int64_t p = p_begin; p < p_end; ++p) {
          const int64_t i0 = p * MR, mr = std::min(MR, M - i0);
          for (int64_t jr = 0; jr < nb_panels; ++jr) {
            const int64_t j = j0 + jr * NR, nr = std::min(NR, nb - jr * NR);
            const T* bj;
            int64_t ldb = NR;
            if (!b_in_place) bj = bp + jr * kc * NR;
            else if (nr < NR) bj = bp;
            else bj = b.p + k0 * b.ld + j, ldb = b.ld;
            T* cij = C + i0 * ldc + j;
            wb.bias = ep.bias ? ep.bias + j : nullptr;
            if (mr < MR) {
              const T* e = edge.get() + k0 * edge_r;
              if (edge_r == MR / 3) micro_kernel<T, false, MR / 3>(kc, e, edge_r, bj, ldb, cij, ldc, mr, nr, wb);
              else if (edge_r == 2 * MR / 3) micro_kernel<T, false, 2 * MR / 3>(kc, e, edge_r, bj, ldb, cij, ldc, mr, nr, wb);
              else micro_kernel<T, false>(kc, e, MR, bj, ldb, cij, ldc, mr, nr, wb);
            } else if (a_packed) {
              const T* ap = apack.get() + (p - p_begin) * kc * MR;
              micro_kernel<T, false>(kc, ap, MR, bj, ldb, cij, ldc, mr, nr, wb);
            } else if (a.trans) {
              micro_kernel<T, false>(kc, a.p + k0 * a.ld + i0, a.ld, bj, ldb, cij, ldc, mr, nr, wb);
            } else {
              micro_kernel<T, true>(kc, a.p + i0 * a.ld + k0, a.ld, bj, ldb, cij, ldc, mr, nr, wb);
            }
          }
          // The activation goes over the finished rows of this block while they are in cache.
          if (wb.last && ep.act != GemmActivation::None)
            for (int64_t r = 0; r < mr; ++r) activate_row(ep.act, C + (i0 + r) * ldc + j0, nb);
        }
      }
    }
  };
  if (tasks == 1 || want == 1) {
    run_task(0, panels, 0, nblocks);
  } else {
    ag::detail::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t jb = t % nblocks, ch = t / nblocks;
        run_task(panels * ch / chunks, panels * (ch + 1) / chunks, jb, jb + 1);
      }
    });
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale_only(M, N, beta, C, ldc, ep);
  const View<T> a{A, lda, trans_a}, b{B, ldb, trans_b};
  if (M * N * K <= kSmallFlops) return gemm_small(a, b, M, N, K, alpha, beta, C, ldc, ep);
  gemm_blocked(a, b, M, N, K, alpha, beta, C, ldc, ep);
}

namespace reference {
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const GemmEpilogue<T>& ep) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      double prev = beta == T(0) ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      double v = static_cast<double>(alpha) * s + prev;
      if (ep.bias) v += static_cast<double>(ep.bias[j]);
      T t = static_cast<T>(v);
      switch (ep.act) {
        case GemmActivation::None: break;
        case GemmActivation::Sigmoid: t = scalar::unary(UnaryOp::Sigmoid, t); break;
        case GemmActivation::Tanh: t = scalar::unary(UnaryOp::Tanh, t); break;
        case GemmActivation::Relu: t = scalar::unary(UnaryOp::Relu, t); break;
      }
      C[i * ldc + j] = t;
    }
}
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, const GemmEpilogue<float>&);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, const GemmEpilogue<double>&);
}  // namespace reference

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, const GemmEpilogue<float>&);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, const GemmEpilogue<double>&);

}  // namespace ag::kernels
