// User-defined differentiable functions (ag::Function<Derived>, libtorch's
// torch::autograd::Function): the node that calls Derived::backward.
#include "ag/autograd.hpp"
#include "ag/functional.hpp"
#include "ag/ops.hpp"
#include "tensor/pool.hpp"

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
tensor_list wrap_function_outputs(const char* name, const tensor_list& inputs, tensor_list outputs,
                                  std::shared_ptr<AutogradContext> ctx, BackwardFn backward) {
  // Forward mode (ag::forward_ad) has no rule for a custom Function: a clear error rather
  // than an output silently without tangent.
  if (detail::fw_active())
    for (const auto& t : inputs)
      AG_CHECK(!detail::has_tangent(t), readable(name), ": forward-mode AD (ag::forward_ad) is not supported through "
               "a custom ag::Function, and an input carries a tangent; use reverse mode, or ag::jvp with "
               "create_graph=true (double vjp)");
  bool any = false;
  for (const auto& t : inputs) any |= t.defined() && t.requires_grad();
  if (!any || !GradMode::is_enabled()) return outputs;
  auto node = detail::make_pooled<CppFunctionNode>(readable(name), ctx, std::move(backward));
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
}  // namespace detail

}  // namespace ag
