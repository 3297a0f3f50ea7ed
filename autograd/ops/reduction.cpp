// Reductions: sum mean max min argmax norm all any, and sum_to (the adjoint of broadcasting).
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/loops.hpp"
#include "ops/iter.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using detail::BackwardCtx;
using detail::Grads;
using detail::needs_grad;
using detail::record;
using detail::save;
using detail::save_output;

namespace {

// Which dims of an n-dim tensor a dims list names (empty list: all of them).
std::vector<bool> reduce_mask(const Shape& dims, int64_t ndim, const char* op) {
  std::vector<bool> m(static_cast<size_t>(ndim), dims.empty());
  for (int64_t d : dims) {
    int64_t w = detail::wrap_dim(d, ndim, op);
    if (ndim == 0) continue;
    AG_CHECK(!m[w], op, ": dim ", d, " appears multiple times in the list of dims");
    m[w] = true;
  }
  return m;
}

Shape kept_shape(const Shape& s, const std::vector<bool>& m) {
  Shape k = s;
  for (size_t i = 0; i < s.size(); ++i)
    if (m[i]) k[i] = 1;
  return k;
}

Shape squeezed_shape(const Shape& s, const std::vector<bool>& m) {
  Shape k;
  for (size_t i = 0; i < s.size(); ++i)
    if (!m[i]) k.push_back(s[i]);
  return k;
}

// Sum over the masked dims into a tensor of the kept shape; no autograd.
Tensor sum_kernel(const Tensor& a0, const std::vector<bool>& m) {
  const Tensor a = a0.dtype() == kBool ? a0.to(kInt64) : a0;
  Tensor out = zeros(kept_shape(a.shape(), m), TensorOptions(a.dtype()));
  Shape so = out.strides();
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) so[i] = 0;
  const Shape sa = a.strides();
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      T* po = out.data_ptr<T>();
      const T* pa = static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data());
      kernels::for_each_row<2>(a.shape(), {so.data(), sa.data()}, [&](auto off, int64_t n, auto st) {
        T* o = po + off[0];
        const T* x = pa + off[1];
        if constexpr (std::is_floating_point_v<T>) {
          if (st[0] == 0 && st[1] == 1) { *o += kernels::sum<T>(x, n); return; }
          if (st[0] == 1 && st[1] == 1) { kernels::binary<T>(kernels::BinaryOp::Add, o, 1, x, 1, o, n); return; }
        }
        if constexpr (std::is_integral_v<T>) {
          // int64 sums wrap around as PyTorch's do; a plain += would be undefined behaviour
          // on overflow (found by fuzz_ops).
          using U = std::make_unsigned_t<T>;
          for (int64_t i = 0; i < n; ++i)
            o[i * st[0]] = static_cast<T>(static_cast<U>(o[i * st[0]]) + static_cast<U>(x[i * st[1]]));
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] += x[i * st[1]];
        }
      });
    }
  });
  return out;
}

// g (of the reduced shape) broadcast back over the input's shape.
Tensor expand_back(const Tensor& g, const Shape& in_shape, const std::vector<bool>& m, bool keepdim) {
  Tensor gk = keepdim ? g : g.reshape(kept_shape(in_shape, m));
  return gk.expand(in_shape);
}

Tensor sum_impl(const Tensor& a, const Shape& dims, bool keepdim, const char* op) {
  AG_CHECK(a.defined(), op, ": the operand is undefined");
  auto m = reduce_mask(dims, a.dim(), op);
  Tensor out;
  if (dims.empty() && !keepdim && a.is_contiguous() && is_floating(a.dtype())) {
    out = detail::make_tensor({}, a.dtype());
    dispatch(a.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>)
        *out.data_ptr<T>() = kernels::sum<T>(static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data()), a.numel());
    });
  } else {
    out = sum_kernel(a, m);
    if (!keepdim) out = out.reshape(squeezed_shape(a.shape(), m));
  }
  if (needs_grad(a)) {
    Shape in_shape = a.shape();
    record(out, dims.empty() ? "SumBackward0" : "SumBackward1", {a}, {}, [in_shape, m, keepdim](const BackwardCtx&, const Tensor& g) -> Grads {
      return {expand_back(g, in_shape, m, keepdim)};
    }, [&dims, keepdim, op](const tensor_list& t) { return sum_impl(t[0], dims, keepdim, op); });
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& a) { return sum_impl(a, {}, false, "sum"); }
Tensor sum(const Tensor& a, int64_t dim, bool keepdim) { return sum_impl(a, {dim}, keepdim, "sum"); }
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) {
  AG_CHECK(!dims.empty(), "sum: the list of dims is empty; use sum() to reduce every dimension");
  return sum_impl(a, dims, keepdim, "sum");
}

