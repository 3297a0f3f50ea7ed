// Helpers shared by the test files: error_of, and the makers of test inputs (one copy each;
// the test files used to define their own).
#pragma once

#include <gtest/gtest.h>

#include <ag/ag.hpp>
#include <ag/error.hpp>

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <string>
#include <vector>

// Runs f, expects an ag::Error, and returns its message ("" and a test failure otherwise).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ag::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ag::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected ag::Error, nothing was thrown";
  return "";
}

// ---- test inputs ----------------------------------------------------------------------------
// Random makers draw from ag's generator: seed it (ag::manual_seed) for repeatable inputs.

inline const ag::TensorOptions kF64 = ag::TensorOptions(ag::kFloat64);

// A leaf that requires grad, made from a copy of `t`'s values (same dtype, contiguous).
inline ag::Tensor leaf(const ag::Tensor& t) {
  ag::Tensor r = t.detach().contiguous().clone();
  r.requires_grad_(true);
  return r;
}
// A float32 leaf that requires grad, with the values listed.
inline ag::Tensor leaf(std::initializer_list<float> v) { return ag::tensor(v, ag::TensorOptions().requires_grad(true)); }

// Class labels (int64) for the losses.
inline ag::Tensor labels(std::vector<int64_t> v) { return ag::tensor(v, ag::TensorOptions(ag::kInt64)); }

// The value of a one-element tensor, as a double.
inline double scalar(const ag::Tensor& t) { return t.to(ag::kFloat64).item<double>(); }

// Plain float64 values (no grad), for code that attaches tangents or grads itself.
// Standard normal.
inline ag::Tensor normal64(const ag::Shape& s) { return ag::randn(s, kF64); }
// Uniform in [lo, hi).
inline ag::Tensor uniform64(const ag::Shape& s, double lo, double hi) { return ag::rand(s, kF64) * (hi - lo) + lo; }
// Positive, in [0.5, 2): inside the domain of log, sqrt, pow and division.
inline ag::Tensor positive64(const ag::Shape& s) { return uniform64(s, 0.5, 2.0); }
// Random sign with |x| in [0.3, 1.5): away from the kinks at 0 (relu, abs, division).
inline ag::Tensor away_from_zero64(const ag::Shape& s) {
  ag::Tensor mag = ag::rand(s, kF64) * 1.2 + 0.3;
  return ag::where(ag::randn(s, kF64) > 0.0, mag, -mag);
}
// Pairwise distinct values (gaps of at least 0.2) in [0, n/4): no ties for max/min.
inline ag::Tensor distinct64(const ag::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  ag::Tensor v = ag::randperm(n).to(ag::kFloat64) * 0.25 + ag::rand({n}, kF64) * 0.05;
  return v.reshape(s);
}

// The same as float64 leaves that require grad, for gradcheck (short names: a gradcheck
// test lists many inputs).
inline ag::Tensor rn(const ag::Shape& s) { return leaf(normal64(s)); }
inline ag::Tensor uni(const ag::Shape& s, double lo, double hi) { return leaf(uniform64(s, lo, hi)); }
inline ag::Tensor pos(const ag::Shape& s) { return leaf(positive64(s)); }
inline ag::Tensor away(const ag::Shape& s) { return leaf(away_from_zero64(s)); }
// Distinct values centred on 0 (shifted by an eighth of the count).
inline ag::Tensor distinct(const ag::Shape& s) {
  ag::Tensor v = distinct64(s);
  return leaf(v - 0.125 * static_cast<double>(v.numel()));
}
