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

#include "ag/detail/small_vector.hpp"
#include "ag/tensor.hpp"
#include "ag/forward_ad.hpp"
#include "ag/threads.hpp"

namespace ag {

class Node;

namespace detail {
// Graph bookkeeping (edges, metadata, saved tensors) goes through tbbmalloc, like the
// tensors themselves (see runtime/pool.hpp for why); this adapter keeps TBB out of the
// headers. pool_allocate/pool_deallocate are declared in ag/detail/small_vector.hpp.
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

// Moves the gradients a node produced (a list of Tensor) into the engine's array: at most
// n_out of them. Returns how many there were, which the engine checks against n_out
// (Node::apply_one_to).
template <class List>
size_t move_gradients(List& produced, Tensor* out, size_t n_out) {
  for (size_t i = 0; i < produced.size() && i < n_out; ++i) out[i] = std::move(produced[i]);
  return produced.size();
}
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

// A node's edges. Nodes made by ops keep them in the node's own allocation (see
// ops/record.hpp); others on the heap. Indexable and iterable like a std::vector.
using edge_list = detail::SmallVector<Edge, 0>;

// A tensor saved for backward. It remembers the storage version at save time: unpacking
// after an in-place change of that tensor throws ag::Error naming the node. Outputs of a
// node are saved without their grad_fn (which would be a cycle) and get it back on unpack.
class SavedVariable {
 public:
  SavedVariable() = default;
  SavedVariable(const Tensor& t, bool is_output);
  // with_history=false skips giving a saved output its grad_fn back (a new handle): for
  // backward formulas run without create_graph, which record nothing.
  Tensor unpack(const Node* owner, bool with_history = true) const;
  void reset() { data_ = Tensor(); weak_.reset(); fn_.reset(); was_reset_ = true; }
  bool defined() const { return data_.defined(); }
  // Starts loading the saved tensor's header (and its reference count, which sits just
  // before it in one allocation) without waiting for it.
  void prefetch() const {
    if (const auto* impl = reinterpret_cast<const char*>(data_.unsafeGetTensorImpl())) {
      __builtin_prefetch(impl - 16, 1, 3);
      __builtin_prefetch(impl + 48, 1, 3);
    }
  }

 private:
  Tensor data_;
  // Outputs: their grad_fn (a Node); leaves that require grad: the leaf (a TensorImpl),
  // kept by data and this weak handle. One field for both keeps SavedVariable at 64 bytes.
  std::weak_ptr<void> weak_;
  std::shared_ptr<Node> fn_;  // inputs with history (kept by data + grad_fn, not by handle)
  uint32_t output_nr_ = 0;
  uint32_t version_ = 0;
  bool is_output_ = false;
  bool requires_grad_ = false;
  bool was_reset_ = false;
  bool saved_ = false;
};

// A node of the backward graph.
//
// Note [Cheap nodes]: an op makes one node per call, so the node is one allocation (the
// op's edges and saved tensors live in the same block, ops/record.hpp), keeps its single
// input's metadata inline, and allocates hooks only when a hook is registered. Its
// sequence number and the live-node count are per thread: no shared cache line is
// written per node.
class Node {
 public:
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual std::string name() const = 0;
  // Receives one gradient per forward output (undefined ones are materialised as zeros
  // when the node has several) and returns one per edge (undefined: no gradient).
  virtual tensor_list apply(tensor_list&& grads) = 0;
  // The engine's call for a node with one input: the same as apply({grad}) without
  // building the list. Nodes override it to skip that allocation.
  virtual tensor_list apply_one(Tensor&& grad);
  // The same as apply_one, writing into the engine's array instead of returning a list (a
  // heap allocation per node): at most n_out gradients go to out[0..n_out), and the return
  // is how many the node produced, which the engine checks against n_out. The default
  // calls apply_one; the nodes ops record (ops/record.hpp) build no list at all.
  virtual size_t apply_one_to(Tensor&& grad, Tensor* out, size_t n_out);
  // Frees what the node saved for backward; called after it ran unless retain_graph.
  virtual void release_variables() {}
  // A hint from the scheduler, shortly before apply: start loading the saved tensors'
  // headers into this thread's cache (Note [Prefetch the next node] in engine/engine.cpp).
  virtual void prefetch_saved() const {}
  // Whether release_variables freed tensors this node reads whenever it runs (the nodes of
  // built-in ops; a custom Function's node when its backward read them, since one that never
  // does may run again, as in libtorch): running it again fails. The engine looks before a backward runs anything, so that "backward a
  // second time" changes no .grad() (engine.cpp, Note [Freed graphs]).
  bool saved_released() const { return (inputs_.load(std::memory_order_relaxed) & kSavedReleased) != 0; }

