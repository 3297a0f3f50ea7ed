// The scheduler that runs backward.
//
// Note [Dependency counting]
// One iterative walk from the roots discovers every node and counts its incoming edges.
// Each edge gets a fixed position in its target's inbox, in walk order. A node is ready
// when all its incoming edges have delivered (the count reaches zero); finishing a node
// writes each of its gradients into the inbox slot of the edge and decrements the
// target's count.
//
// Note [Deterministic accumulation]
// Gradients arriving at one input are summed in inbox position order — the order of the
// walk — never in arrival order. So the bits of every gradient are the same whatever
// order (or thread) the producers ran in.
#include "engine/engine.hpp"

#include <atomic>
#include <deque>
#include <unordered_map>

#include "ag/ops.hpp"

namespace ag::engine {
namespace {

// Feeds the head gradients to the roots.
class GraphRoot final : public Node {
 public:
  GraphRoot(const std::vector<Edge>& roots, tensor_list grads) : grads_(std::move(grads)) {
    next_edges_ = roots;
    forward_op_ = "backward";
  }
  std::string name() const override { return "GraphRoot"; }
  tensor_list apply(tensor_list&&) override { return grads_; }

 private:
  tensor_list grads_;
};

struct Task {
  Node* node = nullptr;
  int32_t deps = 0;                          // incoming edges found by the walk
  std::atomic<int32_t> remaining{0};         // edges not delivered yet
  std::vector<uint32_t> inbox_slot;          // per incoming edge: which input of node
  std::vector<Tensor> inbox;                 // per incoming edge: the gradient delivered
  std::vector<std::pair<Task*, int32_t>> out;  // per next edge: target task and inbox position
  std::vector<Task*> parents;
  std::vector<std::pair<uint32_t, size_t>> captures;  // (input slot, index in result)
  bool run = true;
};

struct GraphTask {
  std::deque<Task> tasks;
  std::unordered_map<Node*, Task*> index;
  bool keep_graph = false;
  bool create_graph = false;
  tensor_list captured;

  Task* task_for(Node* n, std::vector<Task*>& stack) {
    auto [it, inserted] = index.try_emplace(n, nullptr);
    if (inserted) {
      tasks.emplace_back();
      it->second = &tasks.back();
      it->second->node = n;
      stack.push_back(it->second);
    }
    return it->second;
  }

  // Note [Dependency counting]: iterative, so a chain of millions of nodes is fine.
  Task* walk(Node* root) {
    std::vector<Task*> stack;
    Task* rt = task_for(root, stack);
    while (!stack.empty()) {
      Task* t = stack.back();
      stack.pop_back();
      const auto& edges = t->node->next_edges();
      t->out.reserve(edges.size());
      for (const Edge& e : edges) {
        if (!e.valid()) {
          t->out.emplace_back(nullptr, -1);
          continue;
        }
        Task* c = task_for(e.function.get(), stack);
        t->out.emplace_back(c, c->deps++);
        c->inbox_slot.push_back(e.input_nr);
        c->parents.push_back(t);
      }
    }
    for (Task& t : tasks) {
      t.remaining.store(t.deps, std::memory_order_relaxed);
      t.inbox.resize(t.deps);
    }
    return rt;
  }

  // With captures, a node runs only if a captured edge lies below it.
  void mark_needed(const std::vector<Edge>& captures) {
    for (Task& t : tasks) t.run = false;
    std::vector<Task*> stack;
    for (size_t i = 0; i < captures.size(); ++i) {
      auto it = index.find(captures[i].function.get());
      if (it == index.end()) continue;
      it->second->captures.emplace_back(captures[i].input_nr, i);
      stack.push_back(it->second);
    }
    while (!stack.empty()) {
      Task* t = stack.back();
      stack.pop_back();
      for (Task* p : t->parents)
        if (!p->run) {
          p->run = true;
          stack.push_back(p);
        }
    }
  }

