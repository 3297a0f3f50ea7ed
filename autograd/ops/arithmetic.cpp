// Arithmetic: + - * / neg pow maximum minimum where clamp, and the comparisons.
// Each op: forward, then its derivative right below (see ops/record.hpp).
//
// Broadcasting in backward: a derivative may return a gradient of the broadcast shape;
// the engine sums it down to the input's shape (sum_to), so the formulas stay the
// textbook ones.
#include <algorithm>
#include <cmath>

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
using detail::save_if;
using detail::save_output;
using kernels::BinaryOp;

namespace {
Dtype arith_type(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": an operand is an undefined tensor");
  Dtype d = detail::result_type(a, b);
  AG_CHECK(d != kBool || std::string(op) == "mul" || std::string(op) == "add", op,
           ": not supported for bool tensors");
  return d == kBool ? kInt64 : d;
}

// Tensor (op) C++ scalar without materialising the scalar as a tensor when `a` is a
// contiguous floating tensor (the common case: x * 2, 1 - y).
Tensor scalar_forward(BinaryOp op, const Tensor& a, double s, bool scalar_first, const char* name) {
  AG_CHECK(a.defined(), name, ": the tensor operand is undefined");
  if (is_floating(a.dtype()) && a.is_contiguous()) {
    Tensor out = detail::make_tensor(a.shape(), a.dtype());
    dispatch(a.dtype(), [&]<class T>() {
      if constexpr (std::is_floating_point_v<T>) {
        const T v = static_cast<T>(s);
        const T* pa = static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data());
        T* po = out.data_ptr<T>();
        detail::elementwise_chunks(a.numel(), [&](int64_t b, int64_t e) {
          if (scalar_first) kernels::binary<T>(op, &v, 0, pa + b, 1, po + b, e - b);
          else kernels::binary<T>(op, pa + b, 1, &v, 0, po + b, e - b);
        });
      }
    });
    return out;
  }
  Tensor st = detail::scalar_like(s, a);
  Dtype d = detail::result_type(a, st);
  if (op == BinaryOp::Div && !is_floating(d)) d = kFloat32;
  if (d == kBool) d = kInt64;
  return scalar_first ? detail::binary_forward(op, st, a, d, name) : detail::binary_forward(op, a, st, d, name);
}
}  // namespace

// ---- add / sub -----------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(BinaryOp::Add, a, b, arith_type(a, b, "add"), "add");
  if (needs_grad(a, b))
    record(out, "AddBackward0", {a, b}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads {
      return {g, g};
    }, [](const tensor_list& t) { return detail::fw_add(t[0], t[1]); });
  return out;
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) { return alpha == 1.0 ? add(a, b) : add(a, b * alpha); }

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(BinaryOp::Sub, a, b, arith_type(a, b, "sub"), "sub");
  if (needs_grad(a, b))
    record(out, "SubBackward0", {a, b}, {}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {g, c.needs(1) ? -g : Tensor()};
    }, [](const tensor_list& t) { return t[0].defined() ? (t[1].defined() ? t[0] - t[1] : t[0]) : -t[1]; });
  return out;
}

Tensor operator+(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::Add, a, s, false, "add");
  if (needs_grad(a))
    record(out, "AddBackward0", {a}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads { return {g}; },
           [](const tensor_list& t) { return t[0]; });
  return out;
}
Tensor operator-(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::Sub, a, s, false, "sub");
  if (needs_grad(a))
    record(out, "SubBackward0", {a}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads { return {g}; },
           [](const tensor_list& t) { return t[0]; });
  return out;
}
Tensor operator-(double s, const Tensor& a) {
  Tensor out = scalar_forward(BinaryOp::Sub, a, s, true, "rsub");
  if (needs_grad(a))
    record(out, "RsubBackward1", {a}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads { return {-g}; },
           [](const tensor_list& t) { return -t[0]; });
  return out;
}
Tensor operator+(double s, const Tensor& a) { return a + s; }

