// The scheduler that runs backward.
//
// Note [Dependency counting]
// One iterative walk from the roots discovers every node and counts its incoming edges.
// Each edge gets a fixed position in its target's inbox, in walk order. A node is ready
// when all its incoming edges have delivered (the count reaches zero); finishing a node
// writes each of its gradients into the inbox position of the edge and decrements the
// target's count atomically. Ready nodes run as oneTBB tasks in the shared arena; the
// task that makes exactly one node ready runs it inline, so a chain spawns no tasks.
//
// Note [Deterministic accumulation]
// Gradients arriving at one input are summed in inbox position order — the order of the
// walk — never in arrival order. So the bits of every gradient are the same whatever
// order, or thread, the producers ran in, for any number of threads.
//
// Note [Walk claims]
// The walk must map each Node to its task index. A hash map costs a cache miss per node;
// instead a walk claims a node by writing its own id into the node (compare-and-swap from
// 0) and keeps the index beside it. A node already claimed by another walk running at
// the same time (concurrent backward through shared nodes, e.g. a shared leaf's
// accumulator) goes to a small per-walk hash map instead. Claims are released when the
// backward ends, before any node can be destroyed.
//
// Note [Happens-before across tasks]
// oneTBB is not built with ThreadSanitizer, so the ordering its task queues give is
// invisible to it. The engine therefore states every hand-over in atomics it can see:
// a spawned task starts with an acquire load of its own dependency count (whose last
// decrement, by the spawning thread, released everything written for it), the main
// thread publishes the graph with a release store before the first task, and every
// task ends with a release increment that the main thread acquires after the wait.
// These cost one uncontended atomic per task, not per node.
//
// Note [Errors in backward]
// The first exception thrown by a node is kept; every task that starts after it returns
// at once, the task group is waited for, and the exception is rethrown on the thread
// that called backward. No thread is left waiting and no task outlives the call.
#include "engine/engine.hpp"

#include <tbb/task_group.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>

#include <atomic>
#include <exception>
#include <mutex>

#include "ag/ops.hpp"
#include "engine/parallel.hpp"

namespace ag {
struct NodeWalkAccess {
  static std::atomic<uint64_t>& owner(Node& n) { return n.walk_owner_; }
  static uint32_t& index(Node& n) { return n.walk_index_; }
};
}  // namespace ag

namespace ag::engine {
namespace {

std::atomic<uint64_t> g_next_walk_id{1};

// Feeds the head gradients to the roots.
class GraphRoot final : public Node {
 public:
  GraphRoot(const std::vector<Edge>& roots, tensor_list grads) : grads_(std::move(grads)) {
    next_edges_.assign(roots.begin(), roots.end());
    forward_op_ = "backward";
  }
  std::string name() const override { return "GraphRoot"; }
  tensor_list apply(tensor_list&&) override { return grads_; }

 private:
  tensor_list grads_;
};

// Node* -> task index, open addressing: one allocation for the whole walk, not one per node.
class NodeIndex {
 public:
  explicit NodeIndex(size_t expected) { grow(expected < 16 ? 32 : expected * 2); }
  // Returns (index, inserted).
  std::pair<uint32_t, bool> insert(const Node* n, uint32_t next) {
    if ((count_ + 1) * 2 > keys_.size()) grow(keys_.size() * 2);
    size_t i = hash(n) & mask_;
    while (keys_[i]) {
      if (keys_[i] == n) return {vals_[i], false};
      i = (i + 1) & mask_;
    }
    keys_[i] = n;
    vals_[i] = next;
    ++count_;
    return {next, true};
  }
  int64_t find(const Node* n) const {
    size_t i = hash(n) & mask_;
    while (keys_[i]) {
      if (keys_[i] == n) return vals_[i];
      i = (i + 1) & mask_;
    }
    return -1;
  }

