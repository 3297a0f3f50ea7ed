// Linear algebra: dot, mm, bmm, addmm, matmul. Transposed operands are handed to GEMM
// as flags (no copy), so the backward formulas g·Bᵀ and Aᵀ·g cost no transposition.
#include "kernels/elementwise.hpp"
#include "kernels/gemm.hpp"
#include "ops/iter.hpp"
#include "ops/gemm_operand.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using detail::BackwardCtx;
using detail::Grads;
using detail::needs_grad;
using detail::record;
using detail::save;

namespace {

using Operand = detail::GemmOperand;
constexpr auto as_operand = detail::as_gemm_operand;

void check_matmul_dtypes(const Tensor& a, const Tensor& b, const char* op) {
  AG_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
  AG_CHECK(is_floating(a.dtype()) && a.dtype() == b.dtype(), op, ": expected two floating tensors of the same dtype, got ",
           dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

// c (contiguous M x N) = alpha * a @ b + beta * c
void gemm_into(const Tensor& a, const Tensor& b, Tensor& c, double alpha, double beta) {
  Operand A = as_operand(a), B = as_operand(b);
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  dispatch(c.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>)
      kernels::gemm<T>(A.trans, B.trans, M, N, K, static_cast<T>(alpha), static_cast<const T*>(A.ptr), A.ld,
                       static_cast<const T*>(B.ptr), B.ld, static_cast<T>(beta), c.data_ptr<T>(), N);
  });
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes(a, b, "mm");
  AG_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()));
  AG_CHECK(a.size(1) == b.size(0), "mm: mat1 and mat2 shapes cannot be multiplied (", a.size(0), "x", a.size(1),
           " and ", b.size(0), "x", b.size(1), ")");
  Tensor out = detail::make_tensor({a.size(0), b.size(1)}, a.dtype());
  gemm_into(a, b, out, 1.0, 0.0);
  if (needs_grad(a, b))
    record(out, "MmBackward0", {a, b}, {save(a), save(b)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {c.needs(0) ? mm(g, c.saved(1).t()) : Tensor(), c.needs(1) ? mm(c.saved(0).t(), g) : Tensor()};
    }, [&a, &b](const tensor_list& t) {  // ta·b + a·tb
      return detail::fw_add(t[0].defined() ? mm(t[0], b) : Tensor(), t[1].defined() ? mm(a, t[1]) : Tensor());
    });
  return out;
}

Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, double beta, double alpha) {
  check_matmul_dtypes(a, b, "addmm");
  AG_CHECK(bias.defined() && bias.dtype() == a.dtype(), "addmm: bias must be a tensor of dtype ", dtype_name(a.dtype()));
  AG_CHECK(a.dim() == 2 && b.dim() == 2, "addmm: expected 2-D matrices, got shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()));
  AG_CHECK(a.size(1) == b.size(0), "addmm: mat1 and mat2 shapes cannot be multiplied (", a.size(0), "x", a.size(1),
           " and ", b.size(0), "x", b.size(1), ")");
  const Shape shape{a.size(0), b.size(1)};
  AG_CHECK(broadcast_shapes(bias.shape(), shape, "addmm") == shape, "addmm: bias of shape ", shape_str(bias.shape()),
           " cannot be broadcast to the product's shape ", shape_str(shape));
  Tensor out = detail::make_tensor(shape, a.dtype());
  detail::copy_into(out, bias);
  gemm_into(a, b, out, alpha, beta);
  if (needs_grad(bias, a, b))
    record(out, "AddmmBackward0", {bias, a, b}, {save(a), save(b)},
           [alpha, beta](const BackwardCtx& c, const Tensor& g) -> Grads {
             Tensor ga, gb;
             if (c.needs(1)) ga = alpha == 1.0 ? mm(g, c.saved(1).t()) : mm(g, c.saved(1).t()) * alpha;
             if (c.needs(2)) gb = alpha == 1.0 ? mm(c.saved(0).t(), g) : mm(c.saved(0).t(), g) * alpha;
             return {c.needs(0) ? (beta == 1.0 ? g : g * beta) : Tensor(), ga, gb};
           },
           [&a, &b, alpha, beta](const tensor_list& t) {  // beta·tbias + alpha·(ta·b + a·tb)
             Tensor p = detail::fw_add(t[1].defined() ? mm(t[1], b) : Tensor(), t[2].defined() ? mm(a, t[2]) : Tensor());
             if (p.defined() && alpha != 1.0) p = p * alpha;
             Tensor q = t[0].defined() && beta != 1.0 ? t[0] * beta : t[0];
             return detail::fw_add(p, q);
           });
  return out;
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes(a, b, "dot");
  AG_CHECK(a.dim() == 1 && b.dim() == 1, "dot: 1D tensors expected, but got ", a.dim(), "D and ", b.dim(), "D tensors");
  AG_CHECK(a.numel() == b.numel(), "dot: inconsistent tensor size, expected tensor [", a.numel(),
           "] and src [", b.numel(), "] to have the same number of elements, but got ", a.numel(), " and ", b.numel(),
           " elements respectively");
  const Tensor x = a.contiguous(), y = b.contiguous();
  Tensor out = detail::make_tensor({}, a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>)
      *out.data_ptr<T>() = kernels::dot<T>(static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()),
                                           static_cast<const T*>(y.unsafeGetTensorImpl()->raw_data()), x.numel());
  });
  if (needs_grad(a, b))
    record(out, "DotBackward0", {a, b}, {save(a), save(b)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {c.needs(0) ? c.saved(1) * g : Tensor(), c.needs(1) ? c.saved(0) * g : Tensor()};
    });
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes(a, b, "bmm");
  AG_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()));
  AG_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  AG_CHECK(a.size(2) == b.size(1), "bmm: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " cannot be multiplied (", a.size(1), "x", a.size(2), " and ", b.size(1), "x", b.size(2), ")");
  Tensor out = detail::make_tensor({a.size(0), a.size(1), b.size(2)}, a.dtype());
  {
    NoGradGuard ng;  // the per-batch views below are plumbing, not graph
    for (int64_t i = 0; i < a.size(0); ++i) {
      Tensor o = out.select(0, i);
      gemm_into(a.select(0, i), b.select(0, i), o, 1.0, 0.0);
    }
  }
  if (needs_grad(a, b))
    record(out, "BmmBackward0", {a, b}, {save(a), save(b)}, [](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {c.needs(0) ? bmm(g, c.saved(1).transpose(1, 2)) : Tensor(),
              c.needs(1) ? bmm(c.saved(0).transpose(1, 2), g) : Tensor()};
    }, [&a, &b](const tensor_list& t) {  // ta·b + a·tb
      return detail::fw_add(t[0].defined() ? bmm(t[0], b) : Tensor(), t[1].defined() ? bmm(a, t[1]) : Tensor());
    });
  return out;
}

