// Element types of a Tensor and the promotion rules between them (PyTorch's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

namespace ag {

enum class Dtype : uint8_t { Float32, Float64, Int64, Bool };
using ScalarType = Dtype;  // libtorch's name

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kDouble = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kLong = Dtype::Int64;
inline constexpr Dtype kBool = Dtype::Bool;

constexpr size_t element_size(Dtype t) {
  switch (t) {
    case Dtype::Float32: return 4;
    case Dtype::Float64: return 8;
    case Dtype::Int64: return 8;
    case Dtype::Bool: return 1;
  }
  return 0;
}

constexpr bool is_floating(Dtype t) { return t == Dtype::Float32 || t == Dtype::Float64; }

// "float32", "float64", "int64", "bool"
const char* dtype_name(Dtype t);

// The dtype of a binary op's result: bool < int64 < float32 < float64.
constexpr Dtype promote(Dtype a, Dtype b) {
  return static_cast<uint8_t>(a) == static_cast<uint8_t>(b) ? a
         : (a == Dtype::Float64 || b == Dtype::Float64) ? Dtype::Float64
         : (a == Dtype::Float32 || b == Dtype::Float32) ? Dtype::Float32
         : (a == Dtype::Int64 || b == Dtype::Int64)     ? Dtype::Int64
                                                        : Dtype::Bool;
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr Dtype value = kFloat32; };
template <> struct dtype_of<double> { static constexpr Dtype value = kFloat64; };
template <> struct dtype_of<int64_t> { static constexpr Dtype value = kInt64; };
template <> struct dtype_of<bool> { static constexpr Dtype value = kBool; };
template <> struct dtype_of<int> { static constexpr Dtype value = kInt64; };

// Calls f.template operator()<T>() with T the C++ type of `t`.
template <class F>
decltype(auto) dispatch(Dtype t, F&& f) {
  switch (t) {
    case Dtype::Float32: return f.template operator()<float>();
    case Dtype::Float64: return f.template operator()<double>();
    case Dtype::Int64: return f.template operator()<int64_t>();
    case Dtype::Bool: break;
  }
  return f.template operator()<bool>();
}

// One element converted to D as PyTorch does it on x86-64: floating to integer truncates
// toward zero, and a value the integer type cannot hold (NaN, +-inf, out of range) becomes
// its minimum, the processor's "integer indefinite" (INT64_MIN for int64). A plain cast
// would be undefined behaviour there (found by fuzz_ops). Every other conversion is the cast.
template <class D, class S>
constexpr D convert(S v) {
  if constexpr (std::is_integral_v<D> && !std::is_same_v<D, bool> && std::is_floating_point_v<S>) {
    constexpr S lo = static_cast<S>(std::numeric_limits<D>::min());  // -2^63 (or -2^31): exact
    if (!(v >= lo && v < -lo)) return std::numeric_limits<D>::min();
  }
  return static_cast<D>(v);
}

}  // namespace ag
