// ag::nn::Module: registration, traversal in registration order, modes, dtype conversion.
#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "ag/nn/module.hpp"


namespace ag::nn {

Module::Module() = default;
Module::Module(std::string name) : name_(std::move(name)) {}

std::string Module::name() const {
  if (!name_.empty()) return name_;
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  // "ag::nn::LinearImpl" -> "Linear"; templates keep their arguments.
  const size_t lt = s.find('<');
  const size_t colon = s.rfind("::", lt);
  if (colon != std::string::npos) s = s.substr(colon + 2);
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "Impl") == 0) s.resize(s.size() - 4);
  return s;
}

void Module::check_new_name(const std::string& name, const char* what) const {
  AG_CHECK(!name.empty(), what, ": the name must not be empty (in ", this->name(), ")");
  AG_CHECK(name.find('.') == std::string::npos, what, ": the name '", name, "' must not contain a dot (in ",
           this->name(), ")");
  for (const auto& p : parameters_)
    AG_CHECK(p.first != name, what, ": '", name, "' is already a parameter of ", this->name());
  for (const auto& b : buffers_)
    AG_CHECK(b.first != name, what, ": '", name, "' is already a buffer of ", this->name());
  for (const auto& c : children_)
    AG_CHECK(c.first != name, what, ": '", name, "' is already a submodule of ", this->name());
}

Tensor Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "register_parameter");
  if (tensor.defined()) {
    AG_CHECK(tensor.is_leaf(), "register_parameter: '", name, "' is not a leaf tensor (it has grad_fn ",
             tensor.grad_fn()->name(), "); pass t.detach()");
    AG_CHECK(!requires_grad || tensor.is_floating_point(), "register_parameter: '", name,
             "' has dtype ", dtype_name(tensor.dtype()), ", only floating tensors can require gradients");
    tensor.requires_grad_(requires_grad);
  }
  parameters_.emplace_back(std::move(name), tensor);
  return tensor;
}

Tensor Module::register_buffer(std::string name, Tensor tensor) {
  check_new_name(name, "register_buffer");
  buffers_.emplace_back(std::move(name), tensor);
  return tensor;
}

void Module::register_module_impl(std::string name, std::shared_ptr<Module> module) {
  check_new_name(name, "register_module");
  AG_CHECK(module != nullptr, "register_module: submodule '", name, "' is null (an empty holder?)");
  AG_CHECK(module.get() != this, "register_module: a module cannot be its own child ('", name, "')");
  children_.emplace_back(std::move(name), std::move(module));
}

// Visits (dotted name, tensor) for own entries, then each child's, depth first.
template <class F>
void Module::collect(const std::string& prefix, bool recurse, bool buffers, F&& f) const {
  for (const auto& [n, t] : buffers ? buffers_ : parameters_)
    if (t.defined()) f(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", true, buffers, f);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const void*> seen;
  collect("", recurse, false, [&](std::string n, const Tensor& t) {
    if (seen.insert(t.unsafeGetTensorImpl()).second) out.emplace_back(std::move(n), t);
  });
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  std::unordered_set<const void*> seen;
  collect("", recurse, true, [&](std::string n, const Tensor& t) {
    if (seen.insert(t.unsafeGetTensorImpl()).second) out.emplace_back(std::move(n), t);
  });
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& c : children_) out.push_back(c.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules(bool include_self) {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::unordered_set<const Module*> seen{this};
  if (include_self) {
    std::shared_ptr<Module> self = weak_from_this().lock();
    AG_CHECK(self != nullptr, "modules: ", name(), " is not owned by a std::shared_ptr (construct it through its "
             "holder or std::make_shared), so it cannot list itself; pass include_self=false");
    out.emplace_back("", std::move(self));
  }
  // Depth first, children in registration order (recursion depth = module depth).
  struct Walker {
    std::unordered_set<const Module*>& seen;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>>& out;
    void visit(const std::string& prefix, const Module& m) {
      for (const auto& [n, c] : m.named_children()) {
        if (!seen.insert(c.get()).second) continue;
        out.emplace_back(prefix + n, c);
        visit(prefix + n + ".", *c);
      }
    }
  } walker{seen, out};
  walker.visit("", *this);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::modules(bool include_self) {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules(include_self)) out.push_back(m);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad(bool set_to_none) {
  // Runs every training step: walks the module tree in place, building no names or lists
  // (parameters() would allocate both). A parameter shared by two modules is visited twice,
  // which changes nothing.
  NoGradGuard guard;
  for (const auto& entry : parameters_) {
    const Tensor& p = entry.second;
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) p.set_grad(Tensor());
    else g.zero_();
  }
  for (const auto& child : children_) child.second->zero_grad(set_to_none);
}

namespace {
// Converts `t` to dtype d in place: its TensorImpl takes a fresh contiguous storage.
void convert_in_place(const Tensor& t, Dtype d) {
  if (!t.defined() || !t.is_floating_point() || t.dtype() == d) return;
  NoGradGuard guard;
  Tensor converted = t.detach().to(d).contiguous();
  Tensor g = t.grad();
  t.set_data(converted);
  if (g.defined()) {
    Tensor gc = g.to(d);
    t.set_grad(gc.is_same(g) ? g : gc);
  }
}
}  // namespace

void Module::to(Dtype d) {
  AG_CHECK(is_floating(d), "Module::to: expected a floating dtype, got ", dtype_name(d), " (in ", name(), ")");
  for (auto& [n, t] : named_parameters()) convert_in_place(t, d);
  for (auto& [n, t] : named_buffers()) convert_in_place(t, d);
}

void Module::pretty_print(std::ostream& os) const { os << name(); }

namespace {
void print_tree(std::ostream& os, const Module& m, int indent) {
  m.pretty_print(os);
  const auto children = m.named_children();
  if (children.empty()) {
    // Leaf modules print "ReLU()"; a pretty_print that already ends in ')' is complete.
    std::ostringstream probe;
    m.pretty_print(probe);
    const std::string s = probe.str();
    if (s.empty() || s.back() != ')') os << "()";
    return;
  }
  os << "(\n";
  for (const auto& [n, c] : children) {
    os << std::string(static_cast<size_t>(indent + 2), ' ') << "(" << n << "): ";
    print_tree(os, *c, indent + 2);
    os << "\n";
  }
  os << std::string(static_cast<size_t>(indent), ' ') << ")";
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Module& m) {
  print_tree(os, m, 0);
  return os;
}

}  // namespace ag::nn
