#include "ops/iter.hpp"

#include <cmath>

#include "kernels/loops.hpp"
#include "tensor/make.hpp"

namespace ag::detail {

namespace {
int category(Dtype d) { return d == kBool ? 0 : d == kInt64 ? 1 : 2; }

void check_defined(const Tensor& t, const char* op) {
  AG_CHECK(t.defined(), op, ": an operand is an undefined tensor");
}
}  // namespace

Dtype result_type(const Tensor& a, const Tensor& b) {
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote(a.dtype(), b.dtype());
  const Tensor& dimmed = a0 ? b : a;
  const Tensor& scalar = a0 ? a : b;
  if (category(scalar.dtype()) <= category(dimmed.dtype())) return dimmed.dtype();
  return scalar.dtype();
}

Tensor scalar_like(double v, const Tensor& like) {
  Dtype d = like.dtype();
  if (!is_floating(d)) d = (std::floor(v) == v && std::isfinite(v)) ? kInt64 : kFloat32;
  return scalar_tensor(v, TensorOptions(d));
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape s(shape.size(), 0);
  const Shape& ts = t.shape();
  const Shape& tst = t.strides();
  const size_t off = shape.size() - ts.size();
  for (size_t i = 0; i < ts.size(); ++i) s[off + i] = ts[i] == 1 ? 0 : tst[i];
  return s;
}

Tensor binary_forward(kernels::BinaryOp op, const Tensor& a0, const Tensor& b0, Dtype dtype, const char* name) {
  check_defined(a0, name);
  check_defined(b0, name);
  const Shape shape = broadcast_shapes(a0.shape(), b0.shape(), name);
  const Tensor a = a0.dtype() == dtype ? a0 : a0.to(dtype);
  const Tensor b = b0.dtype() == dtype ? b0 : b0.to(dtype);
  Tensor out = make_tensor(shape, dtype);
  const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape), so = out.strides();
  dispatch(dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail(name, ": not supported for bool tensors");
    } else {
      const T* pa = static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data());
      const T* pb = static_cast<const T*>(b.unsafeGetTensorImpl()->raw_data());
      T* po = out.data_ptr<T>();
      kernels::for_each_row<3>(shape, {so.data(), sa.data(), sb.data()}, [&](auto off, int64_t n, auto st) {
        if ((st[1] == 1 || st[1] == 0) && (st[2] == 1 || st[2] == 0) && (st[0] == 1)) {
          elementwise_chunks(n, [&](int64_t b, int64_t e) {
            kernels::binary<T>(op, pa + off[1] + b * st[1], st[1], pb + off[2] + b * st[2], st[2], po + off[0] + b, e - b);
          });
        } else {
          for (int64_t i = 0; i < n; ++i)
            kernels::binary<T>(op, pa + off[1] + i * st[1], 0, pb + off[2] + i * st[2], 0, po + off[0] + i * st[0], 1);
        }
      });
    }
  });
  return out;
}

void binary_inplace(kernels::BinaryOp op, const Tensor& self, const Tensor& other0, const char* name) {
  check_defined(self, name);
  check_defined(other0, name);
  const Shape shape = broadcast_shapes(self.shape(), other0.shape(), name);
  AG_CHECK(shape == self.shape(), name, ": output with shape ", shape_str(self.shape()),
           " doesn't match the broadcast shape ", shape_str(shape));
  const Dtype dtype = self.dtype();
  AG_CHECK(promote(dtype, other0.dtype()) == dtype || other0.dim() == 0, name, ": result type ",
           dtype_name(promote(dtype, other0.dtype())), " can't be cast to the desired output type ", dtype_name(dtype));
  const Tensor other = other0.dtype() == dtype ? other0 : other0.to(dtype);
  const Shape so = self.strides(), sb = broadcast_strides(other, shape);
  dispatch(dtype, [&]<class T>() {
    if constexpr (std::is_same_v<T, bool>) {
      fail(name, ": not supported for bool tensors");
    } else {
      T* po = static_cast<T*>(self.unsafeGetTensorImpl()->raw_data());
      const T* pb = static_cast<const T*>(other.unsafeGetTensorImpl()->raw_data());
      kernels::for_each_row<2>(shape, {so.data(), sb.data()}, [&](auto off, int64_t n, auto st) {
        if (st[0] == 1 && (st[1] == 1 || st[1] == 0)) {
          kernels::binary<T>(op, po + off[0], 1, pb + off[1], st[1], po + off[0], n);
        } else {
          for (int64_t i = 0; i < n; ++i)
            kernels::binary<T>(op, po + off[0] + i * st[0], 0, pb + off[1] + i * st[1], 0, po + off[0] + i * st[0], 1);
        }
      });
    }
  });
  self.unsafeGetTensorImpl()->storage->bump_version();
}

Tensor unary_forward(kernels::UnaryOp op, const Tensor& a0) {
  check_defined(a0, "unary op");
  const Tensor a = a0.is_contiguous() ? a0 : a0.contiguous();
  Tensor out = make_tensor(a.shape(), a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    if constexpr (std::is_floating_point_v<T>) {
      const T* pa = static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data());
      T* po = out.data_ptr<T>();
      elementwise_chunks(a.numel(), [&](int64_t b, int64_t e) { kernels::unary<T>(op, pa + b, po + b, e - b); });
    } else {
      fail("this op is defined for floating tensors only, got ", dtype_name(a.dtype()));
    }
  });
  return out;
}

Tensor compare_forward(kernels::CompareOp op, const Tensor& a0, const Tensor& b0, const char* name) {
  check_defined(a0, name);
  check_defined(b0, name);
  const Shape shape = broadcast_shapes(a0.shape(), b0.shape(), name);
  const Dtype dtype = result_type(a0, b0);
  const Tensor a = a0.dtype() == dtype ? a0 : a0.to(dtype);
  const Tensor b = b0.dtype() == dtype ? b0 : b0.to(dtype);
  Tensor out = make_tensor(shape, kBool);
  const Shape sa = broadcast_strides(a, shape), sb = broadcast_strides(b, shape), so = out.strides();
  dispatch(dtype, [&]<class T>() {
    const T* pa = static_cast<const T*>(a.unsafeGetTensorImpl()->raw_data());
    const T* pb = static_cast<const T*>(b.unsafeGetTensorImpl()->raw_data());
    bool* po = out.data_ptr<bool>();
    kernels::for_each_row<3>(shape, {so.data(), sa.data(), sb.data()}, [&](auto off, int64_t n, auto st) {
      kernels::compare<T>(op, pa + off[1], st[1], pb + off[2], st[2], po + off[0], n);
    });
  });
  return out;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  AG_CHECK(dst.defined() && src.defined(), "copy_: an operand is undefined");
  const Shape shape = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  AG_CHECK(shape == dst.shape(), "copy_: the source of shape ", shape_str(src.shape()),
           " cannot be broadcast to the destination of shape ", shape_str(dst.shape()));
  const Shape sd = dst.strides(), ss = broadcast_strides(src, shape);
  dispatch(dst.dtype(), [&]<class D>() {
    D* pd = static_cast<D*>(dst.unsafeGetTensorImpl()->raw_data());
    dispatch(src.dtype(), [&]<class S>() {
      const S* ps = static_cast<const S*>(src.unsafeGetTensorImpl()->raw_data());
      kernels::for_each_row<2>(shape, {sd.data(), ss.data()}, [&](auto off, int64_t n, auto st) {
        D* d = pd + off[0];
        const S* s = ps + off[1];
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) d[i * st[0]] = convert<D>(s[i * st[1]]);
        }
      });
    });
  });
}

}  // namespace ag::detail
