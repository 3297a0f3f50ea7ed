// One element of each elementwise op, in plain C++. Shared by the reference kernels and
// by the scalar tails of the SIMD kernels, so both compute the same formula.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "elementwise.hpp"

namespace ag::kernels::scalar {

// Signed integers wrap on overflow, as PyTorch's integer kernels do: the arithmetic runs in
// the unsigned type (defined modulo 2^n) and converts back (defined in C++20). Plain
// int64 + - * on overflowing values is undefined behaviour, and INT64_MIN / -1 traps.
template <class T>
constexpr bool kWraps = std::is_integral_v<T> && std::is_signed_v<T>;

template <class T>
inline T wrap_pow(T a, T b) {
  using U = std::make_unsigned_t<T>;
  if (b < 0) return a == 1 ? T(1) : a == -1 ? (b % 2 ? T(-1) : T(1)) : T(0);  // integer quotient
  U r = 1, x = static_cast<U>(a);
  for (auto e = static_cast<U>(b); e; e >>= 1, x *= x)
    if (e & 1) r *= x;
  return static_cast<T>(r);
}

template <class T>
inline T binary(BinaryOp op, T a, T b) {
  if constexpr (kWraps<T>) {
    using U = std::make_unsigned_t<T>;
    switch (op) {
      case BinaryOp::Add: return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
      case BinaryOp::Sub: return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
      case BinaryOp::Mul: return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
      case BinaryOp::Div:
        if (b == 0) return T(0);
        if (b == -1) return static_cast<T>(U(0) - static_cast<U>(a));  // MIN / -1 wraps to MIN
        return a / b;
      case BinaryOp::Pow: return wrap_pow(a, b);
      default: break;  // max, min: no overflow
    }
  }
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
    if constexpr (kWraps<T>) {
      using U = std::make_unsigned_t<T>;
      switch (op) {
        case UnaryOp::Neg: return static_cast<T>(U(0) - static_cast<U>(x));  // -MIN wraps to MIN
        case UnaryOp::Abs: return x < 0 ? static_cast<T>(U(0) - static_cast<U>(x)) : x;
        case UnaryOp::Square: return static_cast<T>(static_cast<U>(x) * static_cast<U>(x));
        default: break;
      }
    }
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
