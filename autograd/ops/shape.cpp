// Shape ops: views that share storage (reshape when possible, view, transpose, permute,
// squeeze, unsqueeze, select, slice, expand) and copies (index_select, cat, stack, clone,
// contiguous, to). Their derivatives move the gradient back to the input's layout.
#include <algorithm>
#include <numeric>

#include "kernels/loops.hpp"
#include "ops/iter.hpp"
#include "ops/record.hpp"
#include "tensor/make.hpp"

namespace ag {

using detail::BackwardCtx;
using detail::Grads;
using detail::make_view;
using detail::needs_grad;
using detail::record;
using detail::save;
using detail::wrap_dim;

namespace {

void check(const Tensor& a, const char* op) { AG_CHECK(a.defined(), op, ": the operand is undefined"); }

// Resolves one -1 in `shape` against numel; throws when the sizes cannot match.
Shape infer_shape(const Shape& shape, int64_t numel, Dtype dtype, const char* op) {
  Shape out = shape;
  int64_t infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      AG_CHECK(infer < 0, op, ": only one dimension can be inferred in shape ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      AG_CHECK(out[i] >= 0, op, ": invalid shape dimension ", out[i], " in ", shape_str(shape));
    }
  }
  // Refused even with a 0 among the sizes: the strides of the others would overflow, and
  // so would a clone of the view (found by fuzz_ops: [2^63 - 1, 0]). shape_fits takes the
  // -1 as a 1; once it holds, the product of the known sizes cannot overflow.
  AG_CHECK(detail::shape_fits(out, dtype), op, ": shape ", shape_str(shape), " is invalid for input of size ", numel,
           " (the product of its sizes, zeros counted as ones, times the element size overflows int64)");
  int64_t known = 1;
  for (int64_t d : out)
    if (d != -1) known *= d;
  if (infer >= 0) {
    AG_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape), " is invalid for input of size ", numel);
    out[infer] = numel / known;
  } else {
    AG_CHECK(known == numel, op, ": shape ", shape_str(shape), " is invalid for input of size ", numel);
  }
  return out;
}

// Strides for viewing (shape, strides) as `target` without copying, if possible
// (PyTorch's computeStride): each run of target dims must map onto a run of old dims
// that is contiguous within itself.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& target) {
  Shape ns(target.size());
  if (old_shape.empty()) {
    std::fill(ns.begin(), ns.end(), 1);
    return ns;
  }
  int64_t numel = detail::shape_numel(old_shape);
  if (numel == 0) {
    if (old_shape == target) return old_strides;
    return detail::contiguous_strides(target);
  }
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

// d/dx of a reshape-like view: the gradient reshaped back.
Tensor reshape_like_view(const Tensor& a, Shape shape, Shape strides, const char* node) {
  Tensor out = make_view(a, std::move(shape), std::move(strides), a.storage_offset());
  if (needs_grad(a)) {
    Shape in = a.shape();
    record(out, node, {a}, {}, [in](const BackwardCtx&, const Tensor& g) -> Grads { return {g.reshape(in)}; },
           [&out](const tensor_list& t) { return t[0].reshape(out.shape()); });
  }
  return out;
}

}  // namespace

Tensor view(const Tensor& a, const Shape& shape0) {
  check(a, "view");
  Shape shape = infer_shape(shape0, a.numel(), a.dtype(), "view");
  auto st = view_strides(a.shape(), a.strides(), shape);
  AG_CHECK(st.has_value(), "view: size ", shape_str(shape), " is not compatible with input tensor's size ",
           shape_str(a.shape()), " and stride ", shape_str(a.strides()),
           " (at least one dimension spans across two contiguous subspaces). Use reshape() instead.");
  return reshape_like_view(a, shape, *st, "ViewBackward0");
}

Tensor reshape(const Tensor& a, const Shape& shape0) {
  check(a, "reshape");
  Shape shape = infer_shape(shape0, a.numel(), a.dtype(), "reshape");
  if (auto st = view_strides(a.shape(), a.strides(), shape)) return reshape_like_view(a, shape, *st, "ViewBackward0");
  Tensor c = a.contiguous();  // differentiable copy, then a view of it
  return reshape_like_view(c, shape, detail::contiguous_strides(shape), "ViewBackward0");
}