  // Sums the inbox per input slot in position order (Note [Deterministic accumulation]).
  tensor_list gather(Task& t) {
    tensor_list grads(t.node->num_inputs());
    std::vector<bool> owned(grads.size(), false);
    for (int32_t p = 0; p < t.deps; ++p) {
      Tensor& g = t.inbox[p];
      if (!g.defined()) continue;
      Tensor& acc = grads[t.inbox_slot[p]];
      if (!acc.defined()) {
        acc = std::move(g);
      } else if (create_graph || !owned[t.inbox_slot[p]]) {
        acc = acc + g;  // a new buffer; the first gradient may be shared with its producer
        owned[t.inbox_slot[p]] = true;
      } else {
        acc.add_(g);
      }
      g = Tensor();
    }
    return grads;
  }

  // Checks a node's outputs against what its targets expect, fixing broadcast shapes.
  static void validate(const Node& n, tensor_list& outs) {
    const auto& edges = n.next_edges();
    if (outs.size() != edges.size())
      fail("Function ", n.name(), " returned an incorrect number of gradients (expected ", edges.size(),
           ", got ", outs.size(), ")");
    for (size_t i = 0; i < outs.size(); ++i) {
      Tensor& g = outs[i];
      if (!edges[i].valid() || !g.defined()) continue;
      const InputMeta& m = edges[i].function->input_meta(edges[i].input_nr);
      if (g.shape() != m.shape) {
        try {
          g = sum_to(g, m.shape);
        } catch (const Error&) {
          fail("Function ", n.name(), " returned an invalid gradient at index ", i, " - got ", shape_str(g.shape()),
               " but expected shape compatible with ", shape_str(m.shape));
        }
      }
      if (g.dtype() != m.dtype) g = g.to(m.dtype);
    }
  }

  void run_task(Task& t, std::vector<Task*>& ready) {
    Node& n = *t.node;
    tensor_list grads = gather(t);
    // Hooks on the gradients this node receives (tensor hooks, retain_grad).
    for (auto& h : n.pre_hooks()) {
      Tensor& g = grads[h.input_nr];
      if (!g.defined()) continue;
      Tensor r = h.fn(g);
      if (r.defined()) g = std::move(r);
    }
    for (auto& [slot, weak] : n.retained()) {
      auto impl = weak.lock();
      if (!impl || !grads[slot].defined()) continue;
      std::lock_guard<detail::SpinLock> lock(impl->grad_lock);
      if (!impl->grad) impl->grad = (create_graph ? grads[slot] : grads[slot].clone()).impl_ptr();
      else if (create_graph) impl->grad = (Tensor(impl->grad) + grads[slot]).impl_ptr();
      else Tensor(impl->grad).add_(grads[slot]);
    }
    for (auto& [slot, idx] : t.captures) captured[idx] = grads[slot];
    if (!t.run) return;

    bool any = grads.empty();  // the root takes no gradient and always runs
    for (const Tensor& g : grads) any |= g.defined();
    tensor_list outs;
    if (any) {
      if (grads.size() > 1)  // several outputs: a missing gradient is a zero
        for (size_t i = 0; i < grads.size(); ++i)
          if (!grads[i].defined()) grads[i] = zeros(n.input_meta(i).shape, TensorOptions(n.input_meta(i).dtype));
      outs = n.apply(std::move(grads));
      if (!keep_graph) n.release_variables();
      validate(n, outs);
    } else {
      outs.resize(n.num_outputs());  // nothing flowed in: nothing flows out
    }
    for (size_t i = 0; i < t.out.size(); ++i) {
      auto [c, pos] = t.out[i];
      if (!c) continue;
      if (outs[i].defined()) c->inbox[pos] = std::move(outs[i]);
      if (c->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) ready.push_back(c);
    }
  }
};

}  // namespace

tensor_list execute(const std::vector<Edge>& roots, const tensor_list& root_grads, bool keep_graph,
                    bool create_graph, const std::vector<Edge>& captures) {
  auto root = std::make_shared<GraphRoot>(roots, root_grads);
  GraphTask g;
  g.keep_graph = keep_graph;
  g.create_graph = create_graph;
  g.captured.resize(captures.size());
  Task* rt = g.walk(root.get());
  if (!captures.empty()) g.mark_needed(captures);
  rt->run = true;

  AutoGradMode mode(create_graph);
  std::vector<Task*> ready{rt};
  while (!ready.empty()) {
    Task* t = ready.back();
    ready.pop_back();
    g.run_task(*t, ready);
  }
  return std::move(g.captured);
}

}  // namespace ag::engine