// ---- mul / div -----------------------------------------------------------------------
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(BinaryOp::Mul, a, b, arith_type(a, b, "mul"), "mul");
  if (needs_grad(a, b))
    record(out, "MulBackward0", {a, b}, {save_if(needs_grad(b), a), save_if(needs_grad(a), b)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {c.needs(0) ? g * c.saved(1) : Tensor(), c.needs(1) ? g * c.saved(0) : Tensor()};
    }, [&a, &b](const tensor_list& t) {  // ta·b + a·tb
      return detail::fw_add(t[0].defined() ? t[0] * b : Tensor(), t[1].defined() ? a * t[1] : Tensor());
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Dtype d = arith_type(a, b, "div");
  Tensor out = detail::binary_forward(BinaryOp::Div, a, b, is_floating(d) ? d : kFloat32, "div");
  if (needs_grad(a, b))
    record(out, "DivBackward0", {a, b}, {save_if(needs_grad(b), a), save(b)},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor bb = c.saved(1);
      return {c.needs(0) ? g / bb : Tensor(), c.needs(1) ? -(g * c.saved(0)) / (bb * bb) : Tensor()};
    }, [&b, &out](const tensor_list& t) {  // (ta - out·tb) / b
      if (!t[1].defined()) return t[0] / b;
      return (t[0].defined() ? t[0] - out * t[1] : -(out * t[1])) / b;
    });
  return out;
}

Tensor operator*(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::Mul, a, s, false, "mul");
  if (needs_grad(a))
    record(out, "MulBackward0", {a}, {}, [s](const BackwardCtx&, const Tensor& g) -> Grads { return {g * s}; },
           [s](const tensor_list& t) { return t[0] * s; });
  return out;
}
Tensor operator*(double s, const Tensor& a) { return a * s; }
Tensor operator/(const Tensor& a, double s) {
  Tensor out = scalar_forward(BinaryOp::Div, a, s, false, "div");
  if (needs_grad(a))
    record(out, "DivBackward0", {a}, {}, [s](const BackwardCtx&, const Tensor& g) -> Grads { return {g / s}; },
           [s](const tensor_list& t) { return t[0] / s; });
  return out;
}
Tensor operator/(double s, const Tensor& a) {
  Tensor out = scalar_forward(BinaryOp::Div, a, s, true, "div");
  if (needs_grad(a))
    // PyTorch computes s / a as a.reciprocal() * s, hence its node name.
    record(out, "MulBackward0", {a}, {save(a), save_output()}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {-(g * c.saved(1)) / c.saved(0)};  // d(s/a)/da = -(s/a)/a
    }, [&a, &out](const tensor_list& t) { return -(t[0] * out) / a; });
  return out;
}

Tensor neg(const Tensor& a) {
  AG_CHECK(a.defined(), "neg: the operand is undefined");
  AG_CHECK(a.dtype() != kBool, "neg: negation of a bool tensor is not supported; use logical_not");
  Tensor out = is_floating(a.dtype()) ? detail::unary_forward(kernels::UnaryOp::Neg, a) : a * -1.0;
  if (needs_grad(a))
    record(out, "NegBackward0", {a}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads { return {-g}; },
           [](const tensor_list& t) { return -t[0]; });
  return out;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }

