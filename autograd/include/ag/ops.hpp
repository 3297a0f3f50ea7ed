// The differentiable operations on ag::Tensor, as free functions and operators.
//
// Binary operations broadcast like numpy and promote dtypes like PyTorch
// (bool < int64 < float32 < float64; a C++ scalar keeps a floating tensor's dtype).
// Every floating operation records its derivative when an input requires grad and
// ag::GradMode is enabled. Misuse throws ag::Error naming the op and the shapes.
#pragma once

#include <optional>
#include <tuple>

#include "ag/tensor.hpp"

namespace ag {

// ---- arithmetic ------------------------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b, double alpha);  // a + alpha * b
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor pow(double base, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max = std::nullopt);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);
Tensor operator-(const Tensor& a);
Tensor& operator+=(Tensor& a, const Tensor& b);
Tensor& operator-=(Tensor& a, const Tensor& b);
Tensor& operator*=(Tensor& a, const Tensor& b);
Tensor& operator/=(Tensor& a, const Tensor& b);
Tensor& operator+=(Tensor& a, double s);
Tensor& operator-=(Tensor& a, double s);
Tensor& operator*=(Tensor& a, double s);
Tensor& operator/=(Tensor& a, double s);

// ---- comparisons (kBool results, not differentiable) -----------------------------------
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, double s);
Tensor operator!=(const Tensor& a, double s);
Tensor operator<(const Tensor& a, double s);
Tensor operator<=(const Tensor& a, double s);
Tensor operator>(const Tensor& a, double s);
Tensor operator>=(const Tensor& a, double s);
Tensor logical_not(const Tensor& a);
Tensor operator&(const Tensor& a, const Tensor& b);  // logical and of bool tensors
Tensor operator|(const Tensor& a, const Tensor& b);  // logical or of bool tensors
Tensor operator!(const Tensor& a);

// ---- unary -----------------------------------------------------------------------------
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sign(const Tensor& a);  // not differentiable (zero gradient)

// Activation derivatives in one pass, differentiable themselves so create_graph works through them.
Tensor sigmoid_backward(const Tensor& grad, const Tensor& y);  // grad * y * (1 - y)
Tensor tanh_backward(const Tensor& grad, const Tensor& y);     // grad * (1 - y^2)
Tensor relu_backward(const Tensor& grad, const Tensor& x);     // grad * (x > 0)

// ---- reductions ------------------------------------------------------------------------
Tensor sum(const Tensor& a);
Tensor sum(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim = false);
Tensor max(const Tensor& a);
std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& a);
std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& a);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor norm(const Tensor& a);  // the 2-norm of all elements
Tensor all(const Tensor& a);
Tensor any(const Tensor& a);
// Sums `a` down to `shape` (the inverse of broadcasting `shape` up to a.shape()).
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- linear algebra --------------------------------------------------------------------
Tensor dot(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b, double beta = 1.0, double alpha = 1.0);

// ---- softmax ---------------------------------------------------------------------------
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- shape -----------------------------------------------------------------------------
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor view(const Tensor& a, const Shape& shape);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& a, int64_t d0, int64_t d1);
Tensor permute(const Tensor& a, const Shape& dims);
Tensor t(const Tensor& a);
Tensor unsqueeze(const Tensor& a, int64_t d);
Tensor squeeze(const Tensor& a);
Tensor squeeze(const Tensor& a, int64_t d);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor expand(const Tensor& a, const Shape& shape);
Tensor cat(const tensor_list& tensors, int64_t dim = 0);
Tensor stack(const tensor_list& tensors, int64_t dim = 0);
Tensor clone(const Tensor& a);
Tensor contiguous(const Tensor& a);
Tensor to(const Tensor& a, Dtype d);

// ---- checks ----------------------------------------------------------------------------
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
bool equal(const Tensor& a, const Tensor& b);  // same shape and same values

// The shape two shapes broadcast to; throws ag::Error naming `op` when they cannot.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace ag
