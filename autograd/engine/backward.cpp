// The user-facing entry points of reverse mode: backward() and grad().
#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "engine/engine.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>

namespace ag {

namespace {
// The head gradient for `t`: given, or ones for a one-element tensor.
Tensor head_gradient(const Tensor& t, const Tensor& given, const char* op) {
  if (given.defined()) {
    AG_CHECK(given.shape() == t.shape(), op, ": the gradient has shape ", shape_str(given.shape()),
             " but the output has shape ", shape_str(t.shape()));
    return given.dtype() == t.dtype() ? given : given.to(t.dtype());
  }
  AG_CHECK(t.numel() == 1, op, ": grad can be implicitly created only for scalar outputs (the output has shape ",
           shape_str(t.shape()), "; pass a gradient of that shape)");
  return ones_like(t);
}

Edge root_edge(const Tensor& t, size_t i, const char* op) {
  AG_CHECK(t.defined(), op, ": output ", i, " is undefined");
  Edge e = gradient_edge(t);
  AG_CHECK(e.valid(), op, ": element ", i, " of tensors does not require grad and does not have a grad_fn");
  return e;
}

std::vector<Edge> root_edges(const tensor_list& tensors, const char* op) {
  std::vector<Edge> roots;
  roots.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) roots.push_back(root_edge(tensors[i], i, op));
  return roots;
}
}  // namespace

void backward(const tensor_list& tensors, const tensor_list& grad_tensors, std::optional<bool> retain_graph,
              bool create_graph) {
  AG_CHECK(grad_tensors.empty() || grad_tensors.size() == tensors.size(), "backward: got ", tensors.size(),
           " tensors but ", grad_tensors.size(), " gradients");
  std::vector<Edge> roots = root_edges(tensors, "backward");
  tensor_list heads;
  heads.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    heads.push_back(head_gradient(tensors[i], grad_tensors.empty() ? Tensor() : grad_tensors[i], "backward"));
  engine::execute(roots, heads, retain_graph.value_or(create_graph), create_graph, {});
}

// The common case, one root, without the lists.
void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  Edge root = root_edge(*this, 0, "backward");
  Tensor head = head_gradient(*this, gradient, "backward");
  engine::execute({&root, 1}, {&head, 1}, retain_graph.value_or(create_graph), create_graph, {});
}

tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs,
                 std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  AG_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "grad: got ", outputs.size(),
           " outputs but ", grad_outputs.size(), " grad_outputs");
  std::vector<Edge> roots = root_edges(outputs, "grad");
  tensor_list heads;
  heads.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i)
    heads.push_back(head_gradient(outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i], "grad"));
  std::vector<Edge> captures;
  captures.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    AG_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i,
             " does not require grad (call requires_grad_() on it before the forward pass)");
    captures.push_back(gradient_edge(inputs[i]));
  }
  tensor_list result =
      engine::execute(roots, heads, retain_graph.value_or(create_graph), create_graph, captures);
  for (size_t i = 0; i < result.size(); ++i) {
    if (!result[i].defined()) {
      AG_CHECK(allow_unused, "grad: one of the differentiated tensors (input ", i,
               ") appears to not have been used in the graph. Set allow_unused=true if this is the desired behavior.");
    } else if (result[i].shape() != inputs[i].shape()) {
      result[i] = sum_to(result[i], inputs[i].shape());
    }
  }
  return result;
}

}  // namespace ag
