// ag::nn::Sequential — a chain of modules applied one after another.
//
// What it represents: an ordered list of child modules, registered as "0", "1", ...
// (or under names given to push_back); forward(x) feeds x through each in turn. Any module
// type with `Tensor forward(const Tensor&)` can be held: its forward is captured when it
// is added (libtorch's AnyModule), so user modules need no virtual forward.
//
//   ag::nn::Sequential net(ag::nn::Linear(2, 8), ag::nn::ReLU(), ag::nn::Linear(8, 1));
//   net->push_back(ag::nn::Sigmoid());
//   ag::Tensor y = net(x);                       // or net->forward(x)
//
// Also here: ag::nn::Functional, a module wrapping a plain function (e.g. ag::relu).
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/nn/module.hpp"

namespace ag::nn {

// A module together with its forward, type-erased.
class AnyModule {
 public:
  AnyModule() = default;
  template <class M>
  AnyModule(std::shared_ptr<M> m)  // NOLINT: implicit, as in libtorch
      : module_(m), forward_([p = m.get()](const Tensor& x) -> Tensor { return p->forward(x); }) {
    static_assert(std::is_base_of_v<Module, M>, "AnyModule: M must derive from ag::nn::Module");
    static_assert(std::is_convertible_v<decltype(std::declval<M&>().forward(std::declval<const Tensor&>())), Tensor>,
                  "AnyModule: the module needs Tensor forward(const Tensor&)");
    if (!m) fail("AnyModule: the module is null (an empty holder?)");
  }
  template <class M>
  AnyModule(const ModuleHolder<M>& h) : AnyModule(h.ptr()) {}  // NOLINT
  Tensor forward(const Tensor& x) const { return forward_(x); }
  const std::shared_ptr<Module>& ptr() const { return module_; }
  bool is_empty() const { return module_ == nullptr; }

 private:
  std::shared_ptr<Module> module_;
  std::function<Tensor(const Tensor&)> forward_;
};

class SequentialImpl : public Module {
 public:
  SequentialImpl() = default;
  // ensures: the modules, in order, as children "0", "1", ...
  template <class... Modules>
    requires(sizeof...(Modules) > 0 && (std::is_constructible_v<AnyModule, Modules> && ...))
  explicit SequentialImpl(Modules&&... modules) {
    (push_back(AnyModule(std::forward<Modules>(modules))), ...);
  }
  // ensures: named children in the given order (libtorch's Sequential({{"fc", ...}})).
  explicit SequentialImpl(std::vector<std::pair<std::string, AnyModule>> named);

  // requires: `name` unused (default: the current size as a string).
  // ensures: the module is appended and registered as a child.
  void push_back(AnyModule module);
  void push_back(std::string name, AnyModule module);
  // ensures: all modules of `other` appended (shared, not copied).
  void extend(const SequentialImpl& other);

  // requires: size() > 0 (else ag::Error).  ensures: x through every module in order.
  Tensor forward(const Tensor& x);

  size_t size() const noexcept { return modules_.size(); }
  bool is_empty() const noexcept { return modules_.empty(); }
  // requires: i < size() (else ag::Error).
  std::shared_ptr<Module> operator[](size_t i) const { return at_any(i).ptr(); }
  std::shared_ptr<Module> ptr(size_t i) const { return at_any(i).ptr(); }
  // requires: module i is a T (else ag::Error).  ensures: a typed pointer to it.
  template <class T>
  std::shared_ptr<T> ptr(size_t i) const {
    auto p = std::dynamic_pointer_cast<T>(at_any(i).ptr());
    if (!p) fail("Sequential: module ", i, " is a ", at_any(i).ptr()->name(), ", not the requested type");
    return p;
  }
  template <class T>
  T& at(size_t i) const { return *ptr<T>(i); }
  const std::vector<AnyModule>& modules_list() const noexcept { return modules_; }
  std::vector<AnyModule>::const_iterator begin() const { return modules_.begin(); }
  std::vector<AnyModule>::const_iterator end() const { return modules_.end(); }

  std::string name() const override { return "Sequential"; }

 private:
  const AnyModule& at_any(size_t i) const;
  std::vector<AnyModule> modules_;
};
class Sequential : public ModuleHolder<SequentialImpl> {
 public:
  using ModuleHolder<SequentialImpl>::ModuleHolder;
  Sequential() : ModuleHolder<SequentialImpl>() {}
  // ensures: named children, e.g. Sequential({{"fc", Linear(2, 3)}, {"act", ReLU()}}).
  Sequential(std::initializer_list<std::pair<std::string, AnyModule>> named)
      : ModuleHolder<SequentialImpl>(std::make_shared<SequentialImpl>(
            std::vector<std::pair<std::string, AnyModule>>(named.begin(), named.end()))) {}
};

// A module wrapping a function Tensor -> Tensor, e.g. Functional(ag::relu).
class FunctionalImpl : public Module {
 public:
  explicit FunctionalImpl(std::function<Tensor(const Tensor&)> fn) : fn_(std::move(fn)) {
    if (!fn_) fail("Functional: the function is empty");
  }
  explicit FunctionalImpl(Tensor (*fn)(const Tensor&)) : FunctionalImpl(std::function<Tensor(const Tensor&)>(fn)) {}
  Tensor forward(const Tensor& x) { return fn_(x); }
  std::string name() const override { return "Functional"; }

 private:
  std::function<Tensor(const Tensor&)> fn_;
};
AG_MODULE(Functional);

}  // namespace ag::nn