  const edge_list& next_edges() const { return next_edges_; }
  edge_list& mutable_next_edges() { return next_edges_; }
  size_t num_outputs() const { return next_edges_.size(); }
  size_t num_inputs() const { return inputs_.load(std::memory_order_relaxed) & ~kSavedReleased; }
  const InputMeta& input_meta(size_t i) const { return i == 0 ? input_meta0_ : extras_->more_meta[i - 1]; }
  uint32_t add_input_meta(const Tensor& t);
  uint64_t sequence_nr() const { return sequence_nr_; }
  // Whether the gradient for forward input i is needed (its edge leads somewhere).
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }

  // Hooks on the gradients this node receives (tensor hooks and retain_grad of non-leaves).
  struct PreHook {
    uint32_t input_nr;
    std::function<Tensor(const Tensor&)> fn;
  };
  std::vector<PreHook>& pre_hooks() { return extras().pre_hooks; }
  std::vector<std::pair<uint32_t, std::weak_ptr<detail::TensorImpl>>>& retained() { return extras().retained; }
  // Whether any hook or retain_grad was registered (without allocating the lists).
  bool has_hooks() const { return extras_ && (!extras_->pre_hooks.empty() || !extras_->retained.empty()); }

  // Which forward op made this node, for error messages: the one set, else read from the
  // node's name as PyTorch forms it ("MulBackward0" -> "mul", "LogSoftmaxBackward0" ->
  // "log_softmax", "ReluBackwardBackward0" -> "relu_backward").
  std::string forward_op() const;
  void set_forward_op(const char* op) { forward_op_ = op; }

 protected:
  // What most nodes never need: metadata of inputs past the first, hooks.
  struct Extras {
    std::vector<InputMeta> more_meta;
    std::vector<PreHook> pre_hooks;
    std::vector<std::pair<uint32_t, std::weak_ptr<detail::TensorImpl>>> retained;
  };
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }

  // The fields the walk and the run read of every node come first, so that they share a
  // cache line with the vtable pointer: on a graph larger than the cache, lines touched
  // per node are what backward costs.
  edge_list next_edges_;

 private:
  friend struct NodeWalkAccess;
  // Which backward walk has claimed this node, and its index there (engine.cpp,
  // Note [Walk claims]). 0 = unclaimed.
  std::atomic<uint64_t> walk_owner_{0};
  uint32_t walk_index_ = 0;

 protected:
  // The number of inputs, and in its top bit saved_released(): a field of its own would
  // make every node 8 bytes larger, which costs a chain backward ~30 % (more cache lines
  // per node). Atomic because release_variables sets the bit while another thread's
  // backward may read the count; the count itself is fixed once the node is recorded.
  static constexpr uint32_t kSavedReleased = 1u << 31;
  std::atomic<uint32_t> inputs_{0};
  void mark_saved_released() {
    inputs_.store(inputs_.load(std::memory_order_relaxed) | kSavedReleased, std::memory_order_relaxed);
  }
  std::unique_ptr<Extras> extras_;
  const char* forward_op_ = "";
  uint64_t sequence_nr_;
  InputMeta input_meta0_;
};

// The node that accumulates gradients into a leaf's .grad(). It holds the leaf weakly: a
// leaf can later lose requires_grad and take a history through an in-place op that leads
// back to this node (x.requires_grad_(false); x.add_(x_used_before)), and a strong handle
// would then be a cycle that is never freed (found by fuzz_ops). A gradient for a leaf
// nobody holds any more is dropped: nothing could read it.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<detail::TensorImpl>& leaf);
  std::string name() const override { return "AccumulateGrad"; }
  tensor_list apply(tensor_list&& grads) override;
  tensor_list apply_one(Tensor&& grad) override;
  // The leaf, or null when no handle to it is left.
  std::shared_ptr<detail::TensorImpl> variable() const { return leaf_.lock(); }

 private:
  std::weak_ptr<detail::TensorImpl> leaf_;
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

// ---- anomaly detection ---------------------------------------------------------------
// While on, a backward checks every gradient a node returns, before it is handed on: one
// containing NaN or Inf makes the backward throw ag::Error naming the node and the forward
// op that recorded it ("Function 'SqrtBackward0' returned nan values in its 0th output
// (created by the forward op 'sqrt')"). The mode is process-wide, as PyTorch's
// AnomalyMode; each backward reads it once when it starts. Off (the default), it costs
// that one relaxed load. PyTorch checks NaN only; this checks Inf as well.
// What an interrupted backward leaves: the bad gradient reaches no node or .grad(); a
// leaf whose accumulator ran before the error keeps its (whole) new gradient, as in
// PyTorch; with several threads, which other branches had finished is up to the schedule.
void set_detect_anomaly(bool on);
bool is_anomaly_enabled();

// RAII: anomaly detection on while it lives (restores the previous mode).
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(is_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

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
  mutable bool saved_read_ = false;  // get_saved_variables() was called (Note [Freed graphs])
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