Tensor flatten(const Tensor& a, int64_t start, int64_t end) {
  check(a, "flatten");
  if (a.dim() == 0) return a.reshape({1});
  int64_t s = wrap_dim(start, a.dim(), "flatten"), e = wrap_dim(end, a.dim(), "flatten");
  AG_CHECK(s <= e, "flatten: start_dim ", start, " cannot come after end_dim ", end);
  Shape shape;
  for (int64_t i = 0; i < s; ++i) shape.push_back(a.shape()[i]);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= a.shape()[i];
  shape.push_back(m);
  for (int64_t i = e + 1; i < a.dim(); ++i) shape.push_back(a.shape()[i]);
  return a.reshape(shape);
}

namespace {
// permute, recording the node under the name PyTorch gives the calling op.
Tensor permute_as(const Tensor& a, const Shape& dims, const char* node);
// cat, likewise (stack is a cat of unsqueezed views).
Tensor cat_as(const tensor_list& ts, int64_t dim, const char* node);
}  // namespace

Tensor permute(const Tensor& a, const Shape& dims) { return permute_as(a, dims, "PermuteBackward0"); }

namespace {
Tensor permute_as(const Tensor& a, const Shape& dims, const char* node) {
  check(a, "permute");
  AG_CHECK(static_cast<int64_t>(dims.size()) == a.dim(), "permute: number of dims don't match: the tensor has ",
           a.dim(), " dims but ", dims.size(), " were given");
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], a.dim(), "permute");
    AG_CHECK(!seen[d], "permute: repeated dim ", dims[i], " in ", shape_str(dims));
    seen[d] = true;
    shape[i] = a.shape()[d];
    strides[i] = a.strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(a, shape, strides, a.storage_offset());
  if (needs_grad(a))
    record(out, node, {a}, {}, [inverse](const BackwardCtx&, const Tensor& g) -> Grads {
      return {g.permute(inverse)};
    }, [&dims](const tensor_list& t) { return t[0].permute(dims); });
  return out;
}

Tensor transpose_as(const Tensor& a, int64_t d0, int64_t d1, const char* node, const char* op) {
  Shape p(a.dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[wrap_dim(d0, a.dim(), op)], p[wrap_dim(d1, a.dim(), op)]);
  return permute_as(a, p, node);
}
}  // namespace

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  check(a, "transpose");
  if (a.dim() == 0) return a.reshape({});
  return transpose_as(a, d0, d1, "TransposeBackward0", "transpose");
}

Tensor t(const Tensor& a) {
  check(a, "t");
  AG_CHECK(a.dim() <= 2, "t: expects a tensor with <= 2 dimensions, but self is ", a.dim(), "D (shape ",
           shape_str(a.shape()), ")");
  return a.dim() < 2 ? a.reshape(a.shape()) : transpose_as(a, 0, 1, "TBackward0", "t");
}

Tensor unsqueeze(const Tensor& a, int64_t d) {
  check(a, "unsqueeze");
  int64_t n = a.dim() + 1;
  AG_CHECK(d >= -n && d < n, "unsqueeze: dimension ", d, " is out of range for a result of ", n, " dimensions");
  if (d < 0) d += n;
  Shape shape = a.shape(), strides = a.strides();
  int64_t st = d < a.dim() ? shape[d] * strides[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, st);
  return reshape_like_view(a, shape, strides, "UnsqueezeBackward0");
}

Tensor squeeze(const Tensor& a) {
  check(a, "squeeze");
  Shape shape, strides;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (a.shape()[i] != 1) {
      shape.push_back(a.shape()[i]);
      strides.push_back(a.strides()[i]);
    }
  return reshape_like_view(a, shape, strides, "SqueezeBackward0");
}

