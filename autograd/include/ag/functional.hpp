// Functional autograd helpers (torch.autograd.functional): vjp, jvp, jacobian, hessian,
// hvp; and once_differentiable, for custom Functions whose backward is not itself
// differentiable.
//
// What they represent: derivatives of a function given as a C++ callable, returned as
// tensors instead of accumulated into .grad(). Each helper calls f once on fresh copies of
// the inputs (detached leaves that require grad; with create_graph=true an input that
// already requires grad is used through a view, so the results stay differentiable with
// respect to it), then runs ag::grad as many times as the product needs. The callers'
// inputs and their .grad() are never touched. Grad mode is switched on inside, so the
// helpers work under ag::NoGradGuard too.
//
// Common rules:
//   - inputs must be defined floating tensors; f must return defined tensors.
//   - an output of f that does not depend on the inputs (no grad_fn, e.g. a constant) has
//     a zero derivative, as torch.autograd.functional with strict=False.
//   - a v or tangent list must have one entry per output (per input for tangents), each of
//     that tensor's shape and dtype; otherwise ag::Error names the helper, the entry, and
//     both shapes or dtypes.
//   - without create_graph the results (and the returned outputs) are detached: they hold
//     no graph. With create_graph=true they are differentiable again.
//
// Note [jvp by forward mode]: without create_graph (and outside a user's DualLevel), jvp
// and jacobian's forward mode run f once on ag::forward_ad::make_dual(inputs, tangents)
// inside a DualLevel: J·t in one forward pass, no graph kept. With create_graph=true (the
// results must be differentiable again; forward-mode tangents carry no history) or inside
// an active DualLevel (levels do not nest), they fall back to Note [jvp by double vjp].
//
// Note [jvp by double vjp]: jvp uses the "double backward" trick: with a dummy cotangent u (zeros that
// require grad), g(u) = vjp(f, x, u) = Jᵀu is linear in u, and grad(g, u, t) = J·t. That
// costs one forward, one backward with create_graph, and one backward through the
// backward graph. detail::Linearization below is the one place that chooses how J·t is
// computed: jvp and jacobian's forward mode both go through it, so switching it to forward
// mode switches both.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "ag/autograd.hpp"
#include "ag/forward_ad.hpp"
#include "ag/tensor.hpp"

