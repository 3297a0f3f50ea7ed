// The scheduler that runs backward.
//
// Note [Dependency counting]
// One iterative walk from the roots discovers every node and counts its incoming edges.
// Each edge gets a fixed position in its target's inbox, in walk order. A node is ready
// when all its incoming edges have delivered (the count reaches zero); finishing a node
// writes each of its gradients into the inbox position of the edge and decrements the
// target's count atomically. Ready nodes run as oneTBB tasks in the shared arena; the
// task that makes exactly one node ready runs it inline, so a chain spawns no tasks.
// Task 0 is the root: no node, its edges are the roots, its outputs the head gradients.
// Everything per task sits in one array of Task (the node, where its edges and inbox
// start, its count), so running a node touches one entry, not one entry of each of
// eight arrays. A node with one input (nearly all) is gathered into one Tensor and
// called through Node::apply_one: no list of gradients is built.
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
// accumulator) goes to a small per-walk hash map instead, made only then. Claims (a flag
// in the Task) are released when the backward ends, before any node can be destroyed.
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
// Note [Running inline]
// Tasks cost: entering the arena, a task group, a spawn per extra ready node, atomics on
// every count. They pay only where two nodes can run at once and their kernels are big
// enough to be worth a thread. So the walk also notes whether any node has edges to two
// different nodes (else the graph is a chain: one node is ready at a time) and sums the
// elements of every node's gradient (its work, roughly). A chain, a graph whose work is
// under inline_work() elements, or one thread runs on the calling thread: the same
// scheduler — same inbox order, so the same bits — with plain counters and no tasks.
// The default, 2^15 elements, is about 10-30 us of elementwise work in all: less than a
// few task hand-overs cost. A training step of a small net (the 2-4-1 net: ~40 elements)
// therefore never enters the arena; an MLP on a batch (10^5 elements and more) does.
//
// Note [Reused bookkeeping]
// The walk's arrays (tasks, edges, inboxes, the stack) are kept per thread between
// backward calls and cleared, not freed, so a training step allocates none of them. A
// backward started while one runs on the same thread (from a hook or a custom Function)
// takes a second set. Sets grown past kKeepTasks are freed, so one ten-million-node graph
// does not pin its bookkeeping for the rest of the thread's life.
//
// Note [Errors in backward]
// The first exception thrown by a node is kept; every task that starts after it returns
// at once, the task group is waited for, and the exception is rethrown on the thread
// that called backward. No thread is left waiting and no task outlives the call.
//
// Note [Prefetch the next node]
// On the 2-vCPU machine a cache line written by one core costs the other ~250 ns to read
// (a ping-pong of one line: 480-560 ns round trip), and every line a worker touches in
// backward was written on the calling thread: forward made the nodes and saved tensors,
// the walk wrote the tasks and inboxes. A locked instruction on such a line (the target's
// count, a saved tensor's reference count) stalls for the whole transfer; in the wide
// graph the worker's `lock decl` on a target's count was 39% of run_task's own samples.
// So in parallel mode a task first asks for what the node after it will touch: the
// target's task entry and inbox slot (for writing), the first four lines of its node,
// the headers of its saved tensors (their reference counts are decremented when it runs),
// and the node after that (so its lines are there when its own saved tensors are asked
// for one node later). The loads then overlap with this node's kernel instead of
// following it. Measured (bench_threads --only wide, 30 pairs, six alternating runs of
// each binary): 2-thread speed-up 1.30-1.35x before, 1.35-1.44x with the task, inbox and
// node lines, 1.46-1.57x with the saved headers and the node after. The serial mode does
// not prefetch: on one thread the lines come from this core's own caches, and there it
// showed no gain in the same runs.
//
// Note [Free order in backward]
// A node's incoming gradient is freed after its saved tensors (release_variables), not
// before. A thread's buffer cache hands out the buffer freed last first, so the next
// gradient this thread makes reuses the incoming one: written by this thread, hot in its
// cache. The other order reused the saved tensor's buffer, written by forward on another
// thread, and writing it cost a transfer of each of its lines. (Measured together with
// the first prefetches above, not on its own.)
#include "engine/engine.hpp"