namespace {
Tensor mean_impl(const Tensor& a, const Shape& dims, bool keepdim) {
  AG_CHECK(a.defined(), "mean: the operand is undefined");
  AG_CHECK(is_floating(a.dtype()), "mean: could not infer output dtype; input dtype must be floating, got ",
           dtype_name(a.dtype()));
  auto m = reduce_mask(dims, a.dim(), "mean");
  int64_t count = 1;
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) count *= a.shape()[i];
  AG_CHECK(count > 0, "mean: cannot take the mean over zero elements (shape ", shape_str(a.shape()), ")");
  Tensor s;
  Tensor out;
  {
    NoGradGuard ng;
    detail::FwSuspend fs;  // the tangent comes from mean's own rule below
    s = sum_impl(a, dims, keepdim, "mean");
    out = s / static_cast<double>(count);
  }
  if (needs_grad(a)) {
    Shape in_shape = a.shape();
    record(out, dims.empty() ? "MeanBackward0" : "MeanBackward1", {a}, {}, [in_shape, m, keepdim, count](const BackwardCtx&, const Tensor& g) -> Grads {
      return {expand_back(g / static_cast<double>(count), in_shape, m, keepdim)};
    }, [&dims, keepdim, count](const tensor_list& t) {
      return sum_impl(t[0], dims, keepdim, "mean") / static_cast<double>(count);
    });
  }
  return out;
}
}  // namespace

Tensor mean(const Tensor& a) { return mean_impl(a, {}, false); }
Tensor mean(const Tensor& a, int64_t dim, bool keepdim) { return mean_impl(a, {dim}, keepdim); }
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) {
  AG_CHECK(!dims.empty(), "mean: the list of dims is empty; use mean() to reduce every dimension");
  return mean_impl(a, dims, keepdim);
}

// ---- max / min over everything -------------------------------------------------------
namespace {
Tensor extreme_all(const Tensor& a, bool is_max, const char* op) {
  AG_CHECK(a.defined(), op, ": the operand is undefined");
  AG_CHECK(a.numel() > 0, op, "(): expected a non-empty tensor (shape ", shape_str(a.shape()),
           "); specify a dim to reduce over");
  const Tensor x = a.contiguous();
  Tensor out = detail::make_tensor({}, a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    const T* p = static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data());
    if constexpr (std::is_floating_point_v<T>) {
      *out.data_ptr<T>() = is_max ? kernels::max<T>(p, x.numel()) : kernels::min<T>(p, x.numel());
    } else {
      T r = p[0];
      for (int64_t i = 1; i < x.numel(); ++i) r = is_max ? (p[i] > r ? p[i] : r) : (p[i] < r ? p[i] : r);
      *out.data_ptr<T>() = r;
    }
  });
  if (needs_grad(a))
    record(out, is_max ? "MaxBackward1" : "MinBackward1", {a}, {save(a), save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
             // The gradient is shared evenly by all elements equal to the extreme.
             Tensor mask = (c.saved(0) == c.saved(1)).to(g.dtype());
             return {mask * (g / sum(mask))};
           });
  return out;
}

// Values and int64 indices of the extreme along `dim` (the first one on ties).
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& a, int64_t dim0, bool keepdim, bool is_max, const char* op) {
  AG_CHECK(a.defined(), op, ": the operand is undefined");
  const int64_t dim = detail::wrap_dim(dim0, a.dim(), op);
  const Tensor x = a.contiguous();
  const int64_t size = a.dim() == 0 ? 1 : a.shape()[dim];
  AG_CHECK(size > 0, op, ": cannot reduce over dimension ", dim0, " of size 0 (shape ", shape_str(a.shape()), ")");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= a.shape()[i];
  for (int64_t i = dim + 1; i < a.dim(); ++i) inner *= a.shape()[i];
  Shape kshape = a.shape();
  if (a.dim() > 0) kshape[dim] = 1;
  Tensor values = detail::make_tensor(kshape, a.dtype());
  Tensor indices = detail::make_tensor(kshape, kInt64);
  int64_t* pi = indices.data_ptr<int64_t>();
  dispatch(a.dtype(), [&]<class T>() {
    const T* p = static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data());
    T* pv = values.data_ptr<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        const T* base = p + o * size * inner + in;
        T best = base[0];
        int64_t bi = 0;
        for (int64_t k = 1; k < size; ++k) {
          T v = base[k * inner];
          if (best != best) break;  // NaN wins, as in PyTorch
          if (v != v || (is_max ? v > best : v < best)) { best = v; bi = k; }
        }
        pv[o * inner + in] = best;
        pi[o * inner + in] = bi;
      }
  });
  if (!keepdim && a.dim() > 0) {
    values = values.squeeze(dim);
    indices = indices.squeeze(dim);
  }
  if (needs_grad(a)) {
    Shape in_shape = a.shape();
    record(values, is_max ? "MaxBackward0" : "MinBackward0", {a}, {save(indices)},
           [in_shape, dim, keepdim](const BackwardCtx& c, const Tensor& g) -> Grads {
             Tensor idx = c.saved(0);
             Tensor gk = g, ik = idx;
             if (!keepdim && !in_shape.empty()) { gk = g.unsqueeze(dim); ik = idx.unsqueeze(dim); }
             if (in_shape.empty()) return {g};
             Shape pos_shape(in_shape.size(), 1);
             pos_shape[dim] = in_shape[dim];
             Tensor pos = arange(0.0, static_cast<double>(in_shape[dim]), 1.0, TensorOptions(kInt64)).reshape(pos_shape);
             Tensor mask = pos == ik;  // broadcasts to the input's shape
             return {where(mask, gk, zeros({}, TensorOptions(g.dtype())))};
           });
  }
  return {values, indices};
}
}  // namespace