 private:
  static size_t hash(const Node* n) {
    auto v = reinterpret_cast<uintptr_t>(n);
    return static_cast<size_t>((v >> 4) * 0x9E3779B97F4A7C15ull >> 16);
  }
  void grow(size_t cap) {
    size_t c = 1;
    while (c < cap) c <<= 1;
    std::vector<const Node*> k(c, nullptr);
    std::vector<uint32_t> v(c);
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i]) {
        size_t j = hash(keys_[i]) & (c - 1);
        while (k[j]) j = (j + 1) & (c - 1);
        k[j] = keys_[i];
        v[j] = vals_[i];
      }
    keys_.swap(k);
    vals_.swap(v);
    mask_ = c - 1;
  }
  std::vector<const Node*> keys_;
  std::vector<uint32_t> vals_;
  size_t mask_ = 0, count_ = 0;
};

constexpr uint32_t kNone = UINT32_MAX;

struct OutEdge {
  uint32_t target;  // task index, or kNone for an edge that needs no gradient
  uint32_t pos;     // position in the target's inbox
  uint32_t slot;    // which input of the target
};

struct GraphTask {
  // Per task, in flat arrays indexed by task (see Note [Dependency counting]).
  std::vector<Node*> nodes;
  std::vector<uint32_t> deps;          // incoming edges
  std::vector<uint32_t> out_first;     // into `outs`: where a task's next edges start
  std::vector<uint32_t> out_count;
  std::vector<uint32_t> inbox_begin;   // into `inbox`, size tasks + 1
  std::vector<OutEdge> outs;
  std::vector<uint32_t> inbox_slot;    // per inbox position: which input of the node
  std::vector<Tensor> inbox;           // per inbox position: the gradient delivered
  std::unique_ptr<std::atomic<uint32_t>[]> remaining;
  std::vector<uint8_t> run;            // 1: apply the node (all, unless capturing)
  std::vector<std::vector<std::pair<uint32_t, size_t>>> captures;  // sparse; only with captures

  bool keep_graph = false;
  bool create_graph = false;
  tensor_list captured;
  const uint64_t walk_id = g_next_walk_id.fetch_add(1, std::memory_order_relaxed);
  std::vector<Node*> claimed;

  std::atomic<uint64_t> published{0};  // Note [Happens-before across tasks]
  std::mutex error_mutex;
  std::exception_ptr error;
  std::atomic<bool> failed{false};

  void walk(Node* root) {
    NodeIndex index(16);  // only for nodes another walk has claimed (Note [Walk claims])
    nodes.reserve(1024);
    deps.reserve(1024);
    outs.reserve(1024);
    auto add = [&](Node* n) -> std::pair<uint32_t, bool> {
      const uint32_t next = static_cast<uint32_t>(nodes.size());
      auto& owner = NodeWalkAccess::owner(*n);
      uint64_t seen = owner.load(std::memory_order_acquire);
      if (seen == walk_id) return {NodeWalkAccess::index(*n), false};
      if (seen == 0 && owner.compare_exchange_strong(seen, walk_id, std::memory_order_acq_rel)) {
        NodeWalkAccess::index(*n) = next;
        claimed.push_back(n);
      } else {
        auto [i, inserted] = index.insert(n, next);
        if (!inserted) return {i, false};
      }
      nodes.push_back(n);
      deps.push_back(0);
      return {next, true};
    };
    std::vector<uint32_t> stack{add(root).first};
    while (!stack.empty()) {
      const uint32_t t = stack.back();
      stack.pop_back();
      const auto& next = nodes[t]->next_edges();
      out_first.resize(nodes.size());
      out_count.resize(nodes.size());
      out_first[t] = static_cast<uint32_t>(outs.size());
      out_count[t] = static_cast<uint32_t>(next.size());
      for (const Edge& e : next) {
        if (!e.valid()) {
          outs.push_back(OutEdge{kNone, 0, 0});
          continue;
        }
        auto [c, inserted] = add(e.function.get());
        outs.push_back(OutEdge{c, deps[c]++, e.input_nr});
        if (inserted) stack.push_back(c);
      }
    }
    const size_t n = nodes.size();
    inbox_begin.assign(n + 1, 0);
    for (size_t i = 0; i < n; ++i) inbox_begin[i + 1] = inbox_begin[i] + deps[i];
    inbox_slot.resize(inbox_begin[n]);
    for (const OutEdge& e : outs)
      if (e.target != kNone) inbox_slot[inbox_begin[e.target] + e.pos] = e.slot;
    inbox.resize(inbox_begin[n]);
    remaining.reset(new std::atomic<uint32_t>[n]);
    for (size_t i = 0; i < n; ++i) remaining[i].store(deps[i], std::memory_order_relaxed);
    run.assign(n, 1);
    index_ = std::move(index);
  }