#include <tbb/task_group.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "ag/ops.hpp"
#include "runtime/parallel.hpp"

namespace ag {
struct NodeWalkAccess {
  static std::atomic<uint64_t>& owner(Node& n) { return n.walk_owner_; }
  static uint32_t& index(Node& n) { return n.walk_index_; }
};
}  // namespace ag

namespace ag::engine {
namespace {

std::atomic<uint64_t> g_next_walk_id{1};
std::atomic<int64_t> g_inline_work{int64_t{1} << 15};
std::atomic<bool> g_anomaly{false};  // Note [Anomaly detection]

// Note [Anomaly detection]
// With anomaly detection on (ag::DetectAnomalyGuard), every gradient a node returns is
// scanned for NaN and Inf before deliver() hands it on; a bad one throws, and the throw
// takes the path of Note [Errors in backward]: the gradient reaches no inbox and no
// .grad(). execute() reads the mode once, so off costs one relaxed load per backward.
template <class T>
int non_finite(const T* p, int64_t n) {  // 1: a NaN, 2: an Inf (the first found), 0: none
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return std::isnan(p[i]) ? 1 : 2;
  return 0;
}

void check_anomaly(const Node& n, const Tensor* out, size_t count) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < count; ++i) {
    const Tensor& g = out[i];
    if (!g.defined() || !g.is_floating_point() || g.numel() == 0) continue;
    const Tensor c = g.is_contiguous() ? g : g.contiguous();
    const int bad = c.dtype() == Dtype::Float64 ? non_finite(c.data_ptr<double>(), c.numel())
                                                : non_finite(c.data_ptr<float>(), c.numel());
    if (bad)
      fail("Function '", n.name(), "' returned ", bad == 1 ? "nan" : "inf", " values in its ", i,
           "th output (created by the forward op '", n.forward_op(), "'); anomaly detection is on");
  }
}

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

// One node of the walk (Note [Dependency counting]). Task 0 is the root: it has no node,
// its edges are the roots and its outputs the head gradients.
struct Task {
  Node* node = nullptr;
  uint32_t out_first = 0;    // into `outs`: where the task's edges start
  uint32_t out_count = 0;
  uint32_t inbox_first = 0;  // into `inbox`: the task's incoming gradients
  uint32_t inbox_count = 0;
  uint32_t remaining = 0;    // incoming edges not yet delivered (atomic_ref while tasks run)
  uint8_t run = 1;           // 1: apply the node (all, unless capturing)
  uint8_t claimed = 0;       // this walk wrote its id into the node (Note [Walk claims])
  uint8_t captured = 0;      // some captured edge points here
};

struct OutEdge {
  uint32_t target = 0;  // task, or kNone for an edge that needs no gradient
  uint32_t pos = 0;     // the target's inbox position (absolute once the walk is done)
  uint32_t slot = 0;    // which input of the target
  const Node* node = nullptr;  // the target's node, to prefetch (Note [Prefetch the next node])
};

struct InboxEntry {
  Tensor grad;
  uint32_t slot = 0;  // which input of the node
};

struct Capture {
  uint32_t task = 0;   // the task whose incoming gradient is captured
  uint32_t slot = 0;   // which input of its node
  uint32_t index = 0;  // where in the result of ag::grad
};

// Note [Reused bookkeeping]
struct Workspace {
  std::vector<Task> tasks;
  std::vector<OutEdge> outs;
  std::vector<InboxEntry> inbox;
  std::vector<uint32_t> stack;
  std::vector<Capture> captures;
  std::vector<uint32_t> parent_first, parents;  // captures only

  static constexpr size_t kKeepTasks = size_t{1} << 18;  // ~20 MB of bookkeeping
  void clear() {
    if (tasks.capacity() > kKeepTasks || inbox.capacity() > 4 * kKeepTasks) {
      *this = Workspace();
      return;
    }
    tasks.clear();
    outs.clear();
    inbox.clear();  // drops gradients a failed or partial backward left behind
    stack.clear();
    captures.clear();
    parent_first.clear();
    parents.clear();
  }
};

