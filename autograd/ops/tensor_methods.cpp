// Tensor's maths and shape methods: each forwards to the free function of ag/ops.hpp.
#include "ag/ops.hpp"

namespace ag {

Tensor Tensor::to(Dtype d) const { return ag::to(*this, d); }
Tensor Tensor::clone() const { return ag::clone(*this); }
Tensor Tensor::contiguous() const { return ag::contiguous(*this); }

Tensor Tensor::reshape(const Shape& s) const { return ag::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return ag::view(*this, s); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return ag::flatten(*this, s, e); }
Tensor Tensor::t() const { return ag::t(*this); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return ag::transpose(*this, a, b); }
Tensor Tensor::permute(const Shape& d) const { return ag::permute(*this, d); }
Tensor Tensor::unsqueeze(int64_t d) const { return ag::unsqueeze(*this, d); }
Tensor Tensor::squeeze() const { return ag::squeeze(*this); }
Tensor Tensor::squeeze(int64_t d) const { return ag::squeeze(*this, d); }
Tensor Tensor::select(int64_t d, int64_t i) const { return ag::select(*this, d, i); }
Tensor Tensor::slice(int64_t d, int64_t s, int64_t e, int64_t st) const { return ag::slice(*this, d, s, e, st); }
Tensor Tensor::index_select(int64_t d, const Tensor& i) const { return ag::index_select(*this, d, i); }
Tensor Tensor::expand(const Shape& s) const { return ag::expand(*this, s); }
Tensor Tensor::expand_as(const Tensor& o) const { return ag::expand(*this, o.shape()); }

Tensor Tensor::add(const Tensor& o) const { return ag::add(*this, o); }
Tensor Tensor::sub(const Tensor& o) const { return ag::sub(*this, o); }
Tensor Tensor::mul(const Tensor& o) const { return ag::mul(*this, o); }
Tensor Tensor::div(const Tensor& o) const { return ag::div(*this, o); }
Tensor Tensor::neg() const { return ag::neg(*this); }
Tensor Tensor::pow(double e) const { return ag::pow(*this, e); }
Tensor Tensor::pow(const Tensor& e) const { return ag::pow(*this, e); }
Tensor Tensor::exp() const { return ag::exp(*this); }
Tensor Tensor::log() const { return ag::log(*this); }
Tensor Tensor::sqrt() const { return ag::sqrt(*this); }
Tensor Tensor::abs() const { return ag::abs(*this); }
Tensor Tensor::sin() const { return ag::sin(*this); }
Tensor Tensor::cos() const { return ag::cos(*this); }
Tensor Tensor::tanh() const { return ag::tanh(*this); }
Tensor Tensor::sigmoid() const { return ag::sigmoid(*this); }
Tensor Tensor::relu() const { return ag::relu(*this); }
Tensor Tensor::clamp(std::optional<double> lo, std::optional<double> hi) const { return ag::clamp(*this, lo, hi); }
Tensor Tensor::maximum(const Tensor& o) const { return ag::maximum(*this, o); }
Tensor Tensor::minimum(const Tensor& o) const { return ag::minimum(*this, o); }
Tensor Tensor::sum() const { return ag::sum(*this); }
Tensor Tensor::sum(int64_t d, bool k) const { return ag::sum(*this, d, k); }
Tensor Tensor::sum(const Shape& d, bool k) const { return ag::sum(*this, d, k); }
Tensor Tensor::mean() const { return ag::mean(*this); }
Tensor Tensor::mean(int64_t d, bool k) const { return ag::mean(*this, d, k); }
Tensor Tensor::mean(const Shape& d, bool k) const { return ag::mean(*this, d, k); }
Tensor Tensor::max() const { return ag::max(*this); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t d, bool k) const { return ag::max(*this, d, k); }
Tensor Tensor::min() const { return ag::min(*this); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t d, bool k) const { return ag::min(*this, d, k); }
Tensor Tensor::argmax() const { return ag::argmax(*this); }
Tensor Tensor::argmax(int64_t d, bool k) const { return ag::argmax(*this, d, k); }
Tensor Tensor::norm() const { return ag::norm(*this); }
Tensor Tensor::all() const { return ag::all(*this); }
Tensor Tensor::any() const { return ag::any(*this); }
Tensor Tensor::dot(const Tensor& o) const { return ag::dot(*this, o); }
Tensor Tensor::mm(const Tensor& o) const { return ag::mm(*this, o); }
Tensor Tensor::matmul(const Tensor& o) const { return ag::matmul(*this, o); }
Tensor Tensor::softmax(int64_t d) const { return ag::softmax(*this, d); }
Tensor Tensor::log_softmax(int64_t d) const { return ag::log_softmax(*this, d); }
Tensor Tensor::eq(const Tensor& o) const { return ag::eq(*this, o); }
Tensor Tensor::ne(const Tensor& o) const { return ag::ne(*this, o); }
Tensor Tensor::lt(const Tensor& o) const { return ag::lt(*this, o); }
Tensor Tensor::le(const Tensor& o) const { return ag::le(*this, o); }
Tensor Tensor::gt(const Tensor& o) const { return ag::gt(*this, o); }
Tensor Tensor::ge(const Tensor& o) const { return ag::ge(*this, o); }

}  // namespace ag