  // Finds a task by node after the walk (for captures).
  int64_t find(Node* n) {
    if (NodeWalkAccess::owner(*n).load(std::memory_order_acquire) == walk_id) return NodeWalkAccess::index(*n);
    return index_->find(n);
  }

  void release_claims() {
    for (Node* n : claimed) NodeWalkAccess::owner(*n).store(0, std::memory_order_release);
    claimed.clear();
  }
  ~GraphTask() { release_claims(); }

  // With captures, a node runs only if a captured edge lies below it.
  void mark_needed(const std::vector<Edge>& capture_edges) {
    const size_t n = nodes.size();
    std::vector<std::vector<uint32_t>> parents(n);
    for (uint32_t t = 0; t < n; ++t)
      for (uint32_t j = out_first[t]; j < out_first[t] + out_count[t]; ++j)
        if (outs[j].target != kNone) parents[outs[j].target].push_back(t);
    run.assign(n, 0);
    captures.assign(n, {});
    std::vector<uint32_t> stack;
    for (size_t i = 0; i < capture_edges.size(); ++i) {
      int64_t t = find(capture_edges[i].function.get());
      if (t < 0) continue;
      captures[t].emplace_back(capture_edges[i].input_nr, i);
      stack.push_back(static_cast<uint32_t>(t));
    }
    while (!stack.empty()) {
      uint32_t t = stack.back();
      stack.pop_back();
      for (uint32_t p : parents[t])
        if (!run[p]) {
          run[p] = 1;
          stack.push_back(p);
        }
    }
  }

  // Note [Deterministic accumulation]: sum the inbox per input slot in position order.
  tensor_list gather(uint32_t t) {
    tensor_list grads(nodes[t]->num_inputs());
    uint32_t owned = 0;  // bit i: grads[i] is a buffer this task made (safe to add into)
    for (uint32_t p = inbox_begin[t]; p < inbox_begin[t + 1]; ++p) {
      Tensor& g = inbox[p];
      if (!g.defined()) continue;
      const uint32_t slot = inbox_slot[p];
      Tensor& acc = grads[slot];
      const bool mine = slot < 32 && (owned >> slot & 1u);
      if (!acc.defined()) {
        acc = std::move(g);
      } else if (create_graph || !mine) {
        acc = acc + g;  // a new buffer: the first gradient may be shared with its producer
        if (slot < 32) owned |= 1u << slot;
      } else {
        acc.add_(g);
      }
      g = Tensor();
    }
    return grads;
  }

