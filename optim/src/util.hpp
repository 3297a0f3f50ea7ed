// Internal helpers of ag::optim: number <-> text for state dicts, option checks, and the
// contiguous-data frame the update loops run in. Not part of the public API.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include "ag/autograd.hpp"
#include "ag/tensor.hpp"

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

}  // namespace ag::optim::internal
