// How an op records its derivative. Internal to autograd/ops.
//
// Every op file follows one pattern (flashlight's, in C++): compute the forward result,
// then, if any input requires grad, call record() with the node's name (PyTorch's, which also names the forward op for
// error messages: "MulBackward0" was made by "mul"; see Node::forward_op), the inputs, what
// backward must keep, and the derivative as a lambda right beside the forward code:
//
//   Tensor out = <forward>;
//   if (needs_grad(a, b))
//     record(out, "MulBackward0", {a, b}, {save(a), save(b)},
//            [](const BackwardCtx& c, const Tensor& g) -> tensor_list {
//              return {c.needs(0) ? g * c.saved(1) : Tensor(), ...};
//            });
//
// Saved tensors are listed explicitly (never captured in the lambda), so that the engine
// can free them after the node ran and detect in-place changes (SavedVariable). Values
// that are not tensors (shapes, scalars) are captured by the lambda. Derivatives are
// written with ag ops, so with create_graph=true they are recorded in turn.
#pragma once

#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/detail/small_vector.hpp"
#include "ag/forward_ad.hpp"
#include "ag/ops.hpp"
#include "runtime/pool.hpp"

namespace ag::detail {

// What a derivative lambda returns: one gradient per input, in the node's own frame (no
// heap allocation for up to three inputs; Node::apply_one_to).
using Grads = SmallVector<Tensor, 3>;

// What a derivative lambda sees: the saved tensors and which inputs need a gradient.
// Forward mode's generic rule (Note [Forward AD design]) calls the lambda without a node:
// then fw_saved holds the saved tensors (detached) and fw_needs which inputs carry a tangent.
struct BackwardCtx {
  const Node* node;
  const SavedVariable* saved_vars;
  const Tensor* fw_saved = nullptr;
  const std::vector<bool>* fw_needs = nullptr;
  // Without create_graph nothing is recorded, so a saved output needs no grad_fn back.
  Tensor saved(size_t i) const {
    return fw_needs ? fw_saved[i] : saved_vars[i].unpack(node, GradMode::is_enabled());
  }
  bool needs(size_t i) const { return fw_needs ? (*fw_needs)[i] : node->needs_input_grad(i); }
};

// The node record() makes. Its edges and saved tensors live in the same allocation as the
// node (Note [Cheap nodes] in ag/autograd.hpp): make_pooled_trailing hands the space
// after it, record_node builds them there, ~LambdaNode and ~Node destroy them.
template <class F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, F fn) : fn_(std::move(fn)), name_(name) {}
  ~LambdaNode() override {
    for (uint32_t i = num_saved_; i-- > 0;) saved_[i].~SavedVariable();
  }
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override { return apply_one(std::move(grads[0])); }
  // The gradient is not moved out: the engine frees it after release_variables(), see
  // Note [Free order in backward] in engine/engine.cpp.
  tensor_list apply_one(Tensor&& grad) override {
    auto r = fn_(BackwardCtx{this, saved_}, grad);
    if constexpr (std::is_same_v<decltype(r), tensor_list>) return r;
    else return tensor_list(std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  }
  size_t apply_one_to(Tensor&& grad, Tensor* out, size_t n_out) override {
    auto r = fn_(BackwardCtx{this, saved_}, grad);
    return move_gradients(r, out, n_out);
  }
  void prefetch_saved() const override {
    for (uint32_t i = 0; i < num_saved_; ++i) saved_[i].prefetch();
  }
  void release_variables() override {
    for (uint32_t i = 0; i < num_saved_; ++i) saved_[i].reset();
    if (num_saved_ > 0) mark_saved_released();
  }

  SavedVariable* saved_ = nullptr;  // in the node's allocation, after its edges
  uint32_t num_saved_ = 0;

 private:
  [[no_unique_address]] F fn_;  // most derivative lambdas capture a few words, or nothing
  const char* name_;
};

// An entry of record()'s input list: a reference, so that listing inputs copies no
// handle. The list is a braced argument of record(), so a temporary in it lives until
// record() returns.
struct InputRef {
  const Tensor* t;
  InputRef(const Tensor& x) : t(&x) {}  // NOLINT: implicit, for {a, b}
  operator const Tensor&() const { return *t; }  // NOLINT
};

// An entry of record()'s save list: an input tensor, or the op's own output. Like
// InputRef it refers to the tensor, valid for the duration of the record() call.
struct Save {
  const Tensor* tensor = nullptr;
  bool is_output = false;
};
inline Save save(const Tensor& t) { return Save{&t, false}; }
// t only when `keep` (PyTorch saves a product's other factor only for an input that needs
// a gradient): x * c with a constant c saves c alone, not x. c.saved(i) is then undefined.
inline Save save_if(bool keep, const Tensor& t) {
  static const Tensor kNothing;
  return Save{keep ? &t : &kNothing, false};
}
inline Save save_output() { return Save{nullptr, true}; }