namespace ag {

// f for vjp and jvp: several tensors in, several out (libtorch's tensor_list).
using MultiFunction = std::function<tensor_list(const tensor_list&)>;
// f for hvp: several tensors in, one scalar out.
using ScalarFunction = std::function<Tensor(const tensor_list&)>;
// f for jacobian and hessian: one tensor in, one out.
using UnaryFunction = std::function<Tensor(const Tensor&)>;

// requires: v has one entry per output of f, of its shape and dtype; or v is empty and f
//           returns one one-element output (v = 1, as backward()'s implicit gradient).
// ensures: {f(inputs), vᵀ·J}: for each input i, sum over outputs o of v[o]·∂f_o/∂inputs[i],
//          of inputs[i]'s shape and dtype (zeros where f does not depend on it).
//          Cost: one forward, one backward.
std::pair<tensor_list, tensor_list> vjp(const MultiFunction& f, const tensor_list& inputs, const tensor_list& v = {},
                                        bool create_graph = false);

// requires: tangents has one entry per input, of its shape and dtype; or tangents is
//           empty and there is one one-element input (tangent 1).
// ensures: {f(inputs), J·t}: for each output o, sum over inputs i of ∂f_o/∂inputs[i]·t[i],
//          of output o's shape and dtype. Cost (Note [jvp by forward mode]): one forward
//          pass carrying tangents; with create_graph, one forward, one backward with
//          create_graph, one double backward (Note [jvp by double vjp]).
std::pair<tensor_list, tensor_list> jvp(const MultiFunction& f, const tensor_list& inputs,
                                        const tensor_list& tangents = {}, bool create_graph = false);

// requires: f returns one one-element tensor (else ag::Error); v as jvp's tangents.
// ensures: {{f(inputs)}, H·v} with H the Hessian of f over all inputs (the blocks
//          ∂²f/∂inputs[i]∂inputs[j]); entry i has inputs[i]'s shape. Cost: one forward, one
//          backward with create_graph, one double backward (torch.autograd.functional.hvp;
//          H is symmetric, so this is also vᵀH).
std::pair<tensor_list, tensor_list> hvp(const ScalarFunction& f, const tensor_list& inputs, const tensor_list& v,
                                        bool create_graph = false);

// How jacobian computes its entries. Reverse: one vjp per output element (m backward
// passes after one forward). Forward: one J·e_k per input element (n of them; with
// Note [jvp by double vjp] that is one backward with create_graph, then n double
// backwards). Auto: Forward when the function has fewer input than output elements
// (n < m), else Reverse — a double backward costs more than a backward, so ties go to
// Reverse.
enum class JacobianMode { Auto, Reverse, Forward };

// requires: x a defined floating tensor; f(x) a defined floating tensor.
// ensures: J of shape f(x).shape() + x.shape() and x's dtype, J[o..., i...] = ∂f(x)[o...]/∂x[i...];
//          zeros where f(x) does not depend on x.
Tensor jacobian(const UnaryFunction& f, const Tensor& x, JacobianMode mode = JacobianMode::Auto,
                bool create_graph = false);

// requires: x a defined floating tensor; f(x) a one-element floating tensor (else ag::Error).
// ensures: H of shape x.shape() + x.shape(), H[i..., j...] = ∂²f/∂x[i...]∂x[j...]: the
//          Jacobian of the gradient, by n double-backward passes after one backward with
//          create_graph; zeros where f is (at most) linear in x.
Tensor hessian(const UnaryFunction& f, const Tensor& x, bool create_graph = false);

// ---- once_differentiable ------------------------------------------------------------------
// For the backward of a custom ag::Function that computes its gradients outside autograd
// (raw loops over data_ptr): end backward with
//
//   return ag::once_differentiable(ctx, {grad_x, grad_y}, grads);
//
// where `grads` are the gradients backward received. Without create_graph it returns the
// list as is. Under create_graph=true, each defined gradient that autograd did not record
// is given a node ("DelayedError") that throws ag::Error naming the Function when a second
// backward reaches it, instead of a silently zero second derivative (PyTorch's
// @once_differentiable). Its edges lead to what the gradient depends on: the incoming
// gradients and the saved tensors that require grad.
//
// A custom Function's node applies the same rule on its own when it can tell: under
// create_graph, a gradient it returns that does not require grad although a gradient it
// received does was not computed with ag ops (backward is linear in the incoming gradient).
tensor_list once_differentiable(const AutogradContext* ctx, tensor_list grads_out, const tensor_list& grads_in);

namespace detail {

// Wraps every defined entry of `outs` that does not require grad in a DelayedError node
// whose edges lead to the entries of `depends_on` that require grad (nothing is wrapped
// when none does). `op` names the node whose derivative is missing, for the message.
tensor_list not_differentiable_twice(const std::string& op, tensor_list outs, const tensor_list& depends_on);

// Note [jvp by double vjp]: J·t of f at one point. The constructor evaluates f (once);
// apply() maps a tangent list to J·t, as many times as needed. Today apply() is a backward
// through the recorded graph of vjp(f, x, u) with respect to the dummy cotangent u. A
// forward-mode implementation keeps the same interface: the constructor keeps f and
// the inputs (and evaluates f for outputs()), and apply() without create_graph runs f on
// make_dual(inputs, tangents) inside a DualLevel and returns the outputs' tangents (Note
// [jvp by forward mode]).
class Linearization {
 public:
  // inputs: prepared inputs (leaves or views that require grad). op names the caller in
  // error messages. Throws ag::Error when f returns no tensor, an undefined or a
  // non-floating one.
  Linearization(const MultiFunction& f, const tensor_list& inputs, const char* op);
  // f(inputs), with history.
  const tensor_list& outputs() const { return outputs_; }
  // requires: one tangent per input, of its shape and dtype (checked by the callers).
  // ensures: one J·t per output (zeros where the output does not depend on the inputs).
  // retain: keep the graph for another apply().
  tensor_list apply(const tensor_list& tangents, bool retain, bool create_graph) const;

 private:
  void record_vjps() const;

  MultiFunction f_;               // for forward mode's passes
  tensor_list inputs_;            // the differentiated inputs
  tensor_list outputs_;           // f's outputs
  const char* op_;
  mutable bool recorded_ = false;  // the members below are built by the first apply()
  mutable tensor_list dummies_;    // u, one per output that requires grad
  mutable tensor_list vjps_;       // Jᵀu per input, recorded with create_graph (undefined: no dependence)
};

}  // namespace detail

}  // namespace ag
