// The seeded generator behind rand, randn, randint, randperm and nn::init.
// One process-wide stream (a 64-bit Mersenne twister) guarded by a mutex: the same seed
// gives the same numbers on every run and every machine, because the integer-to-float
// conversions below are our own rather than the standard library's distributions.
#include <cmath>
#include <mutex>
#include <random>

#include "tensor/make.hpp"

namespace ag {

namespace {
std::mutex g_mutex;
std::mt19937_64& engine() {
  static std::mt19937_64 e(0x5eed);
  return e;
}
double u01_locked() { return static_cast<double>(engine()() >> 11) * 0x1.0p-53; }
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> l(g_mutex);
  engine().seed(seed);
}

uint64_t random_u64() {
  std::lock_guard<std::mutex> l(g_mutex);
  return engine()();
}

double random_uniform() {
  std::lock_guard<std::mutex> l(g_mutex);
  return u01_locked();
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  AG_CHECK(is_floating(opts.dtype()), "rand: expected a floating dtype, got ", dtype_name(opts.dtype()));
  Tensor t = detail::make_tensor(shape, opts.dtype());
  {
    std::lock_guard<std::mutex> l(g_mutex);
    dispatch(t.dtype(), [&]<class T>() {
      T* p = t.data_ptr<T>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        T v = static_cast<T>(u01_locked());
        p[i] = v < T(1) ? v : std::nextafter(T(1), T(0));  // float rounding must not reach 1
      }
    });
  }
  if (opts.requires_grad()) t.requires_grad_();
  return t;
}

Tensor randn(const Shape& shape, TensorOptions opts) {
  AG_CHECK(is_floating(opts.dtype()), "randn: expected a floating dtype, got ", dtype_name(opts.dtype()));
  Tensor t = detail::make_tensor(shape, opts.dtype());
  {
    std::lock_guard<std::mutex> l(g_mutex);
    dispatch(t.dtype(), [&]<class T>() {
      T* p = t.data_ptr<T>();
      // Box-Muller, two normals per pair of uniforms.
      for (int64_t i = 0; i < t.numel(); i += 2) {
        double u1 = u01_locked(), u2 = u01_locked();
        if (u1 < 1e-300) u1 = 1e-300;
        const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
        p[i] = static_cast<T>(r * std::cos(th));
        if (i + 1 < t.numel()) p[i + 1] = static_cast<T>(r * std::sin(th));
      }
    });
  }
  if (opts.requires_grad()) t.requires_grad_();
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts) {
  AG_CHECK(high > low, "randint: expected low < high, got low=", low, " and high=", high);
  Tensor t = detail::make_tensor(shape, opts.dtype());
  // In unsigned arithmetic: high - low may exceed int64 (found by fuzz_ops); the results,
  // in [low, high), do not.
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  std::lock_guard<std::mutex> l(g_mutex);
  dispatch(t.dtype(), [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(low) + engine()() % span));
  });
  return t;
}
Tensor randint(int64_t high, const Shape& shape, TensorOptions opts) { return randint(0, high, shape, opts); }

Tensor randperm(int64_t n, TensorOptions opts) {
  AG_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  Tensor t = arange(0.0, static_cast<double>(n), 1.0, TensorOptions(kInt64));
  int64_t* p = t.data_ptr<int64_t>();
  {
    std::lock_guard<std::mutex> l(g_mutex);
    for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[engine()() % static_cast<uint64_t>(i + 1)]);
  }
  return opts.dtype() == kInt64 ? t : t.to(opts.dtype());
}

}  // namespace ag
