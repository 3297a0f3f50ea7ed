// Printing in PyTorch's format: tensor([0., 4., 8., 12.]), tensor(28., grad_fn=<MulBackward0>),
// tensor([True, True]), nested brackets for matrices, "..." past 1000 elements.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <vector>

#include "ag/autograd.hpp"
#include "tensor/make.hpp"

namespace ag {

namespace {

constexpr int64_t kThreshold = 1000;  // summarise tensors with more elements
constexpr int64_t kEdge = 3;          // elements kept at each end when summarising

enum class Mode { Int, Fixed, Sci };

// PyTorch's _Formatter: integers print as "3.", otherwise 4 decimals, or scientific
// notation when the finite nonzero magnitudes span more than 1000x or leave [1e-4, 1e8].
Mode float_mode(const std::vector<double>& values) {
  bool all_int = true;
  double lo = INFINITY, hi = 0;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    if (std::floor(v) != v) all_int = false;
    const double a = std::fabs(v);
    if (a == 0) continue;
    lo = std::min(lo, a);
    hi = std::max(hi, a);
  }
  if (all_int) return hi > 1e8 ? Mode::Sci : Mode::Int;
  if (hi == 0) return Mode::Fixed;
  if (hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4) return Mode::Sci;
  return Mode::Fixed;
}

std::string fmt_value(double v, Dtype d, Mode m) {
  if (d == kBool) return v != 0 ? "True" : "False";
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  switch (m) {
    case Mode::Int: std::snprintf(buf, sizeof buf, "%.0f.", v); break;
    case Mode::Fixed: std::snprintf(buf, sizeof buf, "%.4f", v); break;
    case Mode::Sci: std::snprintf(buf, sizeof buf, "%.4e", v); break;
  }
  std::string s = buf;
  if (s == "-0." ) s = "-0.";
  return s;
}

// Element i (row-major) of t; int64 exactly (through a double, values past 2^53 would
// change, and 2^63 - 1 would round to 2^63, whose conversion back is undefined).
std::string fmt_element(const Tensor& t, int64_t i, Mode m) {
  if (t.dtype() == kInt64) return std::to_string(detail::read_int64(t, i));
  return fmt_value(detail::read_as_double(t, i), t.dtype(), m);
}

// Prints t[offset...] from `dim` on. With `shown` set, prints nothing and collects the
// values that would be printed instead (the format is chosen from those, as PyTorch
// formats a summarised tensor from its summarised data).
void print_rec(std::ostream& os, const Tensor& t, int64_t dim, int64_t offset, int indent, bool summarise, Mode m,
               std::vector<double>* shown = nullptr) {
  const Shape& sh = t.shape();
  const int64_t n = sh[dim];
  int64_t stride = 1;
  for (size_t d = dim + 1; d < sh.size(); ++d) stride *= sh[d];
  os << '[';
  auto index_list = [&]() {
    std::vector<int64_t> idx;
    if (summarise && n > 2 * kEdge) {
      for (int64_t i = 0; i < kEdge; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdge; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }();
  const bool last = dim + 1 == static_cast<int64_t>(sh.size());
  for (size_t k = 0; k < index_list.size(); ++k) {
    if (k) {
      os << ',';
      if (last) {
        os << ' ';
      } else {
        for (size_t d = dim + 1; d < sh.size(); ++d) os << '\n';
        os << std::string(static_cast<size_t>(indent + 1), ' ');
      }
    }
    const int64_t i = index_list[k];
    if (i < 0) {
      os << "...";
      continue;
    }
    if (last && shown) shown->push_back(detail::read_as_double(t, offset + i));
    else if (last) os << fmt_element(t, offset + i, m);
    else print_rec(os, t, dim + 1, offset + i * stride, indent + 1, summarise, m, shown);
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "[ Tensor (undefined) ]";
  const bool summarise = t.numel() > kThreshold;
  Mode m = Mode::Int;
  if (is_floating(t.dtype())) {
    std::vector<double> shown;
    if (t.dim() == 0) {
      shown.push_back(detail::read_as_double(t, 0));
    } else if (t.numel() > 0) {
      std::ostringstream sink;
      print_rec(sink, t, 0, 0, 7, summarise, Mode::Int, &shown);
    }
    m = float_mode(shown);
  }
  std::ostringstream s;
  s << "tensor(";
  if (t.dim() == 0) {
    s << fmt_element(t, 0, m);
  } else if (t.numel() == 0) {
    s << "[]";
    if (t.dim() > 1) {
      s << ", size=(";
      for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
      s << ")";
    }
  } else {
    print_rec(s, t, 0, 0, 7, summarise, m);
  }
  // PyTorch names float64 always; int64 and bool show in their elements, so they are
  // named only when there are none (an empty tensor).
  if (t.dtype() == kFloat64 || (t.numel() == 0 && t.dtype() != kFloat32))
    s << ", dtype=torch." << dtype_name(t.dtype());
  if (t.grad_fn()) s << ", grad_fn=<" << t.grad_fn()->name() << ">";
  else if (t.requires_grad()) s << ", requires_grad=True";
  s << ")";
  return os << s.str();
}

std::string to_string(const Tensor& t) {
  std::ostringstream s;
  s << t;
  return s.str();
}

}  // namespace ag
