// Functional autograd helpers (ag/functional.hpp): vjp, jvp, hvp, jacobian, hessian, and
// the DelayedError node behind once_differentiable.
//
// Every helper follows the same three steps (torch.autograd.functional's shape):
//   1. prepare: fresh inputs that require grad (Note [Prepared inputs]), checked;
//   2. f once, outputs checked;
//   3. ag::grad as many times as the product needs; results detached unless create_graph.
#include "ag/functional.hpp"

#include "ag/ops.hpp"
#include "runtime/pool.hpp"

namespace ag {

// ---- once_differentiable: the DelayedError node ------------------------------------------
namespace {

// Sits on a gradient that was computed outside autograd under create_graph. Reaching it in
// a later backward is an error: the second derivative through `op_` does not exist.
class DelayedError final : public Node {
 public:
  explicit DelayedError(std::string op) : op_(std::move(op)) { forward_op_ = "once_differentiable"; }
  std::string name() const override { return "DelayedError"; }
  tensor_list apply(tensor_list&&) override {
    fail("trying to backward through the derivative of ", op_,
         ", which is not implemented: its backward computed the gradient outside autograd, so "
         "create_graph=true recorded no graph for it (write that backward with ag ops to differentiate it twice)");
  }

 private:
  std::string op_;
};

}  // namespace

namespace detail {

tensor_list not_differentiable_twice(const std::string& op, tensor_list outs, const tensor_list& depends_on) {
  std::vector<Edge> edges;
  for (const Tensor& d : depends_on)
    if (d.defined() && d.requires_grad()) edges.push_back(gradient_edge(d));
  if (edges.empty()) return outs;  // nothing to differentiate against: the gradients are constants
  for (Tensor& o : outs) {
    if (!o.defined() || o.requires_grad() || !o.is_floating_point()) continue;
    auto node = make_pooled<DelayedError>(op);
    for (const Edge& e : edges) node->mutable_next_edges().push_back(e);
    Tensor alias = o.detach();  // a new handle on the same values: the caller's tensor keeps no history
    detail::TensorImpl* impl = alias.unsafeGetTensorImpl();
    impl->output_nr = node->add_input_meta(alias);
    impl->grad_fn = std::move(node);
    o = std::move(alias);
  }
  return outs;
}

}  // namespace detail

tensor_list once_differentiable(const AutogradContext* ctx, tensor_list grads_out, const tensor_list& grads_in) {
  AG_CHECK(ctx != nullptr, "once_differentiable: the context is null");
  if (!GradMode::is_enabled()) return grads_out;  // no create_graph: nothing is recorded anyway
  tensor_list deps = grads_in;
  for (const Tensor& s : ctx->get_saved_variables()) deps.push_back(s);
  return detail::not_differentiable_twice(ctx->node_ ? ctx->node_->name() : std::string("a custom Function"),
                                          std::move(grads_out), deps);
}

// ---- shared steps -------------------------------------------------------------------------
namespace {

// Note [Prepared inputs]: f runs on new handles, so that the caller's tensors keep their
// .grad() and history. Without create_graph: a detached leaf that requires grad. With
// create_graph, an input that requires grad is used through a view (its history kept), so
// that the results can be differentiated with respect to the caller's tensor afterwards.
Tensor prepare(const Tensor& x, bool create_graph, const char* op, size_t i) {
  AG_CHECK(x.defined(), op, ": input ", i, " is undefined");
  AG_CHECK(x.is_floating_point(), op, ": input ", i, " has dtype ", dtype_name(x.dtype()), " and shape ",
           shape_str(x.shape()), "; only floating tensors can be differentiated");
  if (create_graph && x.requires_grad()) return x.reshape(x.shape());
  Tensor d = x.detach();
  d.requires_grad_(true);
  return d;
}

tensor_list prepare_all(const tensor_list& xs, bool create_graph, const char* op) {
  AG_CHECK(!xs.empty(), op, ": the list of inputs is empty");
  tensor_list out;
  out.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) out.push_back(prepare(xs[i], create_graph, op, i));
  return out;
}

void check_output(const Tensor& o, const char* op, size_t i) {
  AG_CHECK(o.defined(), op, ": f returned an undefined tensor at index ", i);
  AG_CHECK(o.is_floating_point(), op, ": output ", i, " of f has dtype ", dtype_name(o.dtype()), " and shape ",
           shape_str(o.shape()), "; only floating outputs can be differentiated");
}

tensor_list call(const MultiFunction& f, const tensor_list& xs, const char* op) {
  AG_CHECK(static_cast<bool>(f), op, ": f is empty");
  tensor_list outs = f(xs);
  AG_CHECK(!outs.empty(), op, ": f returned no tensors");
  for (size_t i = 0; i < outs.size(); ++i) check_output(outs[i], op, i);
  return outs;
}

// A list of vectors (v for vjp, tangents for jvp, v for hvp) against the tensors it must
// match. `what` names the list, `against` what its entries correspond to. An empty list
// stands for 1 when there is exactly one one-element tensor.
tensor_list check_vectors(const tensor_list& vs, const tensor_list& like, const char* op, const char* what,
                          const char* against) {
  if (vs.empty()) {
    AG_CHECK(like.size() == 1 && like[0].numel() == 1, op, ": ", what, " may be omitted only for a single ", against,
             " with one element; got ", like.size(), " ", against, "s",
             like.size() == 1 ? std::string(" of shape ") + shape_str(like[0].shape()) : std::string());
    return {ones_like(like[0])};
  }
  AG_CHECK(vs.size() == like.size(), op, ": got ", vs.size(), " ", what, " for ", like.size(), " ", against,
           "s; expected one per ", against);
  for (size_t i = 0; i < vs.size(); ++i) {
    AG_CHECK(vs[i].defined(), op, ": ", what, "[", i, "] is undefined");
    AG_CHECK(vs[i].shape() == like[i].shape(), op, ": ", what, "[", i, "] has shape ", shape_str(vs[i].shape()),
             " but ", against, " ", i, " has shape ", shape_str(like[i].shape()));
    AG_CHECK(vs[i].dtype() == like[i].dtype(), op, ": ", what, "[", i, "] has dtype ", dtype_name(vs[i].dtype()),
             " but ", against, " ", i, " has dtype ", dtype_name(like[i].dtype()), " (shape ",
             shape_str(like[i].shape()), ")");
  }
  return vs;
}

Tensor finish(const Tensor& t, bool create_graph) { return create_graph ? t : t.detach(); }
tensor_list finish(tensor_list ts, bool create_graph) {
  if (!create_graph)
    for (Tensor& t : ts) t = t.detach();
  return ts;
}

// ag::grad of the `outs` that require grad (with their `heads`) with respect to `xs`;
// zeros where an input receives nothing.
tensor_list grad_or_zeros(const tensor_list& outs, const tensor_list& heads, const tensor_list& xs, bool retain,
                          bool create_graph) {
  tensor_list o, h;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].requires_grad()) {
      o.push_back(outs[i]);
      h.push_back(heads[i]);
    }
  tensor_list r = o.empty() ? tensor_list(xs.size()) : grad(o, xs, h, retain, create_graph, /*allow_unused=*/true);
  for (size_t i = 0; i < r.size(); ++i)
    if (!r[i].defined()) r[i] = zeros_like(xs[i]);
  return r;
}