// True when the op must call record(): an input requires grad (grad mode on), or a dual
// level is active and an input carries a tangent (Note [Forward AD design]).
template <class... T>
bool needs_grad(const Tensor& a, const T&... rest) {
  if (GradMode::is_enabled() && ((a.defined() && a.requires_grad()) || ((rest.defined() && rest.requires_grad()) || ...)))
    return true;
  return fw_active() && (has_tangent(a) || (has_tangent(rest) || ...));
}
inline bool needs_grad_list(const tensor_list& ts) {
  if (GradMode::is_enabled())
    for (const auto& t : ts)
      if (t.defined() && t.requires_grad()) return true;
  if (fw_active())
    for (const auto& t : ts)
      if (has_tangent(t)) return true;
  return false;
}
template <class Inputs>
bool any_requires_grad(const Inputs& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// ---- forward mode (Note [Forward AD design]) ---------------------------------------------
// No explicit JVP rule: use the generic one.
struct NoJvp {};

// x + y where either may be undefined (an input without tangent contributes nothing).
inline Tensor fw_add(const Tensor& x, const Tensor& y) {
  if (!x.defined()) return y;
  if (!y.defined()) return x;
  return x + y;
}

// The generic rule: J·t from the backward formula `fn`, linear in its incoming gradient.
template <class F, class Inputs>
Tensor fw_generic(const Tensor& out, const Inputs& inputs, std::initializer_list<Save> saved, F& fn,
                  const tensor_list& tans) {
  std::vector<Tensor> sv;
  sv.reserve(saved.size());
  for (const Save& s : saved) {
    const Tensor& t = s.is_output ? out : *s.tensor;
    sv.push_back(t.defined() ? t.detach() : Tensor());
  }
  std::vector<bool> needs(tans.size());
  for (size_t i = 0; i < tans.size(); ++i) needs[i] = tans[i].defined();
  (void)inputs;
  AutoGradMode on(true);
  Tensor u = zeros_like(out);
  u.requires_grad_(true);
  BackwardCtx c{nullptr, nullptr, sv.data(), &needs};
  const auto gs = fn(c, u);  // Grads or tensor_list
  Tensor acc;
  for (size_t i = 0; i < tans.size() && i < gs.size(); ++i) {
    if (!tans[i].defined() || !gs[i].defined() || !gs[i].requires_grad()) continue;
    Tensor term = (gs[i] * tans[i]).sum();
    acc = acc.defined() ? acc + term : term;
  }
  Tensor r;
  if (acc.defined()) r = grad({acc}, {u}, {}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true)[0];
  NoGradGuard ng;
  if (!r.defined()) return zeros_like(out);
  r = r.detach();
  if (r.dtype() != out.dtype()) r = r.to(out.dtype());
  return r;
}

// Gives `out` its tangent, by `jvp` (Tensor(const tensor_list& tangents), undefined
// entries for inputs without tangent) or by the generic rule.
template <class F, class J, class Inputs>
void record_forward(Tensor& out, const Inputs& inputs, std::initializer_list<Save> saved, F& fn, J& jvp) {
  tensor_list tans;
  tans.reserve(inputs.size());
  bool any = false;
  for (const Tensor& t : inputs) {
    tans.push_back(has_tangent(t) ? fw_tangent(t) : Tensor());
    any = any || tans.back().defined();
  }
  if (!any) return;
  if (!out.is_floating_point()) return;
  FwSuspend suspend;
  Tensor t;
  if constexpr (std::is_same_v<std::decay_t<J>, NoJvp>) {
    t = fw_generic(out, inputs, saved, fn, tans);
  } else {
    NoGradGuard ng;
    t = jvp(tans);
    if (!t.defined()) t = zeros_like(out);
    if (t.shape() != out.shape()) t = t.expand(out.shape()).contiguous();
    if (t.dtype() != out.dtype()) t = t.to(out.dtype());
    t = t.detach();
  }
  set_fw_tangent(out, t);
}

// Makes `out` the result of a new node. See the file comment.
template <class F, class Inputs, class J = NoJvp>
void record_node(Tensor& out, const char* node_name, const Inputs& inputs,
                 std::initializer_list<Save> saved, F&& fn, J&& jvp = J{}) {
  if (fw_active()) [[unlikely]]
    record_forward(out, inputs, saved, fn, jvp);
  if (!any_requires_grad(inputs)) return;  // forward mode only: no reverse node
  using N = LambdaNode<std::decay_t<F>>;
  const size_t n_edges = inputs.size();
  void* tail = nullptr;
  std::shared_ptr<N> node = make_pooled_trailing<N>(n_edges * sizeof(Edge) + saved.size() * sizeof(SavedVariable),
                                                    &tail, node_name, std::forward<F>(fn));
  N* n = node.get();
  edge_list& edges = n->mutable_next_edges();
  edges.adopt(tail, n_edges);
  for (const Tensor& t : inputs) edges.push_back(t.defined() && t.requires_grad() ? gradient_edge(t) : Edge{});
  n->add_input_meta(out);
  detail::TensorImpl* o = out.unsafeGetTensorImpl();
  o->grad_fn = std::move(node);
  o->output_nr = 0;
  n->saved_ = reinterpret_cast<SavedVariable*>(static_cast<char*>(tail) + n_edges * sizeof(Edge));
  for (const Save& s : saved) {
    ::new (static_cast<void*>(n->saved_ + n->num_saved_)) SavedVariable(s.is_output ? out : *s.tensor, s.is_output);
    ++n->num_saved_;
  }
}

template <class F>
void record(Tensor& out, const char* node_name, std::initializer_list<InputRef> inputs,
            std::initializer_list<Save> saved, F&& fn) {
  record_node(out, node_name, inputs, saved, std::forward<F>(fn));
}
// With an explicit JVP rule: jvp(tangents) -> J·t, tangents[i] undefined when input i
// carries none (fw_add helps); run with grad mode off, only when a tangent is present.
template <class F, class J>
void record(Tensor& out, const char* node_name, std::initializer_list<InputRef> inputs,
            std::initializer_list<Save> saved, F&& fn, J&& jvp) {
  record_node(out, node_name, inputs, saved, std::forward<F>(fn), std::forward<J>(jvp));
}

}  // namespace ag::detail