class WorkspaceLease {
 public:
  WorkspaceLease() {
    auto& f = free_list();
    if (f.empty()) {
      ws_ = std::make_unique<Workspace>();
    } else {
      ws_ = std::move(f.back());
      f.pop_back();
    }
  }
  ~WorkspaceLease() {
    ws_->clear();
    free_list().push_back(std::move(ws_));
  }
  Workspace& operator*() { return *ws_; }

 private:
  static std::vector<std::unique_ptr<Workspace>>& free_list() {
    thread_local std::vector<std::unique_ptr<Workspace>> f;
    return f;
  }
  std::unique_ptr<Workspace> ws_;
};

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

struct GraphTask {
  explicit GraphTask(Workspace& w)
      : ws(w), tasks(w.tasks), outs(w.outs), inbox(w.inbox), stack(w.stack) {}
  ~GraphTask() { release_claims(); }

  Workspace& ws;
  std::vector<Task>& tasks;
  std::vector<OutEdge>& outs;
  std::vector<InboxEntry>& inbox;
  std::vector<uint32_t>& stack;

  bool keep_graph = false;
  bool create_graph = false;
  std::span<Tensor> heads;
  tensor_list captured;
  const uint64_t walk_id = g_next_walk_id.fetch_add(1, std::memory_order_relaxed);
  std::optional<NodeIndex> index;  // only for nodes another walk has claimed

  // What the walk learns for Note [Running inline]. It stops adding up work once there is
  // enough to run tasks (reading a node's metadata is one more cache line per node).
  bool branches = false;
  bool any_freed = false;  // Note [Freed graphs]
  int64_t work = 0;
  int64_t work_enough = inline_work();

  bool anomaly = false;                 // Note [Anomaly detection]
  std::atomic<uint64_t> published{0};  // Note [Happens-before across tasks]
  std::mutex error_mutex;
  std::exception_ptr error;
  std::atomic<bool> failed{false};

  // ---- the walk ------------------------------------------------------------------------
  // The task of `n`, made (and pushed on the stack) if the walk has not met it yet.
  uint32_t add(Node* n) {
    const uint32_t next = static_cast<uint32_t>(tasks.size());
    auto& owner = NodeWalkAccess::owner(*n);
    uint64_t seen = owner.load(std::memory_order_acquire);
    if (seen == walk_id) return NodeWalkAccess::index(*n);
    uint8_t claimed = 0;
    if (seen == 0 && owner.compare_exchange_strong(seen, walk_id, std::memory_order_acq_rel)) {
      NodeWalkAccess::index(*n) = next;
      claimed = 1;
    } else {
      if (!index) index.emplace(16);
      auto [i, inserted] = index->insert(n, next);
      if (!inserted) return i;
    }
    __builtin_prefetch(n->next_edges().data());  // visit(next) reads them soon
    tasks.push_back(Task{.node = n, .claimed = claimed});
    any_freed |= n->saved_released();
    stack.push_back(next);
    if (work < work_enough && n->num_inputs() > 0) work += numel_of(n->input_meta(0).shape);
    return next;
  }

  void visit(uint32_t t, const Edge* e, size_t count) {
    tasks[t].out_first = static_cast<uint32_t>(outs.size());
    tasks[t].out_count = static_cast<uint32_t>(count);
    uint32_t first_target = kNone;
    for (size_t i = 0; i < count; ++i) {
      if (!e[i].valid()) {
        outs.push_back(OutEdge{.target = kNone});
        continue;
      }
      const uint32_t c = add(e[i].function.get());
      outs.push_back(OutEdge{.target = c, .pos = tasks[c].remaining++, .slot = e[i].input_nr, .node = e[i].function.get()});
      if (first_target == kNone) first_target = c;
      else branches |= c != first_target;
    }
  }

  void walk(std::span<const Edge> roots) {
    tasks.push_back(Task{});  // the root task: no node, its edges are the roots
    visit(0, roots.data(), roots.size());
    while (!stack.empty()) {
      const uint32_t t = stack.back();
      stack.pop_back();
      const edge_list& next = tasks[t].node->next_edges();
      visit(t, next.data(), next.size());
    }
    uint32_t total = 0;
    for (Task& k : tasks) {
      k.inbox_first = total;
      k.inbox_count = k.remaining;
      total += k.remaining;
    }
    inbox.resize(total);
    for (OutEdge& e : outs)
      if (e.target != kNone) {
        e.pos += tasks[e.target].inbox_first;
        inbox[e.pos].slot = e.slot;
      }
  }

