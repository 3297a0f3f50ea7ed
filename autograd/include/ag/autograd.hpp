// Reverse-mode autograd: graph nodes, grad mode, ag::grad and user-defined Functions.
//
// What it represents: every differentiable op run with GradMode enabled on an input that
// requires grad creates a Node — the backward of that op — whose edges point at the
// nodes of its inputs. Tensor::backward and ag::grad hand gradients through that graph
// (see engine/engine.cpp for the scheduler and Note [Deterministic accumulation]).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ag/tensor.hpp"

namespace ag {

class Node;

namespace detail {
// Graph bookkeeping (edges, metadata, saved tensors) goes through tbbmalloc, like the
// tensors themselves (see tensor/pool.hpp for why); this adapter keeps TBB out of the headers.
void* pool_allocate(size_t bytes);
void pool_deallocate(void* p) noexcept;
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { pool_deallocate(p); }
  friend bool operator==(const PoolAllocator&, const PoolAllocator&) { return true; }
  friend bool operator!=(const PoolAllocator&, const PoolAllocator&) { return false; }
};
}  // namespace detail

// An edge of the backward graph: gradient input `input_nr` of `function`.
struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;
  bool valid() const { return function != nullptr; }
};

// Shape and dtype of one gradient a node receives (the forward output it belongs to).
struct InputMeta {
  Shape shape;
  Dtype dtype = kFloat32;
};

using edge_list = std::vector<Edge, detail::PoolAllocator<Edge>>;

// A tensor saved for backward. It remembers the storage version at save time: unpacking
// after an in-place change of that tensor throws ag::Error naming the node. Outputs of a
// node are saved without their grad_fn (which would be a cycle) and get it back on unpack.
class SavedVariable {
 public:
  SavedVariable() = default;
  SavedVariable(const Tensor& t, bool is_output);
  Tensor unpack(const Node* owner) const;
  void reset() { data_ = Tensor(); weak_fn_.reset(); was_reset_ = true; }
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  std::weak_ptr<Node> weak_fn_;  // outputs only
  uint32_t output_nr_ = 0;
  uint32_t version_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
  bool was_reset_ = false;
  bool saved_ = false;
};

// A node of the backward graph.
class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual std::string name() const = 0;
  // Receives one gradient per forward output (undefined ones are materialised as zeros
  // when the node has several) and returns one per edge (undefined: no gradient).
  virtual tensor_list apply(tensor_list&& grads) = 0;
  // Frees what the node saved for backward; called after it ran unless retain_graph.
  virtual void release_variables() {}

  const edge_list& next_edges() const { return next_edges_; }
  edge_list& mutable_next_edges() { return next_edges_; }
  size_t num_outputs() const { return next_edges_.size(); }
  size_t num_inputs() const { return input_meta_.size(); }
  const InputMeta& input_meta(size_t i) const { return input_meta_[i]; }
  uint32_t add_input_meta(const Tensor& t);
  uint64_t sequence_nr() const { return sequence_nr_; }
  // Whether the gradient for forward input i is needed (its edge leads somewhere).
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }

  // Hooks on the gradients this node receives (tensor hooks and retain_grad of non-leaves).
  struct PreHook {
    uint32_t input_nr;
    std::function<Tensor(const Tensor&)> fn;
  };
  std::vector<PreHook>& pre_hooks() { return pre_hooks_; }
  std::vector<std::pair<uint32_t, std::weak_ptr<detail::TensorImpl>>>& retained() { return retained_; }

  // Which forward op made this node, for error messages (e.g. "mul").
  const char* forward_op() const { return forward_op_; }
  void set_forward_op(const char* op) { forward_op_ = op; }

 protected:
  edge_list next_edges_;
  std::vector<InputMeta, detail::PoolAllocator<InputMeta>> input_meta_;
  std::vector<PreHook> pre_hooks_;
  std::vector<std::pair<uint32_t, std::weak_ptr<detail::TensorImpl>>> retained_;
  uint64_t sequence_nr_;
  const char* forward_op_ = "";

 private:
  friend struct NodeWalkAccess;
  // Which backward walk has claimed this node, and its index there (engine.cpp,
  // Note [Walk claims]). 0 = unclaimed.
  std::atomic<uint64_t> walk_owner_{0};
  uint32_t walk_index_ = 0;
};