Tensor squeeze(const Tensor& a, int64_t d) {
  check(a, "squeeze");
  if (a.dim() == 0) return reshape_like_view(a, {}, {}, "SqueezeBackward1");
  d = wrap_dim(d, a.dim(), "squeeze");
  Shape shape = a.shape(), strides = a.strides();
  if (shape[d] == 1) {
    shape.erase(shape.begin() + d);
    strides.erase(strides.begin() + d);
  }
  return reshape_like_view(a, shape, strides, "SqueezeBackward1");
}

Tensor expand(const Tensor& a, const Shape& shape) {
  check(a, "expand");
  AG_CHECK(shape.size() >= static_cast<size_t>(a.dim()), "expand: the number of sizes provided (", shape.size(),
           ") must be greater or equal to the number of dimensions in the tensor (", a.dim(), ")");
  Shape out_shape(shape.size()), strides(shape.size());
  const size_t lead = shape.size() - a.dim();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      AG_CHECK(shape[i] >= 0, "expand: the expanded size ", shape[i], " is not allowed in a leading dimension");
      out_shape[i] = shape[i];
      strides[i] = 0;
      continue;
    }
    AG_CHECK(shape[i] >= -1, "expand: invalid size ", shape[i], " at dimension ", i, " (target sizes ",
             shape_str(shape), "); sizes must be non-negative, or -1 to keep a dimension");
    int64_t have = a.shape()[i - lead], want = shape[i] == -1 ? have : shape[i];
    AG_CHECK(have == want || have == 1, "expand: the expanded size of the tensor (", want,
             ") must match the existing size (", have, ") at non-singleton dimension ", i, ". Target sizes: ",
             shape_str(shape), ". Tensor sizes: ", shape_str(a.shape()));
    out_shape[i] = want;
    strides[i] = have == want ? a.strides()[i - lead] : 0;
  }
  // A view costs nothing, but its shape must be one a tensor can have, as for every shape:
  // else its clone() or a loop over it overflows (found by fuzz_ops, with a 0 beside too).
  AG_CHECK(detail::shape_fits(out_shape, a.dtype()), "expand: the target sizes ", shape_str(shape),
           " are too large (the product of the sizes, zeros counted as ones, times the element size overflows int64)");
  Tensor out = make_view(a, out_shape, strides, a.storage_offset());
  if (needs_grad(a)) {
    Shape in = a.shape();
    record(out, "ExpandBackward0", {a}, {}, [in](const BackwardCtx&, const Tensor& g) -> Grads {
      return {sum_to(g, in)};
    }, [&out](const tensor_list& t) { return t[0].expand(out.shape()); });
  }
  return out;
}

// ---- select / slice and their adjoint ----------------------------------------------------
namespace {
// zeros(in_shape) with g written into the slice (dim, start, step): the derivative of
// slice, itself differentiable (its derivative is the slice again).
Tensor slice_embed(const Tensor& g, const Shape& in_shape, int64_t dim, int64_t start, int64_t step) {
  Tensor out = zeros(in_shape, TensorOptions(g.dtype()));
  {
    Shape st = out.strides();
    st[dim] *= step;
    Tensor region = make_view(out, g.shape(), st, start * out.strides()[dim]);
    detail::copy_into(region, g);
  }
  if (needs_grad(g)) {
    int64_t end = start + step * g.shape()[dim];
    record(out, "SliceBackwardBackward0", {g}, {},
           [dim, start, end, step](const BackwardCtx&, const Tensor& gg) -> Grads {
             return {gg.slice(dim, start, end, step)};
           });
  }
  return out;
}
}  // namespace

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check(a, "slice");
  AG_CHECK(a.dim() > 0, "slice: cannot slice a 0-dim tensor");
  dim = wrap_dim(dim, a.dim(), "slice");
  AG_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t size = a.shape()[dim];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  // A step past the end selects at most the first element, and every such step gives the
  // same view: take the smallest, which keeps the products below in range (found by fuzz_ops).
  if (step > end - start) step = std::max<int64_t>(end - start, 1);
  Shape shape = a.shape(), strides = a.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor out = make_view(a, shape, strides, a.storage_offset() + start * a.strides()[dim]);
  if (needs_grad(a)) {
    Shape in = a.shape();
    record(out, "SliceBackward0", {a}, {}, [in, dim, start, step](const BackwardCtx&, const Tensor& g) -> Grads {
      return {slice_embed(g, in, dim, start, step)};
    }, [dim, start, end, step](const tensor_list& t) { return t[0].slice(dim, start, end, step); });
  }
  return out;
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  check(a, "select");
  AG_CHECK(a.dim() > 0, "select: cannot be applied to a 0-dim tensor");
  dim = wrap_dim(dim, a.dim(), "select");
  const int64_t size = a.shape()[dim];
  AG_CHECK(index >= -size && index < size, "select: index ", index, " is out of bounds for dimension ", dim,
           " with size ", size);
  if (index < 0) index += size;
  Shape shape = a.shape(), strides = a.strides();
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(a, shape, strides, a.storage_offset() + index * a.strides()[dim]);
  if (needs_grad(a)) {
    Shape in = a.shape();
    record(out, "SelectBackward0", {a}, {}, [in, dim, index](const BackwardCtx&, const Tensor& g) -> Grads {
      return {slice_embed(g.unsqueeze(dim), in, dim, index, 1)};
    }, [dim, index](const tensor_list& t) { return t[0].select(dim, index); });
  }
  return out;
}

