// ag::Tensor — an n-dimensional array with reverse-mode automatic differentiation.
//
// What it represents: a handle to a strided view into shared storage (copying a Tensor
// copies the handle, as in libtorch). A default-constructed Tensor is undefined.
// Floating tensors may record the operations applied to them so that backward() can
// compute gradients; see ag/autograd.hpp for the engine and ag/ops.hpp for the operations.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ag/detail/tensor_impl.hpp"
#include "ag/dtype.hpp"
#include "ag/error.hpp"
#include "ag/shape.hpp"

namespace ag {

class Node;
class Tensor;
using tensor_list = std::vector<Tensor>;

// Options for factories: dtype and requires_grad, chained as in libtorch.
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(Dtype d) : dtype_(d) {}  // NOLINT: implicit like libtorch
  TensorOptions dtype(Dtype d) const { auto o = *this; o.dtype_ = d; return o; }
  TensorOptions requires_grad(bool r) const { auto o = *this; o.requires_grad_ = r; return o; }
  Dtype dtype() const { return dtype_.value_or(kFloat32); }
  bool has_dtype() const { return dtype_.has_value(); }
  bool requires_grad() const { return requires_grad_; }

 private:
  std::optional<Dtype> dtype_;
  bool requires_grad_ = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- queries ---------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t numel() const { return impl().numel; }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  Dtype dtype() const { return impl().dtype; }
  Dtype scalar_type() const { return impl().dtype; }
  bool is_floating_point() const { return is_floating(impl().dtype); }
  bool is_contiguous() const { return impl().is_contiguous(); }
  int64_t storage_offset() const { return impl().offset; }
  uint32_t _version() const { return impl().storage->version(); }
  // After writing the data through data_ptr() (an optimizer's update loop): tells autograd
  // the data changed, as an in-place op would, so a backward that saved the old values
  // refuses to run (libtorch: torch::autograd::impl::bump_version).
  void _bump_version() const { impl().storage->bump_version(); }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  detail::TensorImpl* unsafeGetTensorImpl() const { return impl_.get(); }
  const std::shared_ptr<detail::TensorImpl>& impl_ptr() const { return impl_; }

  // ---- data access -----------------------------------------------------------------
  template <class T> T item() const;           // one-element tensors only
  template <class T> T* data_ptr() const;      // T must match dtype()
  Tensor to(Dtype d) const;
  Tensor clone() const;
  Tensor contiguous() const;

  // ---- autograd --------------------------------------------------------------------
  Tensor& requires_grad_(bool r = true);
  const Tensor& requires_grad_(bool r = true) const;
  bool requires_grad() const;
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;            // undefined until the first backward reaches this tensor
  Tensor& mutable_grad() const;   // assignable reference-like access is not offered; see set_grad
  void set_grad(const Tensor& g) const;
  // requires: new_data defined (else ag::Error).
  // ensures: this handle now shows new_data's storage, shape, strides and dtype (libtorch's
  //          set_data): identity, requires_grad and .grad() stay, so optimizers and modules
  //          that hold this handle see the new data (Module::to(dtype) converts so).
  void set_data(const Tensor& new_data) const;
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;
  Tensor detach() const;
  Tensor& detach_();
  void retain_grad() const;
  bool retains_grad() const { return impl().retains_grad; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  uint32_t output_nr() const { return impl().output_nr; }
  // The hook sees the gradient flowing into this tensor and may return a replacement
  // (or an undefined Tensor to keep it). Returns the hook's index.
  unsigned register_hook(std::function<Tensor(const Tensor&)> hook) const;
  unsigned register_hook(std::function<void(const Tensor&)> hook) const;
  // Any callable: one returning void only inspects, one returning Tensor may replace.
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, std::function<Tensor(const Tensor&)>> &&
                                              !std::is_same_v<std::decay_t<F>, std::function<void(const Tensor&)>>>>
  unsigned register_hook(F&& hook) const {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const Tensor&>>)
      return register_hook(std::function<void(const Tensor&)>(std::forward<F>(hook)));
    else
      return register_hook(std::function<Tensor(const Tensor&)>(std::forward<F>(hook)));
  }