// Zeros of `like`'s shape and dtype with a 1 at row-major position k.
Tensor one_hot(const Tensor& like, int64_t k) {
  Tensor e = zeros({like.numel()}, TensorOptions(like.dtype()));
  NoGradGuard ng;
  e.select(0, k).fill_(1.0);
  return e.reshape(like.shape());
}

Shape concat(const Shape& a, const Shape& b) {
  Shape s = a;
  for (int64_t d : b) s.push_back(d);
  return s;
}

// The rows of the Jacobian of `out` with respect to `x` (both from one graph), by one
// backward per element of `out`: [out.numel(), x.numel()] in x's dtype.
Tensor reverse_rows(const Tensor& out, const Tensor& x, bool create_graph) {
  const int64_t m = out.numel(), n = x.numel();
  tensor_list rows;
  rows.reserve(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) {
    const bool retain = create_graph || j + 1 < m;
    Tensor r = grad_or_zeros({out}, {one_hot(out, j)}, {x}, retain, create_graph)[0];
    rows.push_back(r.reshape({n}));
  }
  return stack(rows, 0);
}

}  // namespace

// ---- Linearization (Note [jvp by double vjp]) ----------------------------------------------
namespace detail {

// Note [jvp by forward mode]: f once on dual inputs inside a DualLevel. Returns f's
// outputs (detached) and their tangents (zeros where an output carries none). No reverse
// graph is built: the inputs are detached.
std::pair<tensor_list, tensor_list> forward_tangents(const MultiFunction& f, const tensor_list& inputs,
                                                     const tensor_list& tangents, const char* op) {
  forward_ad::DualLevel level;
  tensor_list duals;
  duals.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) duals.push_back(forward_ad::make_dual(inputs[i].detach(), tangents[i]));
  tensor_list outs = call(f, duals, op);
  tensor_list jt;
  jt.reserve(outs.size());
  for (Tensor& o : outs) {
    forward_ad::UnpackedDual u = forward_ad::unpack_dual(o);
    jt.push_back(u.tangent.defined() ? u.tangent : zeros_like(o));
    o = u.primal.detach();
  }
  return {std::move(outs), std::move(jt)};
}

