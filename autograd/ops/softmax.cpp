// softmax and log_softmax along a dimension, with derivatives written in ag ops:
//   softmax:     dx = y * (g - sum(g * y))
//   log_softmax: dx = g - exp(y) * sum(g)
#include "kernels/softmax.hpp"
#include "ops/iter.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using detail::BackwardCtx;
using detail::Grads;
using detail::needs_grad;
using detail::record;
using detail::save_output;

namespace {
Tensor softmax_forward(const Tensor& a, int64_t dim, bool log, const char* op) {
  AG_CHECK(a.defined(), op, ": the operand is undefined");
  AG_CHECK(is_floating(a.dtype()), op, ": expected a floating tensor, got ", dtype_name(a.dtype()));
  dim = detail::wrap_dim(dim, a.dim(), op);
  // Move `dim` last so every row is contiguous, then move it back.
  const bool last = a.dim() == 0 || dim == a.dim() - 1;
  const Tensor x = last ? a.contiguous() : a.transpose(dim, -1).contiguous();
  Tensor y = detail::make_tensor(x.shape(), x.dtype());
  const int64_t cols = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>)
      kernels::softmax_rows<T>(static_cast<const T*>(x.unsafeGetTensorImpl()->raw_data()), y.data_ptr<T>(), rows, cols, log);
  });
  return last ? y : y.transpose(dim, -1).contiguous();
}
}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  Tensor out;
  {
    NoGradGuard ng;
    out = softmax_forward(a, dim, false, "softmax");
  }
  if (needs_grad(a))
    record(out, "SoftmaxBackward0", {a}, {save_output()}, [dim](const BackwardCtx& c, const Tensor& g) -> Grads {
      Tensor y = c.saved(0);
      return {y * (g - sum(g * y, dim, true))};
    });
  return out;
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  Tensor out;
  {
    NoGradGuard ng;
    out = softmax_forward(a, dim, true, "log_softmax");
  }
  if (needs_grad(a))
    record(out, "LogSoftmaxBackward0", {a}, {save_output()}, [dim](const BackwardCtx& c, const Tensor& g) -> Grads {
      return {g - exp(c.saved(0)) * sum(g, dim, true)};
    });
  return out;
}

}  // namespace ag
