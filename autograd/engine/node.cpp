// Nodes, saved variables, grad mode and leaf accumulation: the data of the graph.
// The scheduler that runs it is engine.cpp.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "engine/engine.hpp"
#include "runtime/release.hpp"
#include "runtime/pool.hpp"

namespace ag {

namespace {
thread_local bool t_grad_enabled = true;

// Note [Cheap nodes] (autograd.hpp): the live-node count is the sum of one counter per
// thread, each written only by its thread (a plain store, no locked instruction), plus
// what exited threads left behind. Nodes die on other threads than they were made on,
// so a thread's counter may be negative; the sum is exact.
struct LiveCounters {
  std::mutex mutex;
  std::vector<const std::atomic<int64_t>*> threads;
  std::atomic<int64_t> exited{0};
};
LiveCounters& live_counters() {
  static LiveCounters* c = new LiveCounters;  // never destroyed: threads may outlive statics
  return *c;
}
// Trivially constructed and destroyed, so reaching it costs no guard and it stays usable
// while the thread exits; `Unregister` (made on first use) folds it into `exited` then.
struct ThreadCounter {
  std::atomic<int64_t> n;
  enum : uint8_t { kNew, kListed, kGone } state;
};
constinit thread_local ThreadCounter t_live{{0}, ThreadCounter::kNew};
struct Unregister {
  ~Unregister() {
    LiveCounters& c = live_counters();
    std::lock_guard<std::mutex> l(c.mutex);
    c.exited.fetch_add(t_live.n.load(std::memory_order_relaxed), std::memory_order_relaxed);
    c.threads.erase(std::find(c.threads.begin(), c.threads.end(), &t_live.n));
    t_live.state = ThreadCounter::kGone;
  }
};
constinit thread_local uint64_t t_next_sequence_nr = 0;  // per thread, as PyTorch's sequence numbers

[[gnu::noinline]] void count_live_slow(int64_t d) {
  if (t_live.state == ThreadCounter::kGone) {  // a node freed while this thread exits
    live_counters().exited.fetch_add(d, std::memory_order_relaxed);
    return;
  }
  thread_local Unregister unregister;
  {
    LiveCounters& c = live_counters();
    std::lock_guard<std::mutex> l(c.mutex);
    c.threads.push_back(&t_live.n);
    t_live.state = ThreadCounter::kListed;
  }
  (void)unregister;
  t_live.n.store(t_live.n.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

inline void count_live(int64_t d) {
  if (t_live.state != ThreadCounter::kListed) return count_live_slow(d);
  t_live.n.store(t_live.n.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}
}  // namespace

// ---- Node --------------------------------------------------------------------------------
Node::Node() : sequence_nr_(t_next_sequence_nr++) { count_live(1); }

Node::~Node() {
  for (Edge& e : next_edges_) detail::release_iteratively(std::move(e.function));  // Note [Iterative release]
  count_live(-1);
}

std::string Node::forward_op() const {
  if (*forward_op_) return forward_op_;
  std::string n = name();
  // Drop the last "Backward<digits>"; then CamelCase -> snake_case.
  const size_t b = n.rfind("Backward");
  if (b != std::string::npos && b > 0 && n.find_first_not_of("0123456789", b + 8) == std::string::npos) n.resize(b);
  std::string op;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    if (c >= 'A' && c <= 'Z') {
      if (i > 0) op += '_';
      op += static_cast<char>(c - 'A' + 'a');
    } else {
      op += c;
    }
  }
  return op;
}

uint32_t Node::add_input_meta(const Tensor& t) {
  const uint32_t n = inputs_.load(std::memory_order_relaxed);  // while recording: one thread
  AG_CHECK(n + 1 < kSavedReleased, "autograd: a node cannot have ", n + 1, " inputs");
  if (n == 0) {
    input_meta0_.shape = t.shape();
    input_meta0_.dtype = t.dtype();
  } else {
    extras().more_meta.push_back(InputMeta{t.shape(), t.dtype()});
  }
  inputs_.store(n + 1, std::memory_order_relaxed);
  return n;
}

tensor_list Node::apply_one(Tensor&& grad) {
  tensor_list grads(1);
  grads[0] = std::move(grad);
  return apply(std::move(grads));
}

size_t Node::apply_one_to(Tensor&& grad, Tensor* out, size_t n_out) {
  tensor_list r = apply_one(std::move(grad));
  return detail::move_gradients(r, out, n_out);
}

int64_t live_node_count() {
  LiveCounters& c = live_counters();
  std::lock_guard<std::mutex> l(c.mutex);
  int64_t sum = c.exited.load(std::memory_order_relaxed);
  for (const auto* n : c.threads) sum += n->load(std::memory_order_relaxed);
  return sum;
}

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
    weak_ = t.grad_fn();
    output_nr_ = t.output_nr();
  } else if (t.is_leaf() && t.requires_grad()) {
    // A leaf that requires grad: its gradients must reach that leaf's accumulator, found
    // through the leaf, so unpack gives the leaf itself while it lives. Held weakly: the
    // leaf can later lose requires_grad and take, by an in-place op, a history that leads
    // back here (a cycle, found by fuzz_ops); the data stays for when it is gone.
    data_ = t.detach();
    weak_ = t.impl_ptr();
  } else {
    // Anything else by its data and the history it has now, as PyTorch keeps a saved
    // input: by handle, a tensor that an in-place op later rebases (x.div_(x), or
    // x.add_(y) with y computed from x) would point to a node that saves that same handle:
    // a cycle that is never freed. A later in-place change bumps the shared version, and
    // unpack refuses it.
    data_ = t.detach();
    fn_ = t.grad_fn();
    output_nr_ = t.output_nr();
  }
}

void engine::fail_freed(const Node* owner) {
  fail("Trying to backward through the graph a second time (or directly access saved tensors after they "
       "have already been freed) in ", owner ? owner->name() : std::string("a node"),
       ". Saved intermediate values of the graph are freed when you call backward() or ag::grad(). "
       "Specify retain_graph=true if you need to backward through the graph a second time.");
}

Tensor SavedVariable::unpack(const Node* owner, bool with_history) const {
  if (was_reset_) engine::fail_freed(owner);
  if (!saved_) return Tensor();
  if (data_._version() != version_)
    fail("one of the variables needed for gradient computation has been modified by an inplace operation: [",
         owner ? owner->name() : std::string("?"), ", forward op ", owner ? owner->forward_op() : std::string("?"),
         "] a tensor of shape ", shape_str(data_.shape()), " is at version ", data_._version(),
         "; expected version ", version_, " instead.");
  if (is_output_ && with_history) {
    if (auto fn = weak_.lock()) return shallow_copy(data_, std::static_pointer_cast<Node>(std::move(fn)), output_nr_);
  }
  if (fn_ && with_history) return shallow_copy(data_, fn_, output_nr_);
  if (!is_output_ && with_history) {  // a leaf that requires grad, while it lives
    if (auto leaf = weak_.lock()) return Tensor(std::static_pointer_cast<detail::TensorImpl>(std::move(leaf)));
  }
  return data_;
}

// A hook may replace a gradient, not change what it is a gradient of: the replacement goes
// on to nodes (or .grad()) that expect the shape and dtype of the original. PyTorch refuses
// it too ("hook has changed the size of value").
void engine::check_hook_result(const Tensor& replacement, const Tensor& grad) {
  AG_CHECK(replacement.shape() == grad.shape(), "register_hook: a hook returned a gradient of shape ",
           shape_str(replacement.shape()), " for a gradient of shape ", shape_str(grad.shape()),
           " (a hook may replace the gradient, not change its shape)");
  AG_CHECK(replacement.dtype() == grad.dtype(), "register_hook: a hook returned a gradient of dtype ",
           dtype_name(replacement.dtype()), " for a gradient of dtype ", dtype_name(grad.dtype()),
           " (a hook may replace the gradient, not change its dtype)");
}

// ---- leaves --------------------------------------------------------------------------------
AccumulateGrad::AccumulateGrad(const std::shared_ptr<detail::TensorImpl>& leaf) : leaf_(leaf) {
  input_meta0_ = InputMeta{leaf->shape, leaf->dtype};
  inputs_.store(1, std::memory_order_relaxed);
  forward_op_ = "leaf";
}

tensor_list AccumulateGrad::apply(tensor_list&& grads) { return apply_one(std::move(grads[0])); }

tensor_list AccumulateGrad::apply_one(Tensor&& grad) {
  const std::shared_ptr<detail::TensorImpl> leaf_ptr = leaf_.lock();
  if (!leaf_ptr) return {};  // no handle to the leaf is left: nobody can read its gradient
  // As PyTorch's AccumulateGrad: a leaf that stopped requiring grad after this graph was
  // recorded takes no gradient, and one that took a history since is no longer a leaf.
  AG_CHECK(!leaf_ptr->grad_fn, "AccumulateGrad: the leaf of shape ", shape_str(leaf_ptr->shape),
           " has been moved into the graph interior (after this graph was recorded, it stopped requiring grad "
           "and took a history through an in-place op), so it cannot accumulate a gradient");
  if (!leaf_ptr->requires_grad) return {};
  Tensor g = std::move(grad);
  for (auto& hook : leaf_ptr->hooks) {
    Tensor r = hook(g);
    if (!r.defined()) continue;
    engine::check_hook_result(r, g);
    g = std::move(r);
  }
  if (!g.defined()) return {};
  detail::TensorImpl& leaf = *leaf_ptr;
  if (GradMode::is_enabled()) {
    // create_graph: the gradient keeps its history, and the sum records a node whose
    // edges come from gradient_edge(), which takes a leaf's grad_lock — this leaf's own
    // when it is a term (x.backward(x, create_graph) with x.grad() set). So the sum is
    // made outside the lock, and published only if no other accumulation replaced the
    // gradient meanwhile (else it is made again from the newer one).
    // A first gradient that someone else can see is cloned (differentiably, as PyTorch
    // does): .grad() must not alias a tensor the user holds, nor the leaf itself.
    std::shared_ptr<detail::TensorImpl> seen;
    const auto& gi = g.impl_ptr();
    const bool unique = gi.use_count() == 1 && gi->storage.use_count() == 1;
    for (;;) {
      Tensor sum = seen ? Tensor(seen) + g : unique ? g : g.clone();
      std::lock_guard<detail::SpinLock> lock(leaf.grad_lock);
      if (leaf.grad == seen) {
        leaf.grad = sum.impl_ptr();
        return {};
      }
      seen = leaf.grad;
    }
  }
  std::lock_guard<detail::SpinLock> lock(leaf.grad_lock);
  if (!leaf.grad) {
    // Steal the buffer when nobody else can see it; copy otherwise, so .grad() never
    // aliases a tensor the user holds.
    const auto& gi = g.impl_ptr();
    bool unique = gi.use_count() == 1 && gi->storage.use_count() == 1 && !gi->grad_fn && g.is_contiguous();
    leaf.grad = unique ? gi : g.clone().impl_ptr();
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
