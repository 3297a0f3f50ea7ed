// Nodes, saved variables, grad mode and leaf accumulation: the data of the graph.
// The scheduler that runs it is engine.cpp.
#include <atomic>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "engine/release.hpp"
#include "tensor/pool.hpp"

namespace ag {

namespace {
std::atomic<uint64_t> g_next_sequence_nr{0};
std::atomic<int64_t> g_live_nodes{0};
thread_local bool t_grad_enabled = true;
}  // namespace

// ---- Note [Iterative release] (see release.hpp) ----------------------------------------
void release_node(std::shared_ptr<Node>&& node) {
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  if (!node) return;
  pending.push_back(std::move(node));
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    n.reset();  // may run ~Node, which appends to `pending`
  }
  draining = false;
}

// ---- Node --------------------------------------------------------------------------------
Node::Node() : sequence_nr_(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {
  g_live_nodes.fetch_add(1, std::memory_order_relaxed);
}

Node::~Node() {
  for (Edge& e : next_edges_) release_node(std::move(e.function));
  g_live_nodes.fetch_sub(1, std::memory_order_relaxed);
}

uint32_t Node::add_input_meta(const Tensor& t) {
  input_meta_.push_back(InputMeta{t.shape(), t.dtype()});
  return static_cast<uint32_t>(input_meta_.size() - 1);
}

int64_t live_node_count() { return g_live_nodes.load(std::memory_order_relaxed); }

// ---- grad mode ---------------------------------------------------------------------------
bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }

// ---- SavedVariable ---------------------------------------------------------------------
namespace {
// A new TensorImpl over the same storage and geometry, with the given history.
Tensor shallow_copy(const Tensor& t, std::shared_ptr<Node> fn, uint32_t output_nr) {
  auto impl = detail::make_pooled<detail::TensorImpl>();
  const auto& src = *t.unsafeGetTensorImpl();
  impl->storage = src.storage;
  impl->offset = src.offset;
  impl->shape = src.shape;
  impl->strides = src.strides;
  impl->numel = src.numel;
  impl->dtype = src.dtype;
  impl->grad_fn = std::move(fn);
  impl->output_nr = output_nr;
  return Tensor(std::move(impl));
}
}  // namespace

SavedVariable::SavedVariable(const Tensor& t, bool is_output) {
  if (!t.defined()) return;
  saved_ = true;
  is_output_ = is_output;
  version_ = t._version();
  requires_grad_ = t.requires_grad();
  if (is_output) {
    // Keeping the output's grad_fn strongly would be a cycle (node -> output -> node).
    data_ = t.detach();
    weak_fn_ = t.grad_fn();
    output_nr_ = t.output_nr();
  } else if (t.is_leaf()) {
    data_ = t;  // gradients through a saved leaf must reach that leaf's accumulator
  } else {
    // A copy of the handle, so that a later change of t's history does not change ours.
    data_ = shallow_copy(t, t.grad_fn(), t.output_nr());
  }
}

Tensor SavedVariable::unpack(const Node* owner) const {
  if (was_reset_)
    fail("Trying to backward through the graph a second time (or directly access saved tensors after they "
         "have already been freed) in ", owner ? owner->name() : std::string("a node"),
         ". Saved intermediate values of the graph are freed when you call backward() or ag::grad(). "
         "Specify retain_graph=true if you need to backward through the graph a second time.");
  if (!saved_) return Tensor();
  if (data_._version() != version_)
    fail("one of the variables needed for gradient computation has been modified by an inplace operation: [",
         owner ? owner->name() : std::string("?"), ", forward op ", owner ? owner->forward_op() : "?",
         "] a tensor of shape ", shape_str(data_.shape()), " is at version ", data_._version(),
         "; expected version ", version_, " instead.");
  if (is_output_) {
    if (auto fn = weak_fn_.lock()) return shallow_copy(data_, std::move(fn), output_nr_);
  }
  return data_;
}

// ---- leaves --------------------------------------------------------------------------------
AccumulateGrad::AccumulateGrad(std::shared_ptr<detail::TensorImpl> leaf) : leaf_(std::move(leaf)) {
  input_meta_.push_back(InputMeta{leaf_->shape, leaf_->dtype});
  forward_op_ = "leaf";
}

tensor_list AccumulateGrad::apply(tensor_list&& grads) {
  Tensor g = std::move(grads[0]);
  for (auto& hook : leaf_->hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = std::move(r);
  }
  if (!g.defined()) return {};
  detail::TensorImpl& leaf = *leaf_;
  std::lock_guard<detail::SpinLock> lock(leaf.grad_lock);
  if (!leaf.grad) {
    if (GradMode::is_enabled()) {
      leaf.grad = g.impl_ptr();  // create_graph: the gradient keeps its history
    } else {
      // Steal the buffer when nobody else can see it; copy otherwise, so .grad() never
      // aliases a tensor the user holds.
      const auto& gi = g.impl_ptr();
      bool unique = gi.use_count() == 1 && gi->storage.use_count() == 1 && !gi->grad_fn && g.is_contiguous();
      leaf.grad = unique ? gi : g.clone().impl_ptr();
    }
  } else if (GradMode::is_enabled()) {
    leaf.grad = (Tensor(leaf.grad) + g).impl_ptr();
  } else {
    Tensor(leaf.grad).add_(g);
  }
  return {};
}

Edge gradient_edge(const Tensor& t) {
  detail::TensorImpl* impl = t.unsafeGetTensorImpl();
  if (impl->grad_fn) return Edge{impl->grad_fn, impl->output_nr};
  if (!impl->requires_grad) return Edge{};
  // One accumulator per leaf, shared by every use, so that fan-in is summed before it
  // reaches .grad().
  std::lock_guard<detail::SpinLock> lock(impl->grad_lock);
  std::shared_ptr<Node> acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = detail::make_pooled<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return Edge{std::move(acc), 0};
}

}  // namespace ag