// matmul composes the ops above, so its derivative comes from theirs.
Tensor matmul(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes(a, b, "matmul");
  const int64_t da = a.dim(), db = b.dim();
  AG_CHECK(da > 0 && db > 0, "matmul: both arguments need to be at least 1D, but they are ", da, "D and ", db, "D");
  if (da == 1 && db == 1) return dot(a, b);
  if (da == 2 && db == 2) return mm(a, b);
  if (da == 1 && db == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (da == 2 && db == 1) return mm(a, b.unsqueeze(1)).squeeze(1);
  if (da >= 3 && db <= 2) {
    // Fold the batch into the rows of one mm.
    Tensor bb = db == 1 ? b.unsqueeze(1) : b;
    AG_CHECK(a.size(-1) == bb.size(0), "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
             " cannot be multiplied");
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    out_shape.push_back(bb.size(1));
    Tensor r = mm(a.reshape({-1, a.size(-1)}), bb).reshape(out_shape);
    return db == 1 ? r.squeeze(-1) : r;
  }
  // General batched case: broadcast the batch dims, then bmm.
  Tensor x = da == 1 ? a.unsqueeze(0) : a, y = db == 1 ? b.unsqueeze(1) : b;
  AG_CHECK(x.size(-1) == y.size(-2), "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
           " cannot be multiplied (", x.size(-2), "x", x.size(-1), " and ", y.size(-2), "x", y.size(-1), ")");
  Shape bx(x.shape().begin(), x.shape().end() - 2), by(y.shape().begin(), y.shape().end() - 2);
  Shape batch = broadcast_shapes(bx, by, "matmul");
  int64_t nb = 1;
  for (int64_t d : batch) nb *= d;
  Shape ex = batch, ey = batch;
  ex.push_back(x.size(-2)); ex.push_back(x.size(-1));
  ey.push_back(y.size(-2)); ey.push_back(y.size(-1));
  Tensor r = bmm(x.expand(ex).reshape({nb, x.size(-2), x.size(-1)}), y.expand(ey).reshape({nb, y.size(-2), y.size(-1)}));
  Shape out_shape = batch;
  if (da > 1) out_shape.push_back(x.size(-2));
  if (db > 1) out_shape.push_back(y.size(-1));
  return r.reshape(out_shape);
}

}  // namespace ag