// The node that accumulates gradients into a leaf's .grad().
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<detail::TensorImpl> leaf);
  std::string name() const override { return "AccumulateGrad"; }
  tensor_list apply(tensor_list&& grads) override;
  const std::shared_ptr<detail::TensorImpl>& variable() const { return leaf_; }

 private:
  std::shared_ptr<detail::TensorImpl> leaf_;
};

// ---- grad mode ----------------------------------------------------------------------
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};

// RAII: no graph is recorded while it lives (restores the previous mode).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};
class AutoGradMode {
 public:
  explicit AutoGradMode(bool on) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(on); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

// ---- running backward ------------------------------------------------------------------
// Gradients of `outputs` with respect to `inputs`, returned instead of accumulated.
tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs = {},
                 std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                 bool allow_unused = false);
// backward of several roots at once (what Tensor::backward calls).
void backward(const tensor_list& tensors, const tensor_list& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

// Threads for the backward scheduler and large kernels (default: hardware threads,
// or env AG_NUM_THREADS).
void set_num_threads(int n);
int get_num_threads();

// Number of Node objects alive in the process (for leak tests).
int64_t live_node_count();

// The edge through which gradient flows into `t`: its grad_fn, or its leaf accumulator.
Edge gradient_edge(const Tensor& t);

// ---- user-defined functions (libtorch's torch::autograd::Function) ------------------------
class AutogradContext {
 public:
  void save_for_backward(const tensor_list& tensors);
  tensor_list get_saved_variables() const;
  void mark_non_differentiable(const tensor_list& outputs);
  bool needs_input_grad(size_t i) const;
  // Free-form values kept for backward, as libtorch's ctx->saved_data.
  std::vector<double> saved_data;

  // Internal, filled in by the library around forward and backward.
  std::vector<SavedVariable> saved_;
  tensor_list to_save_;
  tensor_list non_differentiable_;
  const Node* node_ = nullptr;
  std::vector<bool> needs_input_grad_;
  bool released_ = false;
};

namespace detail {
// Collects the Tensor arguments of a Function::apply call.
inline void collect_tensors(tensor_list&) {}
template <class A, class... R>
void collect_tensors(tensor_list& out, const A& a, const R&... rest) {
  if constexpr (std::is_same_v<std::decay_t<A>, Tensor>) out.push_back(a);
  else if constexpr (std::is_same_v<std::decay_t<A>, tensor_list>) out.insert(out.end(), a.begin(), a.end());
  collect_tensors(out, rest...);
}
// Wires a Function's outputs into the graph. Implemented in engine/function.cpp.
using BackwardFn = std::function<tensor_list(AutogradContext*, tensor_list)>;
tensor_list wrap_function_outputs(const char* name, const tensor_list& inputs, tensor_list outputs,
                                  std::shared_ptr<AutogradContext> ctx, BackwardFn backward);
}  // namespace detail

template <class Derived>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    tensor_list inputs;
    detail::collect_tensors(inputs, args...);
    auto ctx = std::make_shared<AutogradContext>();
    using Out = decltype(Derived::forward(ctx.get(), std::forward<Args>(args)...));
    tensor_list outs;
    {
      AutoGradMode off(false);  // forward of a custom function records no graph itself
      if constexpr (std::is_same_v<Out, Tensor>) outs = {Derived::forward(ctx.get(), std::forward<Args>(args)...)};
      else outs = Derived::forward(ctx.get(), std::forward<Args>(args)...);
    }
    outs = detail::wrap_function_outputs(typeid(Derived).name(), inputs, std::move(outs), ctx,
                                         [](AutogradContext* c, tensor_list g) { return Derived::backward(c, std::move(g)); });
    if constexpr (std::is_same_v<Out, Tensor>) return outs[0];
    else return outs;
  }
};

}  // namespace ag
