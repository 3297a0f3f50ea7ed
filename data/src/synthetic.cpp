// make_xor, make_moons, make_spirals: small 2-D sets from the data module's own generator.
#include <cmath>
#include <vector>

#include "ag/data/synthetic.hpp"
#include "rng.hpp"

namespace ag::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_args(const char* op, int64_t n, double noise) {
  AG_CHECK(n >= 1, op, ": n must be >= 1, got ", n);
  AG_CHECK(noise >= 0.0 && std::isfinite(noise), op, ": noise must be a finite value >= 0, got ", noise);
}

// Builds the dataset from per-example points and labels, in the order `perm` gives.
TensorDataset assemble(const std::vector<float>& xy, const std::vector<int64_t>& labels,
                       const std::vector<int64_t>* perm) {
  const auto n = static_cast<int64_t>(labels.size());
  Tensor inputs = empty({n, 2}, TensorOptions(kFloat32));
  Tensor targets = empty({n}, TensorOptions(kInt64));
  float* x = inputs.data_ptr<float>();
  int64_t* y = targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto src = static_cast<size_t>(perm ? (*perm)[static_cast<size_t>(i)] : i);
    x[2 * i] = xy[2 * src];
    x[2 * i + 1] = xy[2 * src + 1];
    y[i] = labels[src];
  }
  return TensorDataset(inputs, targets);
}

}  // namespace

TensorDataset make_xor(int64_t n, double noise, uint64_t seed) {
  check_args("make_xor", n, noise);
  detail::Rng rng(seed, 0);
  std::vector<float> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = (i / 2) % 2, b = i % 2;
    const double nx = noise > 0 ? noise * rng.normal() : 0.0;
    const double ny = noise > 0 ? noise * rng.normal() : 0.0;
    xy[2 * i] = static_cast<float>(a + nx);
    xy[2 * i + 1] = static_cast<float>(b + ny);
    labels[static_cast<size_t>(i)] = a ^ b;
  }
  return assemble(xy, labels, nullptr);
}

TensorDataset make_moons(int64_t n, double noise, uint64_t seed) {
  check_args("make_moons", n, noise);
  detail::Rng rng(seed, 0);
  const int64_t n_out = n / 2, n_in = n - n_out;
  std::vector<float> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  // As scikit-learn: t = linspace(0, pi, count) on each moon.
  auto angle = [](int64_t i, int64_t count) { return count > 1 ? kPi * static_cast<double>(i) / (count - 1) : 0.0; };
  for (int64_t i = 0; i < n; ++i) {
    const bool outer = i < n_out;
    const double t = outer ? angle(i, n_out) : angle(i - n_out, n_in);
    double x = outer ? std::cos(t) : 1.0 - std::cos(t);
    double y = outer ? std::sin(t) : 0.5 - std::sin(t);
    if (noise > 0) {
      x += noise * rng.normal();
      y += noise * rng.normal();
    }
    xy[2 * i] = static_cast<float>(x);
    xy[2 * i + 1] = static_cast<float>(y);
    labels[static_cast<size_t>(i)] = outer ? 0 : 1;
  }
  const std::vector<int64_t> perm = detail::permutation(n, seed, 1);
  return assemble(xy, labels, &perm);
}

TensorDataset make_spirals(int64_t n, int64_t classes, double noise, uint64_t seed) {
  check_args("make_spirals", n, noise);
  AG_CHECK(classes >= 2, "make_spirals: classes must be >= 2, got ", classes);
  detail::Rng rng(seed, 0);
  std::vector<float> xy(static_cast<size_t>(2 * n));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  int64_t i = 0;
  for (int64_t k = 0; k < classes; ++k) {
    const int64_t count = n / classes + (k < n % classes ? 1 : 0);
    for (int64_t j = 0; j < count; ++j, ++i) {
      const double frac = count > 1 ? static_cast<double>(j) / (count - 1) : 0.0;  // linspace(0, 1, count)
      const double r = frac;
      double t = 4.0 * k + 4.0 * frac;  // linspace(4k, 4(k+1), count)
      if (noise > 0) t += noise * rng.normal();
      xy[2 * i] = static_cast<float>(r * std::sin(t));
      xy[2 * i + 1] = static_cast<float>(r * std::cos(t));
      labels[static_cast<size_t>(i)] = k;
    }
  }
  const std::vector<int64_t> perm = detail::permutation(n, seed, 1);
  return assemble(xy, labels, &perm);
}

}  // namespace ag::data
