// Internal helpers of ag::optim: number <-> text for state dicts, option checks, and the
// contiguous-data frame the update loops run in. Not part of the public API.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include "ag/autograd.hpp"
#include "ag/tensor.hpp"
#include "ag/threads.hpp"

namespace ag::optim::internal {

// Shortest text that parses back to the same double ("0.1", "1e-08", "inf").
inline std::string format_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Requires: `s` is exactly one number (else ag::Error naming `what`).
inline double parse_double(const std::string& s, const std::string& what) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  AG_CHECK(!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size(),
           "load_state_dict: ", what, " is not a number: '", s, "'");
  return v;
}
inline int64_t parse_int(const std::string& s, const std::string& what) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  AG_CHECK(!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size(),
           "load_state_dict: ", what, " is not an integer: '", s, "'");
  return v;
}

// Throws unless v is finite and >= 0: "<who>: invalid <what>: <v> (must be finite and >= 0)".
inline void check_nonneg(const char* who, const char* what, double v) {
  AG_CHECK(std::isfinite(v) && v >= 0.0, who, ": invalid ", what, ": ", v, " (must be finite and >= 0)");
}
// Throws unless 0 <= v < 1.
inline void check_beta(const char* who, const char* what, double v) {
  AG_CHECK(std::isfinite(v) && v >= 0.0 && v < 1.0, who, ": invalid ", what, ": ", v, " (must be in [0, 1))");
}

// Runs f(T* param, const T* grad, int64_t n) with T the parameter's element type, on
// contiguous data: directly on the parameter when it is contiguous (bumping its storage
// version afterwards), else on a contiguous copy that is copied back.
// Requires: param and grad floating, same dtype and shape; grad mode off.
template <class F>
void with_contiguous(const Tensor& param, const Tensor& grad, F&& f) {
  Tensor g = grad.is_contiguous() ? grad : grad.contiguous();
  Tensor p = param.is_contiguous() ? param : param.contiguous();
  const int64_t n = p.numel();
  if (p.dtype() == kFloat64) f(p.data_ptr<double>(), static_cast<const double*>(g.data_ptr<double>()), n);
  else f(p.data_ptr<float>(), static_cast<const float*>(g.data_ptr<float>()), n);
  if (p.is_same(param)) param._bump_version();
  else param.copy_(p);
}

// Note [Parallel update]
// An update over n elements runs in chunks of at least kUpdateGrain elements across ag's
// arena (ag::parallel_for), each chunk starting at a multiple of 64 elements: the loops are
// elementwise, so the bits do not depend on the split. Measured on SGD with momentum after
// a 2-thread forward and backward (whose gradients sit in both cores' caches), the update
// on one thread against the update split over two, alternating, three processes each:
// 784-256-10 (fc1.weight 200,704 floats) 108-128 us against 44-70 us; 784-1024-10
// 280-518 us against 196-209 us.
inline constexpr int64_t kUpdateGrain = int64_t{1} << 15;

// Calls f(offset, count) over [0, n) as above.
template <class F>
void in_chunks(int64_t n, F&& f) {
  constexpr int64_t kBlock = 64;
  ag::parallel_for(0, (n + kBlock - 1) / kBlock, kUpdateGrain / kBlock, [&](int64_t b0, int64_t b1) {
    const int64_t i0 = b0 * kBlock;
    f(i0, std::min(n, b1 * kBlock) - i0);
  });
}

}  // namespace ag::optim::internal
