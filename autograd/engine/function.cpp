// User-defined differentiable functions (ag::Function<Derived>, libtorch's
// torch::autograd::Function): the node that calls Derived::backward.
#include "ag/autograd.hpp"
#include "ag/functional.hpp"
#include "ag/ops.hpp"
#include "runtime/pool.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cxxabi.h>

namespace ag {

void AutogradContext::save_for_backward(const tensor_list& tensors) { to_save_ = tensors; }

tensor_list AutogradContext::get_saved_variables() const {
  if (released_)
    fail("Trying to backward through the graph a second time (or directly access saved tensors after they have "
         "already been freed) in ", node_ ? node_->name() : std::string("a custom Function"),
         ". Specify retain_graph=true if you need to backward through the graph a second time.");
  tensor_list out;
  out.reserve(saved_.size());
  for (const auto& s : saved_) out.push_back(s.unpack(node_));
  saved_read_ = true;
  return out;
}

void AutogradContext::mark_non_differentiable(const tensor_list& outputs) { non_differentiable_ = outputs; }

bool AutogradContext::needs_input_grad(size_t i) const {
  return i < needs_input_grad_.size() && needs_input_grad_[i];
}

namespace {
class CppFunctionNode final : public Node {
 public:
  CppFunctionNode(std::string name, std::shared_ptr<AutogradContext> ctx, detail::BackwardFn fn)
      : name_(std::move(name)), ctx_(std::move(ctx)), fn_(std::move(fn)) {
    forward_op_ = "custom Function";
  }
  std::string name() const override { return name_; }
  tensor_list apply(tensor_list&& grads) override {
    // Under create_graph, a gradient received with history must give gradients with
    // history: backward is linear in it. One that comes back without was computed outside
    // autograd; it gets a node that fails a later backward by name (ag::once_differentiable).
    tensor_list received;
    if (GradMode::is_enabled())
      for (const Tensor& g : grads)
        if (g.defined() && g.requires_grad()) {
          received = grads;
          break;
        }
    tensor_list out = fn_(ctx_.get(), std::move(grads));
    // libtorch lets backward return extra undefined gradients for non-tensor arguments.
    while (out.size() > next_edges_.size() && !out.back().defined()) out.pop_back();
    if (!received.empty()) out = detail::not_differentiable_twice(name_, std::move(out), received);
    return out;
  }
  void release_variables() override {
    for (auto& s : ctx_->saved_) s.reset();
    ctx_->released_ = true;
    // Marked freed only if the backward that just ran read what it saved: one that does not
    // may run again (in libtorch the error comes only from get_saved_variables()), and one
    // that does would fail again, so the engine fails it before anything runs.
    if (!ctx_->saved_.empty() && ctx_->saved_read_) mark_saved_released();
  }

 private:
  std::string name_;
  std::shared_ptr<AutogradContext> ctx_;
  detail::BackwardFn fn_;
};

// typeid names are mangled ("N2ns6MyFuncE"): demangle, keep the unqualified name.
std::string readable(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : mangled;
  std::free(d);
  // The last component outside template brackets: "ns::(anonymous namespace)::Square" -> "Square".
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == '<') ++depth;
    else if (s[i] == '>') --depth;
    else if (depth == 0 && s[i] == ':' && s[i + 1] == ':') start = i + 2;
  }
  return s.substr(start) + "Backward";
}
}  // namespace