// ---- index_select and its adjoint ----------------------------------------------------------
namespace {
// Checks an index tensor and returns it as contiguous int64.
Tensor checked_index(const Tensor& index, int64_t size, const char* op) {
  AG_CHECK(index.defined(), op, ": the index is undefined");
  AG_CHECK(index.dtype() == kInt64, op, ": expected an index of dtype int64, got ", dtype_name(index.dtype()));
  AG_CHECK(index.dim() <= 1, op, ": the index must be a vector (got shape ", shape_str(index.shape()), ")");
  Tensor idx = index.contiguous();
  const int64_t* p = idx.data_ptr<int64_t>();
  // As PyTorch's index_select: 0 <= index < size; a negative index does not count from the
  // end (PyTorch refuses it too: "index out of range in self").
  for (int64_t i = 0; i < idx.numel(); ++i) {
    AG_CHECK(p[i] >= 0, op, ": index ", p[i], " is out of range for a dimension of size ", size,
             " (indices must be in [0, ", size, "); negative indices are not accepted, as in PyTorch)");
    AG_CHECK(p[i] < size, op, ": index ", p[i], " is out of range for a dimension of size ", size);
  }
  return idx;
}

// out[.., idx[i], ..] += g[.., i, ..] into zeros(in_shape): the derivative of index_select.
Tensor index_add_embed(const Tensor& g, const Shape& in_shape, int64_t dim, const Tensor& idx) {
  Tensor out = zeros(in_shape, TensorOptions(g.dtype()));
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    Tensor dst = out.select(dim, p[i]), src = g.select(dim, i);
    detail::binary_inplace(kernels::BinaryOp::Add, dst, src, "index_add");
  }
  if (needs_grad(g))
    record(out, "IndexAddBackward0", {g}, {save(idx)}, [dim](const BackwardCtx& c, const Tensor& gg) -> Grads {
      return {index_select(gg, dim, c.saved(0))};
    });
  return out;
}
}  // namespace

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  check(a, "index_select");
  if (a.dim() == 0) return index_select(a.reshape({1}), 0, index).reshape(index.dim() == 0 ? Shape{} : Shape{index.numel()});
  dim = wrap_dim(dim, a.dim(), "index_select");
  const int64_t size = a.shape()[dim];
  Tensor idx = checked_index(index, size, "index_select");
  Shape shape = a.shape();
  shape[dim] = idx.numel();
  Tensor out = detail::make_tensor(shape, a.dtype());
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) detail::copy_into(out.select(dim, i), a.select(dim, p[i]).detach());
  if (index.dim() == 0) shape.erase(shape.begin() + dim);
  if (index.dim() == 0) out = make_view(out, shape, detail::contiguous_strides(shape), 0);
  if (needs_grad(a)) {
    Shape in = a.shape();
    const bool scalar_index = index.dim() == 0;
    record(out, "IndexSelectBackward0", {a}, {save(idx)},
           [in, dim, scalar_index](const BackwardCtx& c, const Tensor& g) -> Grads {
             return {index_add_embed(scalar_index ? g.unsqueeze(dim) : g, in, dim, c.saved(0))};
           });
  }
  return out;
}