  // Finds a task by node after the walk (for captures).
  int64_t find(Node* n) {
    if (NodeWalkAccess::owner(*n).load(std::memory_order_acquire) == walk_id) return NodeWalkAccess::index(*n);
    return index ? index->find(n) : -1;
  }

  void release_claims() {
    for (Task& k : tasks)
      if (k.claimed) {
        NodeWalkAccess::owner(*k.node).store(0, std::memory_order_release);
        k.claimed = 0;
      }
  }

  // With captures, a node runs only if a captured edge lies below it.
  void mark_needed(std::span<const Edge> capture_edges) {
    const size_t n = tasks.size();
    auto& first = ws.parent_first;
    auto& parents = ws.parents;
    first.assign(n + 1, 0);
    for (const OutEdge& e : outs)
      if (e.target != kNone) ++first[e.target + 1];
    for (size_t i = 0; i < n; ++i) first[i + 1] += first[i];
    parents.resize(first[n]);
    for (uint32_t t = 0; t < n; ++t)
      for (uint32_t j = tasks[t].out_first; j < tasks[t].out_first + tasks[t].out_count; ++j)
        if (outs[j].target != kNone) parents[first[outs[j].target]++] = t;
    // first[i] now ends task i's parents; task i's start where task i-1's end.
    for (Task& k : tasks) k.run = 0;
    for (size_t i = 0; i < capture_edges.size(); ++i) {
      const int64_t t = find(capture_edges[i].function.get());
      if (t < 0) continue;
      ws.captures.push_back(Capture{.task = static_cast<uint32_t>(t), .slot = capture_edges[i].input_nr,
                                    .index = static_cast<uint32_t>(i)});
      tasks[t].captured = 1;
      stack.push_back(static_cast<uint32_t>(t));
    }
    while (!stack.empty()) {
      const uint32_t t = stack.back();
      stack.pop_back();
      for (uint32_t j = t == 0 ? 0 : first[t - 1]; j < first[t]; ++j) {
        const uint32_t p = parents[j];
        if (!tasks[p].run) {
          tasks[p].run = 1;
          stack.push_back(p);
        }
      }
    }
    tasks[0].run = 1;
  }