  // Checks a node's outputs against what its targets expect, fixing broadcast shapes.
  static void validate(const Node& n, tensor_list& outs_) {
    const auto& edges = n.next_edges();
    if (outs_.size() != edges.size())
      fail("Function ", n.name(), " returned an incorrect number of gradients (expected ", edges.size(), ", got ",
           outs_.size(), ")");
    for (size_t i = 0; i < outs_.size(); ++i) {
      Tensor& g = outs_[i];
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

  // Runs one node; appends the tasks it made ready to `ready`.
  void run_task(uint32_t t, std::vector<uint32_t>& ready) {
    Node& n = *nodes[t];
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
    if (!captures.empty())
      for (auto& [slot, idx] : captures[t]) captured[idx] = grads[slot];
    if (!run[t]) return;

    bool any = grads.empty();  // the root takes no gradient and always runs
    for (const Tensor& g : grads) any |= g.defined();
    tensor_list out;
    if (any) {
      if (grads.size() > 1)  // several forward outputs: a missing gradient is a zero
        for (size_t i = 0; i < grads.size(); ++i)
          if (!grads[i].defined()) grads[i] = zeros(n.input_meta(i).shape, TensorOptions(n.input_meta(i).dtype));
      out = n.apply(std::move(grads));
      if (!keep_graph) n.release_variables();
      validate(n, out);
    } else {
      out.resize(n.num_outputs());  // nothing flowed in: nothing flows out
    }
    for (uint32_t j = out_first[t], i = 0; i < out_count[t]; ++j, ++i) {
      const OutEdge e = outs[j];
      if (e.target == kNone) continue;
      if (out[i].defined()) inbox[inbox_begin[e.target] + e.pos] = std::move(out[i]);
      if (remaining[e.target].fetch_sub(1, std::memory_order_acq_rel) == 1) ready.push_back(e.target);
    }
  }

  void record_error() {
    std::lock_guard<std::mutex> l(error_mutex);
    if (!error) error = std::current_exception();
    failed.store(true, std::memory_order_release);
  }

  // A task: run `t`, then keep running inline while exactly one node became ready;
  // spawn the others (Note [Dependency counting]).
  template <class Group>
  void process(uint32_t t, Group& group) {
    published.load(std::memory_order_acquire);
    remaining[t].load(std::memory_order_acquire);
    struct Done {
      std::atomic<uint64_t>& p;
      ~Done() { p.fetch_add(1, std::memory_order_release); }
    } done{published};
    AutoGradMode mode(create_graph);
    std::vector<uint32_t> ready;
    for (;;) {
      if (failed.load(std::memory_order_acquire)) return;
      ready.clear();
      try {
        run_task(t, ready);
      } catch (...) {
        record_error();
        return;
      }
      if (ready.empty()) return;
      for (size_t i = 1; i < ready.size(); ++i) {
        const uint32_t c = ready[i];
        group.run([this, c, &group] { process(c, group); });
      }
      t = ready[0];
    }
  }

  std::optional<NodeIndex> index_;
};

#if defined(__SANITIZE_THREAD__)
// Under ThreadSanitizer the tasks run on this plain pool instead of oneTBB: TBB is not
// instrumented, so TSan would report its internal hand-overs as races and drown real
// ones. The engine's own code — counting, inboxes, accumulation — is the same.
class SanitizerPool {
 public:
  explicit SanitizerPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(false); });
  }
  ~SanitizerPool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  void run(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> l(m_);
      q_.push_back(std::move(f));
      ++pending_;
    }
    cv_.notify_one();
  }
  void wait() { loop(true); }

 private:
  void loop(bool until_done) {
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !q_.empty() || (until_done && pending_ == 0); });
      if (until_done && pending_ == 0) return;
      if (q_.empty()) {
        if (stop_) return;
        continue;
      }
      auto f = std::move(q_.front());
      q_.pop_front();
      l.unlock();
      f();
      l.lock();
      if (--pending_ == 0) cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  size_t pending_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};
#endif

}  // namespace

tensor_list execute(const std::vector<Edge>& roots, const tensor_list& root_grads, bool keep_graph,
                    bool create_graph, const std::vector<Edge>& captures) {
  auto root = std::make_shared<GraphRoot>(roots, root_grads);
  GraphTask g;
  g.keep_graph = keep_graph;
  g.create_graph = create_graph;
  g.captured.resize(captures.size());
  g.walk(root.get());
  if (!captures.empty()) g.mark_needed(captures);
  g.run[0] = 1;  // the root is task 0

  if (get_num_threads() == 1 || g.nodes.size() < 3) {
    // One thread: the same scheduler without tasks.
    AutoGradMode mode(create_graph);
    std::vector<uint32_t> ready{0};
    while (!ready.empty()) {
      uint32_t t = ready.back();
      ready.pop_back();
      g.run_task(t, ready);
    }
  } else {
    g.published.store(1, std::memory_order_release);
#if defined(__SANITIZE_THREAD__)
    SanitizerPool pool(get_num_threads());
    pool.run([&] { g.process(0, pool); });
    pool.wait();
#else
    auto arena = detail::arena();
    arena->execute([&] {
      tbb::task_group group;
      group.run([&] { g.process(0, group); });
      group.wait();
    });
#endif
    g.published.load(std::memory_order_acquire);
    if (g.error) std::rethrow_exception(g.error);
  }
  return std::move(g.captured);
}

}  // namespace ag::engine