// ---- cat / stack ---------------------------------------------------------------------------
Tensor cat(const tensor_list& ts, int64_t dim) { return cat_as(ts, dim, "CatBackward0"); }

namespace {
Tensor cat_as(const tensor_list& ts, int64_t dim, const char* node) {
  AG_CHECK(!ts.empty(), "cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < ts.size(); ++i) AG_CHECK(ts[i].defined(), "cat: tensor ", i, " is undefined");
  const Tensor& first = ts[0];
  AG_CHECK(first.dim() > 0, "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  int64_t total = 0;
  Dtype dt = first.dtype();
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    AG_CHECK(t.dim() == first.dim(), "cat: tensors must have the same number of dimensions: got ", first.dim(),
             " and ", t.dim(), " (tensor ", i, ")");
    for (int64_t d = 0; d < t.dim(); ++d)
      AG_CHECK(d == dim || t.shape()[d] == shape[d], "cat: sizes of tensors must match except in dimension ", dim,
               ". Expected size ", shape[d], " but got size ", t.shape()[d], " for tensor number ", i,
               " in the list (shapes ", shape_str(first.shape()), " and ", shape_str(t.shape()), ")");
    total += t.shape()[dim];
    dt = promote(dt, t.dtype());
  }
  shape[dim] = total;
  Tensor out = detail::make_tensor(shape, dt);
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& t : ts) {
    const int64_t n = t.shape()[dim];
    sizes.push_back(n);
    if (n) detail::copy_into(out.slice(dim, at, at + n), t);
    at += n;
  }
  if (detail::needs_grad_list(ts))
    detail::record_node(out, node, ts, {}, [sizes, dim](const BackwardCtx& c, const Tensor& g) -> Grads {
      Grads r;
      int64_t s = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        r.push_back(c.needs(i) ? g.slice(dim, s, s + sizes[i]) : Tensor());
        s += sizes[i];
      }
      return r;
    });
  return out;
}

}  // namespace

Tensor stack(const tensor_list& ts, int64_t dim) {
  AG_CHECK(!ts.empty(), "stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < ts.size(); ++i) {
    AG_CHECK(ts[i].defined(), "stack: tensor ", i, " is undefined");
    AG_CHECK(ts[i].shape() == ts[0].shape(), "stack: expects each tensor to be equal size, but got ",
             shape_str(ts[0].shape()), " at entry 0 and ", shape_str(ts[i].shape()), " at entry ", i);
  }
  int64_t n = ts[0].dim() + 1;
  AG_CHECK(dim >= -n && dim < n, "stack: dimension ", dim, " is out of range for a result of ", n, " dimensions");
  tensor_list u;
  for (const Tensor& t : ts) u.push_back(t.unsqueeze(dim));
  return cat_as(u, dim, "StackBackward0");
}

// ---- copies ----------------------------------------------------------------------------------
Tensor clone(const Tensor& a) {
  check(a, "clone");
  Tensor out = detail::make_tensor(a.shape(), a.dtype());
  detail::copy_into(out, a);
  if (needs_grad(a))
    record(out, "CloneBackward0", {a}, {}, [](const BackwardCtx&, const Tensor& g) -> Grads { return {g}; });
  return out;
}

Tensor contiguous(const Tensor& a) {
  check(a, "contiguous");
  return a.is_contiguous() ? a : clone(a);
}

Tensor to(const Tensor& a, Dtype d) {
  check(a, "to");
  if (a.dtype() == d) return a;
  Tensor out = detail::make_tensor(a.shape(), d);
  detail::copy_into(out, a);
  if (is_floating(d) && needs_grad(a)) {
    Dtype from = a.dtype();
    record(out, "ToCopyBackward0", {a}, {}, [from](const BackwardCtx&, const Tensor& g) -> Grads {
      return {g.to(from)};
    });
  }
  return out;
}

}  // namespace ag
