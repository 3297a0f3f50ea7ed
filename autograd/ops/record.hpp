// How an op records its derivative. Internal to autograd/ops.
//
// Every op file follows one pattern (flashlight's, in C++): compute the forward result,
// then, if any input requires grad, call record() with the node's name, the inputs, what
// backward must keep, and the derivative as a lambda right beside the forward code:
//
//   Tensor out = <forward>;
//   if (needs_grad(a, b))
//     record(out, "MulBackward0", "mul", {a, b}, {save(a), save(b)},
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
#include <string>
#include <utility>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "tensor/pool.hpp"

namespace ag::detail {

// What a derivative lambda sees: the saved tensors and which inputs need a gradient.
struct BackwardCtx {
  const Node* node;
  const std::vector<SavedVariable, PoolAllocator<SavedVariable>>* saved_vars;
  Tensor saved(size_t i) const { return (*saved_vars)[i].unpack(node); }
  bool needs(size_t i) const { return node->needs_input_grad(i); }
};

template <class F>
class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, F fn) : name_(name), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override {
    BackwardCtx c{this, &saved_};
    return fn_(c, grads[0]);
  }
  void release_variables() override {
    for (auto& s : saved_) s.reset();
  }
  std::vector<SavedVariable, PoolAllocator<SavedVariable>> saved_;

 private:
  const char* name_;
  F fn_;
};

// An entry of record()'s save list: an input tensor, or the op's own output.
struct Save {
  Tensor tensor;
  bool is_output = false;
};
inline Save save(const Tensor& t) { return Save{t, false}; }
inline Save save_output() { return Save{Tensor(), true}; }

inline bool needs_grad(const Tensor& a) { return a.defined() && a.requires_grad() && GradMode::is_enabled(); }
template <class... T>
bool needs_grad(const Tensor& a, const T&... rest) {
  return GradMode::is_enabled() && ((a.defined() && a.requires_grad()) || ((rest.defined() && rest.requires_grad()) || ...));
}
inline bool needs_grad_list(const tensor_list& ts) {
  if (!GradMode::is_enabled()) return false;
  for (const auto& t : ts)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

// Makes `out` the result of a new node. See the file comment.
template <class F, class Inputs>
void record_node(Tensor& out, const char* node_name, const char* op, const Inputs& inputs,
                 std::initializer_list<Save> saved, F&& fn) {
  auto node = make_pooled<LambdaNode<std::decay_t<F>>>(node_name, std::forward<F>(fn));
  auto& edges = node->mutable_next_edges();
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(t.defined() && t.requires_grad() ? gradient_edge(t) : Edge{});
  node->add_input_meta(out);
  node->set_forward_op(op);
  detail::TensorImpl* o = out.unsafeGetTensorImpl();
  o->grad_fn = node;
  o->output_nr = 0;
  node->saved_.reserve(saved.size());
  for (const Save& s : saved) node->saved_.emplace_back(s.is_output ? out : s.tensor, s.is_output);
}

template <class F>
void record(Tensor& out, const char* node_name, const char* op, std::initializer_list<Tensor> inputs,
            std::initializer_list<Save> saved, F&& fn) {
  record_node(out, node_name, op, inputs, saved, std::forward<F>(fn));
}

}  // namespace ag::detail
