// ag::nn::Module and ag::nn::ModuleHolder — the building blocks of every layer.
//
// What it represents: a Module owns named parameters (tensors that are trained), named
// buffers (state that is saved but not trained, e.g. BatchNorm's running statistics) and
// named child modules, each kept in registration order. It is always handled through a
// std::shared_ptr, as in libtorch. A layer `FooImpl : Module` is paired with a holder
// `Foo = ModuleHolder<FooImpl>` (declared with AG_MODULE(Foo)) that constructs the
// shared FooImpl and forwards `foo(x)` to `foo->forward(x)`:
//
//   struct NetImpl : ag::nn::Module {
//     NetImpl() { fc1 = register_module("fc1", ag::nn::Linear(784, 256)); }
//     ag::Tensor forward(const ag::Tensor& x) { return fc1(x); }
//     ag::nn::Linear fc1{nullptr};
//   };
//   AG_MODULE(Net);
//
// Differences from libtorch: named_parameters() and friends return a
// std::vector<std::pair<std::string, Tensor>> (libtorch's OrderedDict items' key()/value()
// are .first/.second here), which is also what ag::nn::save_tensors takes.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/ops.hpp"
#include "ag/tensor.hpp"

namespace ag::nn {

// An ordered list of (dotted name, tensor) pairs, e.g. {"fc1.weight", W}.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

template <class Impl>
class ModuleHolder;

class Module : public std::enable_shared_from_this<Module> {
 public:
  // ensures: an empty module in training mode; name() is `name` when given, else the
  //          class name without namespaces and without a trailing "Impl".
  Module();
  explicit Module(std::string name);
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ensures: the module's name, e.g. "Linear" for LinearImpl.
  virtual std::string name() const;

  // ---- registration --------------------------------------------------------------------
  // requires: `name` is non-empty, has no '.', and is not yet used by a parameter, buffer
  //           or child of this module; `tensor` is undefined or a leaf (no grad_fn).
  // ensures: the tensor is stored under `name` (undefined tensors are kept but skipped by
  //          parameters()), requires_grad_(requires_grad) is applied, and the same handle
  //          is returned. Throws ag::Error otherwise.
  Tensor register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  // As register_parameter, but the tensor is state, not trained (requires_grad unchanged).
  Tensor register_buffer(std::string name, Tensor tensor);
  // requires: as for register_parameter; `module` non-null.
  // ensures: `module` becomes a child named `name`; returns it.
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    static_assert(std::is_base_of_v<Module, M>, "register_module: M must derive from ag::nn::Module");
    register_module_impl(std::move(name), module);
    return module;
  }
  template <class M>
  std::shared_ptr<M> register_module(std::string name, ModuleHolder<M> holder) {
    return register_module(std::move(name), holder.ptr());
  }

  // ---- access (registration order, depth first: own entries, then each child's) ------
  // ensures: the defined parameters; with recurse, those of all descendants too. A tensor
  //          reachable under several names appears once (first name wins).
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;  // dotted names: "fc1.weight"
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // ensures: the direct children, in registration order.
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // requires: with include_self, the module is owned by a std::shared_ptr (else ag::Error).
  // ensures: this module (name "") and all descendants, depth first, each once.
  std::vector<std::shared_ptr<Module>> modules(bool include_self = true);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules(bool include_self = true);

  // ---- modes and state ------------------------------------------------------------------
  // ensures: this module and all descendants are in training mode (on) or eval mode.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }
  // ensures: every parameter's .grad() is undefined (set_to_none) or zeroed in place.
  void zero_grad(bool set_to_none = true);
  // ensures: every floating parameter and buffer (recursively) has dtype `d`; integer and
  //          bool buffers (e.g. num_batches_tracked) are left alone. The conversion is made
  //          IN PLACE on the tensors' shared implementation: every handle to a parameter
  //          that exists (fields like fc->weight, parameters() taken before, an optimizer's
  //          list) sees the new dtype and values. A defined .grad() is converted too. Views
  //          taken of a parameter before the call keep the old storage.
  virtual void to(Dtype d);