  // ---- shape ops (views where possible) --------------------------------------------
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor t() const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor permute(const Shape& dims) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor slice(int64_t dim = 0, int64_t start = 0, int64_t end = std::numeric_limits<int64_t>::max(),
               int64_t step = 1) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const;
  Tensor operator[](int64_t index) const { return select(0, index); }

  // ---- maths (see ag/ops.hpp for the free functions) -------------------------------
  Tensor add(const Tensor& o) const;
  Tensor sub(const Tensor& o) const;
  Tensor mul(const Tensor& o) const;
  Tensor div(const Tensor& o) const;
  Tensor neg() const;
  Tensor pow(double e) const;
  Tensor pow(const Tensor& e) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor abs() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor clamp(std::optional<double> min, std::optional<double> max = std::nullopt) const;
  Tensor maximum(const Tensor& o) const;
  Tensor minimum(const Tensor& o) const;
  Tensor sum() const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor max() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor argmax() const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor norm() const;
  Tensor all() const;
  Tensor any() const;
  Tensor dot(const Tensor& o) const;
  Tensor mm(const Tensor& o) const;
  Tensor matmul(const Tensor& o) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor eq(const Tensor& o) const;
  Tensor ne(const Tensor& o) const;
  Tensor lt(const Tensor& o) const;
  Tensor le(const Tensor& o) const;
  Tensor gt(const Tensor& o) const;
  Tensor ge(const Tensor& o) const;

  // ---- in place (bump the version counter) -----------------------------------------
  Tensor& add_(const Tensor& o, double alpha = 1.0);
  Tensor& add_(double s);
  Tensor& sub_(const Tensor& o, double alpha = 1.0);
  Tensor& sub_(double s);
  Tensor& mul_(const Tensor& o);
  Tensor& mul_(double s);
  Tensor& div_(const Tensor& o);
  Tensor& div_(double s);
  Tensor& zero_();
  Tensor& fill_(double v);
  Tensor& copy_(const Tensor& src);
  const Tensor& add_(const Tensor& o, double alpha = 1.0) const;
  const Tensor& zero_() const;
  const Tensor& fill_(double v) const;
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& mul_(double s) const;

 private:
  detail::TensorImpl& impl() const {
    if (!impl_) fail("Tensor: the tensor is undefined (default-constructed)");
    return *impl_;
  }
  std::shared_ptr<detail::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// ---- factories ----------------------------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
Tensor eye(int64_t n, int64_t m, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor zeros_like(const Tensor& t, TensorOptions opts);
Tensor ones_like(const Tensor& t);
Tensor ones_like(const Tensor& t, TensorOptions opts);
Tensor full_like(const Tensor& t, double value);
Tensor full_like(const Tensor& t, double value, TensorOptions opts);
Tensor scalar_tensor(double value, TensorOptions opts = {});
// arange(end) and arange(start, end, step): float32 unless opts say otherwise, so
// arange(4.0) is [0, 1, 2, 3] in float32 as in the tutorials.
Tensor arange(double end, TensorOptions opts = {});
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
void manual_seed(uint64_t seed);
Tensor rand(const Shape& shape, TensorOptions opts = {});   // uniform [0, 1)
Tensor randn(const Shape& shape, TensorOptions opts = {});  // standard normal
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = TensorOptions(kInt64));
Tensor randint(int64_t high, const Shape& shape, TensorOptions opts = TensorOptions(kInt64));
Tensor randperm(int64_t n, TensorOptions opts = TensorOptions(kInt64));
// Draws from the library's seeded generator (for nn::init and data shuffling).
uint64_t random_u64();
double random_uniform();  // [0, 1)

// From values. The dtype is the options' when given explicitly, else the element type's.
Tensor tensor(std::initializer_list<float> values, TensorOptions opts = {});
Tensor tensor(std::initializer_list<double> values, TensorOptions opts = {});
Tensor tensor(std::initializer_list<int> values, TensorOptions opts = {});
Tensor tensor(std::initializer_list<int64_t> values, TensorOptions opts = {});
Tensor tensor(std::initializer_list<bool> values, TensorOptions opts = {});
template <class T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, TensorOptions opts = {});
template <class T>
Tensor tensor(const std::vector<T>& values, TensorOptions opts = {}) {
  return tensor<T>(values, Shape{static_cast<int64_t>(values.size())}, opts);
}

}  // namespace ag