// ---- pow ---------------------------------------------------------------------------------
Tensor pow(const Tensor& a, double e) {
  AG_CHECK(a.defined(), "pow: the operand is undefined");
  Tensor out;
  if (e == 2.0 && is_floating(a.dtype())) out = detail::unary_forward(kernels::UnaryOp::Square, a);
  else if (e == 0.5 && is_floating(a.dtype())) out = detail::unary_forward(kernels::UnaryOp::Sqrt, a);
  else if (e == 1.0) out = a.clone();
  else out = scalar_forward(BinaryOp::Pow, a, e, false, "pow");
  if (needs_grad(a))
    record(out, "PowBackward0", {a}, {save(a)}, [e](const BackwardCtx& c, const Tensor& g) -> Grads {
      if (e == 0.0) return {zeros_like(g)};
      Tensor x = c.saved(0);
      if (e == 1.0) return {g};
      if (e == 2.0) return {g * (x * 2.0)};
      return {g * (pow(x, e - 1.0) * e)};
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Dtype d = arith_type(a, b, "pow");
  Tensor out = detail::binary_forward(BinaryOp::Pow, a, b, d, "pow");
  if (needs_grad(a, b))
    record(out, "PowBackward1", {a, b}, {save(a), save(b), save_output()},
           [](const BackwardCtx& c, const Tensor& g) -> Grads {
             Tensor x = c.saved(0), y = c.saved(1);
             Tensor ga, gb;
             if (c.needs(0)) {
               // y x^(y-1), taken as 0 where y == 0 (as PyTorch does): x^0 is constant,
               // but at x == 0 the formula gives 0 * 0^-1 = 0 * inf = NaN.
               Tensor t = g * y * pow(x, y - 1.0);
               ga = where(y == 0.0, zeros_like(t), t);
             }
             if (c.needs(1)) {
               // d(x^y)/dy = x^y ln x, taken as 0 where x == 0 and y >= 0 (the limit).
               Tensor t = g * c.saved(2) * log(x);
               gb = where((x == 0.0) & (y >= 0.0), zeros_like(t), t);
             }
             return {ga, gb};
           });
  return out;
}

Tensor pow(double base, const Tensor& e) {
  Tensor out = scalar_forward(BinaryOp::Pow, e, base, true, "pow");
  if (needs_grad(e)) {
    if (base == 0.0) {
      // d(0^e)/de = 0^e ln 0: taken as 0 where e >= 0 (as PyTorch does), where the plain
      // formula gives 0 * -inf = NaN.
      record(out, "PowBackward2", {e}, {save(e), save_output()}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
        Tensor t = g * c.saved(1) * -INFINITY;
        return {where(c.saved(0) >= 0.0, zeros_like(t), t)};
      });
    } else {
      record(out, "PowBackward2", {e}, {save_output()}, [base](const BackwardCtx& c, const Tensor& g) -> Grads {
        return {g * c.saved(0) * std::log(base)};
      });
    }
  }
  return out;
}

// ---- maximum / minimum ------------------------------------------------------------------
// Where both inputs are equal the gradient is split evenly between them, as in PyTorch.
Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(BinaryOp::Max, a, b, arith_type(a, b, "maximum"), "maximum");
  if (needs_grad(a, b))
    record(out, "MaximumBackward0", {a, b}, {save(a), save(b)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor x = c.saved(0), y = c.saved(1);
      Tensor share = (x > y).to(g.dtype()) + (x == y).to(g.dtype()) * 0.5;
      return {c.needs(0) ? g * share : Tensor(), c.needs(1) ? g * (1.0 - share) : Tensor()};
    });
  return out;
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor out = detail::binary_forward(BinaryOp::Min, a, b, arith_type(a, b, "minimum"), "minimum");
  if (needs_grad(a, b))
    record(out, "MinimumBackward0", {a, b}, {save(a), save(b)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor x = c.saved(0), y = c.saved(1);
      Tensor share = (x < y).to(g.dtype()) + (x == y).to(g.dtype()) * 0.5;
      return {c.needs(0) ? g * share : Tensor(), c.needs(1) ? g * (1.0 - share) : Tensor()};
    });
  return out;
}

