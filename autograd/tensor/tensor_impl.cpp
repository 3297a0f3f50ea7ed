#include "ag/detail/tensor_impl.hpp"

#include "ag/error.hpp"

#include <algorithm>
#include <limits>
#include <ostream>
#include "runtime/release.hpp"

namespace ag {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const char* dtype_name(Dtype t) {
  switch (t) {
    case Dtype::Float32: return "float32";
    case Dtype::Float64: return "float64";
    case Dtype::Int64: return "int64";
    case Dtype::Bool: return "bool";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << shape_str(s); }

namespace detail {

TensorImpl::~TensorImpl() {
  // A tensor may hold the head of a long graph; hand it to the iterative releaser so a
  // chain of millions of nodes is torn down without recursion (Note [Iterative release]).
  if (grad_fn) release_iteratively(std::move(grad_fn));
}

bool TensorImpl::is_contiguous() const {
  if (numel == 0) return true;  // no element is out of place (PyTorch agrees)
  int64_t expected = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size(), 0);
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

bool shape_fits(const Shape& shape, Dtype dtype) {
  const int64_t max_elems = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(element_size(dtype));
  int64_t span = 1;
  for (int64_t d : shape) {
    if (d > 1 && span > max_elems / d) return false;
    span *= std::max<int64_t>(d, 1);
  }
  return true;
}

int64_t shape_numel(const Shape& shape) {
  for (int64_t d : shape)
    if (d == 0) return 0;  // before multiplying: the other sizes' product may not fit
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace detail
}  // namespace ag