Linearization::Linearization(const MultiFunction& f, const tensor_list& inputs, const char* op)
    : f_(f), inputs_(inputs), outputs_(call(f, inputs, op)), op_(op) {}

// Jᵀu, recorded: linear in u, so its derivative with respect to u applied to t is J·t.
// Built on the first apply(), so that a caller who only needs outputs() pays nothing.
void Linearization::record_vjps() const {
  if (recorded_) return;
  recorded_ = true;
  tensor_list outs;
  for (const Tensor& o : outputs_) {
    if (!o.requires_grad()) continue;  // a constant: J·t is zero
    outs.push_back(o);
    Tensor u = zeros_like(o);
    u.requires_grad_(true);
    dummies_.push_back(u);
  }
  if (!outs.empty())
    vjps_ = grad(outs, inputs_, dummies_, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
}

tensor_list Linearization::apply(const tensor_list& tangents, bool retain, bool create_graph) const {
  AG_CHECK(tangents.size() == inputs_.size(), op_, ": got ", tangents.size(), " tangents for ", inputs_.size(),
           " inputs");
  if (!create_graph && g_fw_levels.load() == 0) return forward_tangents(f_, inputs_, tangents, op_).second;
  record_vjps();
  tensor_list gs, ts;
  for (size_t i = 0; i < vjps_.size(); ++i)
    if (vjps_[i].defined() && vjps_[i].requires_grad()) {
      gs.push_back(vjps_[i]);
      ts.push_back(tangents[i]);
    }
  tensor_list jt = gs.empty() ? tensor_list(dummies_.size())
                              : grad(gs, dummies_, ts, retain, create_graph, /*allow_unused=*/true);
  tensor_list out;
  out.reserve(outputs_.size());
  size_t k = 0;
  for (const Tensor& o : outputs_) {
    if (!o.requires_grad()) {
      out.push_back(zeros_like(o));
      continue;
    }
    const Tensor& r = jt[k++];
    out.push_back(r.defined() ? r : zeros_like(o));
  }
  return out;
}

}  // namespace detail

// ---- vjp / jvp / hvp ---------------------------------------------------------------------------

std::pair<tensor_list, tensor_list> vjp(const MultiFunction& f, const tensor_list& inputs, const tensor_list& v,
                                        bool create_graph) {
  AutoGradMode on(true);
  const tensor_list xs = prepare_all(inputs, create_graph, "vjp");
  const tensor_list outs = call(f, xs, "vjp");
  const tensor_list vs = check_vectors(v, outs, "vjp", "v", "output");
  tensor_list r = grad_or_zeros(outs, vs, xs, /*retain=*/create_graph, create_graph);
  return {finish(outs, create_graph), finish(std::move(r), create_graph)};
}

// Note [jvp by forward mode] / [jvp by double vjp]: the one place where jvp chooses how J·t
// is computed.
std::pair<tensor_list, tensor_list> jvp(const MultiFunction& f, const tensor_list& inputs, const tensor_list& tangents,
                                        bool create_graph) {
  AutoGradMode on(true);
  const tensor_list xs = prepare_all(inputs, create_graph, "jvp");
  const tensor_list ts = check_vectors(tangents, xs, "jvp", "tangents", "input");
  if (!create_graph && detail::g_fw_levels.load() == 0) {
    AG_CHECK(static_cast<bool>(f), "jvp: f is empty");
    return detail::forward_tangents(f, xs, ts, "jvp");
  }
  const detail::Linearization lin(f, xs, "jvp");
  tensor_list r = lin.apply(ts, /*retain=*/create_graph, create_graph);
  return {finish(lin.outputs(), create_graph), finish(std::move(r), create_graph)};
}