// ---- where ---------------------------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  AG_CHECK(cond.defined() && a.defined() && b.defined(), "where: an operand is undefined");
  AG_CHECK(cond.dtype() == kBool, "where: expected a condition of dtype bool, got ", dtype_name(cond.dtype()));
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  const Dtype d = detail::result_type(a, b);
  const Tensor x = a.dtype() == d ? a : a.to(d), y = b.dtype() == d ? b : b.to(d);
  Tensor out = detail::make_tensor(shape, d);
  const Shape so = out.strides(), sc = detail::broadcast_strides(cond, shape), sa = detail::broadcast_strides(x, shape),
              sb = detail::broadcast_strides(y, shape);
  const bool* pc = static_cast<const bool*>(cond.unsafeGetTensorImpl()->raw_data());
  dispatch(d, [&]<class T>() {
    T* po = out.data_ptr<T>();
    const T* pa = static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data());
    const T* pb = static_cast<const T*>(y.unsafeGetTensorImpl()->raw_data());
    kernels::for_each_row<4>(shape, {so.data(), sc.data(), sa.data(), sb.data()}, [&](auto off, int64_t n, auto st) {
      for (int64_t i = 0; i < n; ++i)
        po[off[0] + i * st[0]] = pc[off[1] + i * st[1]] ? pa[off[2] + i * st[2]] : pb[off[3] + i * st[3]];
    });
  });
  if (needs_grad(a, b))
    record(out, "WhereBackward0", {a, b}, {save(cond)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor m = c.saved(0), z = zeros_like(g);
      return {c.needs(0) ? where(m, g, z) : Tensor(), c.needs(1) ? where(m, z, g) : Tensor()};
    });
  return out;
}

// ---- clamp -------------------------------------------------------------------------------
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  AG_CHECK(a.defined(), "clamp: the operand is undefined");
  AG_CHECK(lo || hi, "clamp: at least one of 'min' or 'max' must not be None");
  AG_CHECK(is_floating(a.dtype()), "clamp: expected a floating tensor, got ", dtype_name(a.dtype()));
  const double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  // min > max sets every element to max, as in PyTorch; the kernel tests `x < lo` first,
  // so it would have returned min for those elements. (The derivative's mask below stays
  // empty for min > max, also as in PyTorch.)
  const double kl = std::min(l, h);
  const Tensor x = a.contiguous();
  Tensor out = detail::make_tensor(a.shape(), a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>)
      kernels::clamp<T>(static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()), static_cast<T>(kl),
                        static_cast<T>(h), out.data_ptr<T>(), a.numel());
  });
  if (needs_grad(a))
    record(out, "ClampBackward1", {a}, {save(a)}, [l, h](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor xx = c.saved(0);
      return {where((xx >= l) & (xx <= h), g, zeros_like(g))};
    });
  return out;
}

// ---- comparisons (no derivative) --------------------------------------------------------
Tensor eq(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return detail::compare_forward(kernels::CompareOp::Ge, a, b, "ge"); }
Tensor operator==(const Tensor& a, const Tensor& b) { return eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
Tensor operator==(const Tensor& a, double s) { return eq(a, detail::scalar_like(s, a)); }
Tensor operator!=(const Tensor& a, double s) { return ne(a, detail::scalar_like(s, a)); }
Tensor operator<(const Tensor& a, double s) { return lt(a, detail::scalar_like(s, a)); }
Tensor operator<=(const Tensor& a, double s) { return le(a, detail::scalar_like(s, a)); }
Tensor operator>(const Tensor& a, double s) { return gt(a, detail::scalar_like(s, a)); }
Tensor operator>=(const Tensor& a, double s) { return ge(a, detail::scalar_like(s, a)); }

Tensor logical_not(const Tensor& a) { return eq(a, detail::scalar_like(0.0, a)); }
Tensor operator!(const Tensor& a) { return logical_not(a); }
Tensor operator&(const Tensor& a, const Tensor& b) {
  AG_CHECK(a.defined() && b.defined() && a.dtype() == kBool && b.dtype() == kBool,
           "logical_and: expected two bool tensors");
  return (a.to(kInt64) * b.to(kInt64)) != 0.0;
}
Tensor operator|(const Tensor& a, const Tensor& b) {
  AG_CHECK(a.defined() && b.defined() && a.dtype() == kBool && b.dtype() == kBool,
           "logical_or: expected two bool tensors");
  return (a.to(kInt64) + b.to(kInt64)) != 0.0;
}

}  // namespace ag