namespace detail {
namespace {

// Gives the node that calls Derived::backward to the outputs (reverse mode), when an input
// requires grad and grad mode is on. Moves the tensors to save into the context.
tensor_list wire_reverse(const char* name, const tensor_list& inputs, tensor_list outputs,
                         const std::shared_ptr<AutogradContext>& ctx, const BackwardFn& backward) {
  bool any = false;
  for (const auto& t : inputs) any |= t.defined() && t.requires_grad();
  if (!any || !GradMode::is_enabled()) return outputs;
  auto node = detail::make_pooled<CppFunctionNode>(readable(name), ctx, backward);
  ctx->node_ = node.get();
  for (const auto& t : inputs) {
    ctx->needs_input_grad_.push_back(t.defined() && t.requires_grad());
    node->mutable_next_edges().push_back(t.defined() && t.requires_grad() ? gradient_edge(t) : Edge{});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& o = outputs[i];
    AG_CHECK(o.defined(), name, ": forward returned an undefined tensor at index ", i);
    bool non_diff = !o.is_floating_point();
    for (const auto& nd : ctx->non_differentiable_) non_diff |= nd.is_same(o);
    // An output that is an input (or shares its handle) is replaced by a new handle, so
    // the input's own history is left alone.
    for (const auto& in : inputs) if (in.defined() && in.is_same(o)) o = o.detach();
    node->add_input_meta(o);
    if (non_diff) continue;
    auto* impl = o.unsafeGetTensorImpl();
    impl->grad_fn = node;
    impl->output_nr = static_cast<uint32_t>(i);
  }
  for (const auto& t : ctx->to_save_) {
    bool is_out = false;
    for (const auto& o : outputs) is_out |= o.is_same(t);
    ctx->saved_.emplace_back(t, is_out);
  }
  ctx->to_save_.clear();
  return outputs;
}

[[noreturn]] void fail_no_jvp(const std::string& fname, const std::string& why) {
  fail(fname, " does not support forward mode AD (jvp not implemented): forward-mode AD (ag::forward_ad, "
       "ag::jvp, jacobian's forward mode) through a custom ag::Function differentiates its backward with respect "
       "to the incoming gradient, so the backward must be differentiable (written with ag ops, not "
       "ag::once_differentiable or a loop over data_ptr); ", why,
       ". Use reverse mode (ag::grad, ag::vjp, jacobian with JacobianMode::Reverse) instead");
}

// Note [Forward AD through a custom Function]: Derived::backward is linear in the gradients
// it receives, so, as for the ops (Note [Forward AD design]), the output tangents are
// J·t = d/du Σᵢ <backwardᵢ(u), tᵢ> with dummy gradients u_j = zeros(out_j) that require
// grad: backward runs once under grad mode (on a fresh context holding the saved tensors,
// detached, and needs_input_grad = "input i carries a tangent"), then one ag::grad gives
// every output's tangent. A backward whose result for a tangent-carrying input does not
// depend on u through recorded ops was computed outside autograd: an ag::Error naming the
// Function, the same rule the node applies under create_graph (ag::once_differentiable).
void set_function_tangents(const std::string& fname, const tensor_list& inputs, tensor_list& outputs,
                           const tensor_list& saved, const AutogradContext& ctx, const BackwardFn& backward) {
  // An output that is an input gets a new handle: the input keeps its own tangent.
  for (Tensor& o : outputs)
    for (const auto& in : inputs)
      if (o.defined() && in.defined() && in.is_same(o)) o = o.detach();
  tensor_list tans;
  tans.reserve(inputs.size());
  bool any = false;
  for (const auto& in : inputs) {
    tans.push_back(in.defined() && in.is_floating_point() && has_tangent(in) ? fw_tangent(in) : Tensor());
    any |= tans.back().defined();
  }
  FwSuspend suspend;
  std::vector<bool> diff(outputs.size());
  bool any_diff = false;
  for (size_t j = 0; j < outputs.size(); ++j) {
    const Tensor& o = outputs[j];
    AG_CHECK(o.defined(), fname, ": forward returned an undefined tensor at index ", j);
    bool d = o.is_floating_point();
    for (const auto& nd : ctx.non_differentiable_) d = d && !nd.is_same(o);
    diff[j] = d;
    any_diff |= d;
    if (!d && has_tangent(o)) set_fw_tangent(o, Tensor());
  }
  if (!any || !any_diff) return;
  AutogradContext c;
  c.saved_data = ctx.saved_data;
  c.non_differentiable_ = ctx.non_differentiable_;
  for (const Tensor& t : tans) c.needs_input_grad_.push_back(t.defined());
  for (const Tensor& s : saved) c.saved_.emplace_back(s.defined() ? s.detach() : Tensor(), false);
  tensor_list us, ws;  // us: what backward receives; ws: those that require grad
  tensor_list gs;
  Tensor acc;
  {
    AutoGradMode on(true);
    for (size_t j = 0; j < outputs.size(); ++j) {
      Tensor u = zeros(outputs[j].shape(), TensorOptions(outputs[j].dtype()));
      if (diff[j]) {
        u.requires_grad_(true);
        ws.push_back(u);
      }
      us.push_back(std::move(u));
    }
    gs = backward(&c, us);
    for (size_t i = 0; i < tans.size() && i < gs.size(); ++i) {
      if (!tans[i].defined() || !gs[i].defined()) continue;
      const Tensor& g = gs[i];
      if (!g.requires_grad())
        fail_no_jvp(fname, "its backward returned a gradient for input " + std::to_string(i) +
                               " that autograd did not record");
      if (g.grad_fn() && g.grad_fn()->name() == "DelayedError")
        fail_no_jvp(fname, "its backward is marked ag::once_differentiable");
      AG_CHECK(g.shape() == tans[i].shape(), fname, ": backward returned a gradient of shape ",
               shape_str(g.shape()), " for input ", i, " of shape ", shape_str(tans[i].shape()));
      Tensor term = (g * tans[i]).sum();
      acc = acc.defined() ? acc + term : term;
    }
  }
  tensor_list r;
  if (acc.defined()) {
    try {
      r = grad({acc}, ws, {}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    } catch (const Error& e) {
      fail_no_jvp(fname, std::string("differentiating its backward failed: ") + e.what());
    }
  }
  NoGradGuard ng;
  size_t k = 0;
  for (size_t j = 0; j < outputs.size(); ++j) {
    if (!diff[j]) continue;
    Tensor t = k < r.size() ? r[k] : Tensor();
    ++k;
    if (!t.defined()) t = zeros(outputs[j].shape(), TensorOptions(outputs[j].dtype()));
    t = t.detach();
    if (t.dtype() != outputs[j].dtype()) t = t.to(outputs[j].dtype());
    set_fw_tangent(outputs[j], t);
  }
}

}  // namespace

tensor_list wrap_function_outputs(const char* name, const tensor_list& inputs, tensor_list outputs,
                                  std::shared_ptr<AutogradContext> ctx, BackwardFn backward) {
  // Forward mode (Note [Forward AD through a custom Function]): the saved tensors are taken
  // now, before the reverse wiring moves them into the node.
  const bool fw = detail::fw_active() && std::any_of(inputs.begin(), inputs.end(), detail::has_tangent);
  tensor_list fw_saved;
  if (fw) fw_saved = ctx->to_save_;
  outputs = wire_reverse(name, inputs, std::move(outputs), ctx, backward);
  if (fw) set_function_tangents(readable(name), inputs, outputs, fw_saved, *ctx, backward);
  return outputs;
}
}  // namespace detail

}  // namespace ag