std::pair<tensor_list, tensor_list> hvp(const ScalarFunction& f, const tensor_list& inputs, const tensor_list& v,
                                        bool create_graph) {
  AutoGradMode on(true);
  AG_CHECK(static_cast<bool>(f), "hvp: f is empty");
  const tensor_list xs = prepare_all(inputs, create_graph, "hvp");
  const tensor_list vs = check_vectors(v, xs, "hvp", "v", "input");
  const Tensor y = f(xs);
  check_output(y, "hvp", 0);
  AG_CHECK(y.numel() == 1, "hvp: f must return a single-element tensor, got shape ", shape_str(y.shape()));
  // The gradient, recorded; then its vjp with v (H is symmetric: Hv = vᵀH).
  const tensor_list g = grad_or_zeros({y}, {ones_like(y)}, xs, /*retain=*/true, /*create_graph=*/true);
  tensor_list r = grad_or_zeros(g, vs, xs, /*retain=*/create_graph, create_graph);
  return {{finish(y, create_graph)}, finish(std::move(r), create_graph)};
}

// ---- jacobian / hessian ------------------------------------------------------------------------

Tensor jacobian(const UnaryFunction& f, const Tensor& x0, JacobianMode mode, bool create_graph) {
  AutoGradMode on(true);
  AG_CHECK(static_cast<bool>(f), "jacobian: f is empty");
  const Tensor x = prepare(x0, create_graph, "jacobian", 0);
  // f runs once, inside the linearization (the point both modes differentiate at).
  const detail::Linearization lin([&f](const tensor_list& xs) { return tensor_list{f(xs[0])}; }, {x}, "jacobian");
  const Tensor& out = lin.outputs()[0];
  const int64_t m = out.numel(), n = x.numel();
  const Shape shape = concat(out.shape(), x.shape());
  if (!out.requires_grad() || m == 0 || n == 0) return zeros(shape, TensorOptions(x.dtype()));
  if (mode == JacobianMode::Auto) mode = n < m ? JacobianMode::Forward : JacobianMode::Reverse;
  Tensor J;
  if (mode == JacobianMode::Reverse) {
    J = reverse_rows(out, x, create_graph);
  } else {
    // One J·e_k per input element: the columns.
    tensor_list cols;
    cols.reserve(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      const bool retain = create_graph || k + 1 < n;
      cols.push_back(lin.apply({one_hot(x, k)}, retain, create_graph)[0].reshape({m}));
    }
    J = stack(cols, 1);
  }
  if (J.dtype() != x.dtype()) J = J.to(x.dtype());
  return finish(J.reshape(shape), create_graph);
}

Tensor hessian(const UnaryFunction& f, const Tensor& x0, bool create_graph) {
  AutoGradMode on(true);
  AG_CHECK(static_cast<bool>(f), "hessian: f is empty");
  const Tensor x = prepare(x0, create_graph, "hessian", 0);
  const Tensor y = f(x);
  check_output(y, "hessian", 0);
  AG_CHECK(y.numel() == 1, "hessian: f must return a single-element tensor (a scalar), got shape ",
           shape_str(y.shape()), "; use jacobian for a vector-valued f");
  const Shape shape = concat(x.shape(), x.shape());
  if (!y.requires_grad() || x.numel() == 0) return zeros(shape, TensorOptions(x.dtype()));
  // The Jacobian of the recorded gradient, row by row (H is symmetric, so reverse mode is
  // as good as any here: n rows for n columns).
  const Tensor g = grad_or_zeros({y}, {ones_like(y)}, {x}, /*retain=*/true, /*create_graph=*/true)[0];
  if (!g.requires_grad()) return zeros(shape, TensorOptions(x.dtype()));  // f is at most linear in x
  return finish(reverse_rows(g, x, create_graph).reshape(shape), create_graph);
}

}  // namespace ag