  // ensures: writes a one-line description, e.g. "Linear(in_features=2, out_features=3,
  //          bias=true)"; operator<< prints the whole tree in PyTorch's layout.
  virtual void pretty_print(std::ostream& os) const;

 private:
  void register_module_impl(std::string name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  template <class F>
  void collect(const std::string& prefix, bool recurse, bool buffers, F&& f) const;

  std::string name_;
  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Prints the module tree as PyTorch does:
//   Sequential(
//     (0): Linear(in_features=2, out_features=3, bias=true)
//     (1): ReLU()
//   )
std::ostream& operator<<(std::ostream& os, const Module& m);

// ---- ModuleHolder ------------------------------------------------------------------------
// What it represents: a shared_ptr<Impl> with value syntax (libtorch's ModuleHolder).
// Copying a holder shares the module. A holder constructed from nullptr is empty.
template <class Impl>
class ModuleHolder {
 public:
  using ContainedType = Impl;

  // ensures: holds a default-constructed Impl (only when Impl has a default constructor).
  ModuleHolder()
    requires std::is_default_constructible_v<Impl>
      : impl_(std::make_shared<Impl>()) {}
  // ensures: is_empty(); assign a module later (e.g. from register_module).
  ModuleHolder(std::nullptr_t) {}  // NOLINT: implicit, as in libtorch
  ModuleHolder(std::shared_ptr<Impl> module) : impl_(std::move(module)) {}  // NOLINT
  // ensures: holds std::make_shared<Impl>(args...), e.g. Linear(784, 256).
  template <class Head, class... Tail>
    requires(!(sizeof...(Tail) == 0 && std::is_base_of_v<ModuleHolder, std::decay_t<Head>>) &&
             !(sizeof...(Tail) == 0 && std::is_same_v<std::decay_t<Head>, std::nullptr_t>) &&
             std::is_constructible_v<Impl, Head, Tail...>)
  explicit ModuleHolder(Head&& head, Tail&&... tail)
      : impl_(std::make_shared<Impl>(std::forward<Head>(head), std::forward<Tail>(tail)...)) {}

  // requires: !is_empty() (else ag::Error).
  Impl* operator->() const { return get(); }
  Impl& operator*() const { return *get(); }
  Impl* get() const {
    if (!impl_) fail("ModuleHolder: accessing an empty ", "holder (constructed from nullptr)");
    return impl_.get();
  }
  const std::shared_ptr<Impl>& ptr() const { return impl_; }
  bool is_empty() const noexcept { return impl_ == nullptr; }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  // ensures: returns get()->forward(args...).
  template <class... Args>
  decltype(auto) operator()(Args&&... args) const {
    return get()->forward(std::forward<Args>(args)...);
  }
  template <class... Args>
  decltype(auto) forward(Args&&... args) const {
    return get()->forward(std::forward<Args>(args)...);
  }
  // ensures: returns (*get())[arg], e.g. seq[0] for a Sequential.
  template <class Arg>
  decltype(auto) operator[](Arg&& arg) const {
    return (*get())[std::forward<Arg>(arg)];
  }

 private:
  std::shared_ptr<Impl> impl_;
};

template <class Impl>
std::ostream& operator<<(std::ostream& os, const ModuleHolder<Impl>& h) {
  return os << *h;
}

}  // namespace ag::nn

// AG_MODULE(Name): declares the holder `Name` of `NameImpl` (libtorch's TORCH_MODULE).
#define AG_MODULE(Name)                                        \
  class Name : public ::ag::nn::ModuleHolder<Name##Impl> {     \
   public:                                                     \
    using ::ag::nn::ModuleHolder<Name##Impl>::ModuleHolder;    \
  }

// AG_ARG(T, name) inside an options struct: a chainable setter `name(value)` returning the
// options, and a getter `name()` (libtorch's TORCH_ARG). Follow it with `= default;`.
#define AG_ARG(T, name)                                                     \
 public:                                                                    \
  auto name(const T& new_##name)->decltype(*this) {                         \
    this->name##_ = new_##name;                                             \
    return *this;                                                           \
  }                                                                         \
  const T& name() const noexcept { return this->name##_; }                  \
  T& name() noexcept { return this->name##_; }                              \
                                                                            \
 private:                                                                   \
  T name##_
