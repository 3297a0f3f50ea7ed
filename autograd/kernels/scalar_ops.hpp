// One element of each elementwise op, in plain C++. Shared by the reference kernels and
// by the scalar tails of the SIMD kernels, so both compute the same formula.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "elementwise.hpp"

namespace ag::kernels::scalar {

template <class T>
inline T binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return b == T(0) && !std::is_floating_point_v<T> ? T(0) : a / b;
    // NaN propagates through max/min, as in PyTorch.
    case BinaryOp::Max: return a != a ? a : (b != b ? b : (a > b ? a : b));
    case BinaryOp::Min: return a != a ? a : (b != b ? b : (a < b ? a : b));
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) return std::pow(a, b);
      else return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  return T(0);
}

template <class T>
inline T unary(UnaryOp op, T x) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Exp: return std::exp(x);
      case UnaryOp::Log: return std::log(x);
      case UnaryOp::Sqrt: return std::sqrt(x);
      case UnaryOp::Abs: return std::abs(x);
      case UnaryOp::Sin: return std::sin(x);
      case UnaryOp::Cos: return std::cos(x);
      case UnaryOp::Tanh: return std::tanh(x);
      case UnaryOp::Sigmoid: return T(1) / (T(1) + std::exp(-x));
      case UnaryOp::Relu: return x < T(0) ? T(0) : x;  // NaN stays NaN
      case UnaryOp::Sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
      case UnaryOp::Square: return x * x;
      case UnaryOp::Reciprocal: return T(1) / x;
    }
  } else {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Abs: return x < 0 ? -x : x;
      case UnaryOp::Relu: return x < 0 ? T(0) : x;
      case UnaryOp::Sign: return x > 0 ? T(1) : (x < 0 ? T(-1) : T(0));
      case UnaryOp::Square: return x * x;
      default: return static_cast<T>(unary<double>(op, static_cast<double>(x)));
    }
  }
  return x;
}

template <class T>
inline bool compare(CompareOp op, T a, T b) {
  switch (op) {
    case CompareOp::Eq: return a == b;
    case CompareOp::Ne: return a != b;
    case CompareOp::Lt: return a < b;
    case CompareOp::Le: return a <= b;
    case CompareOp::Gt: return a > b;
    case CompareOp::Ge: return a >= b;
  }
  return false;
}

}  // namespace ag::kernels::scalar