  // ---- running a node ------------------------------------------------------------------
  // Note [Deterministic accumulation]: the inbox of task t summed into one gradient per
  // input slot, in position order. `grads` has room for every slot.
  void gather(const Task& k, Tensor* grads) {
    uint32_t owned = 0;  // bit i: grads[i] is a buffer this task made (safe to add into)
    for (uint32_t p = k.inbox_first; p < k.inbox_first + k.inbox_count; ++p) {
      Tensor& g = inbox[p].grad;
      if (!g.defined()) continue;
      const uint32_t slot = inbox[p].slot;
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
  }

  // Hooks on the gradients a node receives (tensor hooks, retain_grad).
  void run_hooks(Node& n, Tensor* grads) {
    for (auto& h : n.pre_hooks()) {
      Tensor& g = grads[h.input_nr];
      if (!g.defined()) continue;
      Tensor r = h.fn(g);
      if (!r.defined()) continue;
      check_hook_result(r, g);
      g = std::move(r);
    }
    for (auto& [slot, weak] : n.retained()) {
      auto impl = weak.lock();
      if (!impl || !grads[slot].defined()) continue;
      // As PyTorch's retain_grad: the first gradient is copied and later ones are added out
      // of place, so .grad() never aliases a tensor in flight or one the user holds (the
      // gradient passed in for a root, even the root itself: ag::grad({r}, {r}, {r}) made
      // r its own .grad(), and the next backward's accumulation wrote into r; fuzz_ops).
      // The new value is made outside the lock (recording it under create_graph takes
      // locks of its own) and published only if no other backward replaced .grad() since.
      std::shared_ptr<detail::TensorImpl> seen;
      {
        std::lock_guard<detail::SpinLock> lock(impl->grad_lock);
        seen = impl->grad;
      }
      for (;;) {
        const Tensor next = seen ? Tensor(seen) + grads[slot] : grads[slot].clone();
        std::lock_guard<detail::SpinLock> lock(impl->grad_lock);
        if (impl->grad == seen) {
          impl->grad = next.impl_ptr();
          break;
        }
        seen = impl->grad;
      }
    }
  }

  void capture(uint32_t t, const Tensor* grads) {
    for (const Capture& c : ws.captures)
      if (c.task == t) captured[c.index] = grads[c.slot];
  }

  // A gradient that does not match what its target expects: a broadcast shape is summed
  // down, another dtype converted, anything else is the node's error.
  static void conform(const Node& n, size_t i, Tensor& g, const InputMeta& m) {
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

  // One delivered (or skipped) edge into task c; c joins `ready` when it was the last.
  template <bool Parallel, class Ready>
  void arrive(uint32_t c, Ready& ready) {
    if constexpr (Parallel) {
      if (std::atomic_ref<uint32_t>(tasks[c].remaining).fetch_sub(1, std::memory_order_acq_rel) == 1)
        ready.push_back(c);
    } else {
      if (--tasks[c].remaining == 0) ready.push_back(c);
    }
  }

  // Hands a node's outputs to its edges' targets (nullptr: nothing flowed in, so only the
  // counts go down), checking each against what its target expects.
  template <bool Parallel, class Ready>
  void deliver(const Task& k, const Node* n, Tensor* out, Ready& ready) {
    for (uint32_t i = 0; i < k.out_count; ++i) {
      const OutEdge& e = outs[k.out_first + i];
      if (e.target == kNone) continue;
      if (out && out[i].defined()) {
        Tensor& g = out[i];
        if (n) {
          const InputMeta& m = tasks[e.target].node->input_meta(e.slot);
          if (g.dtype() != m.dtype || g.shape() != m.shape) conform(*n, i, g, m);
        }
        inbox[e.pos].grad = std::move(g);
      }
      arrive<Parallel>(e.target, ready);
    }
  }

  // Note [Prefetch the next node]
  static void prefetch_node(const Node* n) {
    const char* p = reinterpret_cast<const char*>(n);
    for (int line = 0; line < 4; ++line) __builtin_prefetch(p + 64 * line, 1, 3);
  }
  void prefetch_targets(const Task& k) const {
    for (uint32_t i = 0; i < k.out_count; ++i) {
      const OutEdge& e = outs[k.out_first + i];
      if (e.target == kNone) continue;
      __builtin_prefetch(&tasks[e.target].remaining, 1, 3);
      __builtin_prefetch(&inbox[e.pos], 1, 3);
      prefetch_node(e.node);
      e.node->prefetch_saved();  // its lines were asked for one node ago, below
      const Task& c = tasks[e.target];
      if (c.out_count > 0 && outs[c.out_first].target != kNone) prefetch_node(outs[c.out_first].node);
    }
  }

  // Runs task t; appends the tasks it made ready to `ready`.
  template <bool Parallel, class Ready>
  void run_task(uint32_t t, Ready& ready) {
    const Task& k = tasks[t];
    if constexpr (Parallel) prefetch_targets(k);
    if (t == 0) {  // the root: its outputs are the head gradients
      deliver<Parallel>(k, nullptr, heads.data(), ready);
      return;
    }
    Node& n = *k.node;
    const size_t n_in = n.num_inputs();
    detail::SmallVector<Tensor, 4> out;  // the node's gradients: no heap for up to 4 edges
    size_t produced = 0;
    if (n_in == 1) {  // most nodes: no list of gradients
      Tensor g;
      gather(k, &g);
      if (n.has_hooks()) run_hooks(n, &g);
      if (k.captured) capture(t, &g);
      if (!k.run) return;
      if (!g.defined()) {  // nothing flowed in: nothing flows out
        deliver<Parallel>(k, nullptr, nullptr, ready);
        return;
      }
      out.resize(k.out_count);
      produced = n.apply_one_to(std::move(g), out.data(), out.size());
      if (!keep_graph) n.release_variables();
      g = Tensor();  // Note [Free order in backward]
    } else {
      tensor_list grads(n_in);
      gather(k, grads.data());
      if (n.has_hooks()) run_hooks(n, grads.data());
      if (k.captured) capture(t, grads.data());
      if (!k.run) return;
      bool any = grads.empty();
      for (const Tensor& g : grads) any |= g.defined();
      if (!any) {
        deliver<Parallel>(k, nullptr, nullptr, ready);
        return;
      }
      if (grads.size() > 1)  // several forward outputs: a missing gradient is a zero
        for (size_t i = 0; i < grads.size(); ++i)
          if (!grads[i].defined()) grads[i] = zeros(n.input_meta(i).shape, TensorOptions(n.input_meta(i).dtype));
      tensor_list r = n.apply(std::move(grads));
      if (!keep_graph) n.release_variables();
      out.resize(k.out_count);
      produced = detail::move_gradients(r, out.data(), out.size());
    }
    if (produced != k.out_count)
      fail("Function ", n.name(), " returned an incorrect number of gradients (expected ", k.out_count, ", got ",
           produced, ")");
    if (anomaly) check_anomaly(n, out.data(), out.size());
    deliver<Parallel>(k, &n, out.data(), ready);
  }

  // Note [Running inline]
  void run_inline() {
    AutoGradMode mode(create_graph);
    stack.clear();
    stack.push_back(0);
    while (!stack.empty()) {
      const uint32_t t = stack.back();
      stack.pop_back();
      run_task<false>(t, stack);
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
    std::atomic_ref<uint32_t>(tasks[t].remaining).load(std::memory_order_acquire);
    struct Done {
      std::atomic<uint64_t>& p;
      ~Done() { p.fetch_add(1, std::memory_order_release); }
    } done{published};
    AutoGradMode mode(create_graph);
    detail::SmallVector<uint32_t, 8> ready;
    for (;;) {
      if (failed.load(std::memory_order_acquire)) return;
      ready.clear();
      try {
        run_task<true>(t, ready);
      } catch (...) {
        record_error();
        return;
      }
      if (ready.empty()) return;
      for (size_t i = 1; i < ready.size(); ++i) {
        const uint32_t c = ready[i];
        group.run([this, c, &group] { process(c, group); });
      }
      if (ready.size() > 1) detail::add_pieces(static_cast<int64_t>(ready.size()) - 1);
      t = ready[0];
    }
  }
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

void set_inline_work(int64_t elements) { g_inline_work.store(elements, std::memory_order_relaxed); }
int64_t inline_work() { return g_inline_work.load(std::memory_order_relaxed); }

tensor_list execute(std::span<const Edge> roots, std::span<Tensor> root_grads, bool keep_graph, bool create_graph,
                    std::span<const Edge> captures) {
  WorkspaceLease lease;
  GraphTask g(*lease);
  g.keep_graph = keep_graph;
  g.create_graph = create_graph;
  g.anomaly = g_anomaly.load(std::memory_order_relaxed);
  g.heads = root_grads;
  g.captured.resize(captures.size());
  g.walk(roots);
  if (!captures.empty()) g.mark_needed(captures);
  // Note [Freed graphs]: a node whose saved tensors an earlier backward freed would fail
  // when it runs, after the nodes before it had already added to some .grad(). Look first,
  // so that the error leaves every gradient as it was (PyTorch fails midway).
  if (g.any_freed)
    for (size_t t = 1; t < g.tasks.size(); ++t)
      if (g.tasks[t].run && g.tasks[t].node->saved_released()) fail_freed(g.tasks[t].node);

  const int threads = get_num_threads();
  const bool worth_tasks = g.tasks.size() >= 3 && g.branches && g.work >= g.work_enough;
  const detail::ParallelRegion region(worth_tasks);  // Note [Parallel accounting]
  if (threads == 1 || !worth_tasks) {
    g.run_inline();  // Note [Running inline]; an error propagates from here
  } else {
    g.published.store(1, std::memory_order_release);
    detail::add_pieces(1);  // the root task
#if defined(__SANITIZE_THREAD__)
    SanitizerPool pool(threads);
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

namespace ag {
void set_detect_anomaly(bool on) { engine::g_anomaly.store(on, std::memory_order_relaxed); }
bool is_anomaly_enabled() { return engine::g_anomaly.load(std::memory_order_relaxed); }
}  // namespace ag
