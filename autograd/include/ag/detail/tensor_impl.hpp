// TensorImpl: what a Tensor handle points at. Internal; users hold ag::Tensor.
//
// A TensorImpl is a strided view into a Storage plus the autograd metadata of that view:
// grad_fn (the node that made it; null for leaves), the accumulated gradient, the
// leaf's gradient accumulator and the gradient hooks.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "ag/detail/spin_lock.hpp"
#include "ag/dtype.hpp"
#include "ag/shape.hpp"
#include "ag/storage.hpp"

namespace ag {

class Node;
class Tensor;

namespace detail {

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  int64_t numel = 0;
  Dtype dtype = kFloat32;

  // autograd
  bool requires_grad = false;  // meaningful for leaves; non-leaves require grad through grad_fn
  bool retains_grad = false;
  bool is_view = false;  // shares storage with another tensor (in-place autograd refuses views)
  uint32_t output_nr = 0;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<TensorImpl> grad;
  std::weak_ptr<Node> grad_accumulator;
  std::vector<std::function<Tensor(const Tensor&)>> hooks;  // leaf hooks (non-leaf hooks live on grad_fn)
  SpinLock grad_lock;

  // forward-mode tangent (ag::forward_ad), per level 0
  std::shared_ptr<TensorImpl> fw_grad;

  TensorImpl() = default;
  ~TensorImpl();

  template <class T>
  T* data() const {
    return static_cast<T*>(storage->data()) + offset;
  }
  void* raw_data() const { return static_cast<char*>(storage->data()) + offset * element_size(dtype); }
  bool is_contiguous() const;
};

// Strides of a contiguous (row-major) tensor of the given shape.
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Whether a tensor of this shape could exist: the product of its sizes, zeros counted as
// ones (as the strides count them), times the element size must fit in an int64. Every
// shape must pass, an empty one too, or a later clone() or loop overflows. Sizes must be
// non-negative.
bool shape_fits(const Shape& shape, Dtype dtype);

}  // namespace detail
}  // namespace ag