Tensor max(const Tensor& a) { return extreme_all(a, true, "max"); }
Tensor min(const Tensor& a) { return extreme_all(a, false, "min"); }
std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim) { return extreme_dim(a, dim, keepdim, true, "max"); }
std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim) { return extreme_dim(a, dim, keepdim, false, "min"); }

Tensor argmax(const Tensor& a) {
  AG_CHECK(a.defined() && a.numel() > 0, "argmax: expected a non-empty tensor");
  NoGradGuard ng;
  return std::get<1>(extreme_dim(a.reshape({-1}), 0, false, true, "argmax"));
}
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard ng;
  return std::get<1>(extreme_dim(a, dim, keepdim, true, "argmax"));
}

// ---- norm ------------------------------------------------------------------------------
Tensor norm(const Tensor& a) {
  AG_CHECK(a.defined(), "norm: the operand is undefined");
  AG_CHECK(is_floating(a.dtype()), "norm: expected a floating tensor, got ", dtype_name(a.dtype()));
  const Tensor x = a.contiguous();
  Tensor out = detail::make_tensor({}, a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>)
      *out.data_ptr<T>() =
          std::sqrt(kernels::sum_squares<T>(static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()), x.numel()));
  });
  if (needs_grad(a))
    record(out, "NormBackward1", {a}, {save(a), save_output()}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor n = c.saved(1);
      // x / ||x||, taken as 0 at x = 0 (a subgradient), as PyTorch does.
      Tensor safe = where(n == 0.0, ones_like(n), n);
      return {c.saved(0) * (g / safe)};
    });
  return out;
}

// ---- all / any ---------------------------------------------------------------------------
Tensor all(const Tensor& a) {
  AG_CHECK(a.defined(), "all: the operand is undefined");
  Tensor nz = a != 0.0;
  const Tensor c = nz.contiguous();
  const bool* p = c.data_ptr<bool>();
  bool r = true;
  for (int64_t i = 0; i < c.numel() && r; ++i) r = p[i];
  return scalar_tensor(r ? 1.0 : 0.0, TensorOptions(kBool));
}

Tensor any(const Tensor& a) {
  AG_CHECK(a.defined(), "any: the operand is undefined");
  Tensor nz = a != 0.0;
  const Tensor c = nz.contiguous();
  const bool* p = c.data_ptr<bool>();
  bool r = false;
  for (int64_t i = 0; i < c.numel() && !r; ++i) r = p[i];
  return scalar_tensor(r ? 1.0 : 0.0, TensorOptions(kBool));
}

// ---- sum_to ------------------------------------------------------------------------------
Tensor sum_to(const Tensor& a, const Shape& shape) {
  AG_CHECK(a.defined(), "sum_to: the operand is undefined");
  if (a.shape() == shape) return a;
  const Shape& s = a.shape();
  AG_CHECK(shape.size() <= s.size(), "sum_to: shape ", shape_str(s), " cannot be summed to ", shape_str(shape));
  const size_t lead = s.size() - shape.size();
  Shape dims;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i < lead) { dims.push_back(static_cast<int64_t>(i)); continue; }
    const int64_t want = shape[i - lead];
    if (want == s[i]) continue;
    AG_CHECK(want == 1, "sum_to: shape ", shape_str(s), " cannot be summed to ", shape_str(shape));
    dims.push_back(static_cast<int64_t>(i));
  }
  Tensor r = dims.empty() ? a : sum(a, dims, true);
  return r.reshape(shape);
}

}  // namespace ag
