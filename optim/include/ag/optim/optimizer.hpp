// ag::optim::Optimizer — the base of every optimizer: parameters in groups, each group
// with its own hyper-parameters, per-parameter state, and a state_dict to resume from.
//
// What it represents: a set of leaf tensors that require grad (the parameters), split into
// one or more OptimizerParamGroup, each carrying a full copy of the optimizer's options
// (lr, momentum, betas, ...). step() reads each parameter's .grad() and updates the
// parameter's data in place; the per-parameter buffers it keeps (momentum, Adam moments,
// step counts) are the optimizer's state, created lazily on a parameter's first step.
// Names follow libtorch (torch::optim::Optimizer, OptimizerParamGroup, OptimizerOptions).
//
// Errors: every misuse throws ag::Error naming the optimizer and the offending value, and
// leaves the parameters, their gradients and the optimizer's state as they were.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ag/autograd.hpp"
#include "ag/tensor.hpp"

// AG_OPTIM_ARG(T, name) = default: a chainable option, as libtorch's TORCH_ARG.
//   opts.name(v) sets it and returns *this;  opts.name() reads it;  opts.name() = v assigns.
#define AG_OPTIM_ARG(T, name)                                     \
 public:                                                          \
  inline auto name(const T& new_##name)->decltype(*this) {        \
    this->name##_ = new_##name;                                   \
    return *this;                                                 \
  }                                                               \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }             \
                                                                  \
 private:                                                         \
  T name##_

namespace ag::optim {

// Scalar state and hyper-parameters of a state_dict, as text (numbers in shortest
// round-trip form, so a double survives save and load bitwise).
using Metadata = std::map<std::string, std::string>;
// Buffers of a state_dict, in a fixed order: "<param index>.<buffer name>".
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What Optimizer::state_dict() returns and load_state_dict() takes.
//   tensors:  "0.momentum_buffer", "0.exp_avg", "0.exp_avg_sq", ... — <index> counts the
//             parameters over all groups in order; copies, not the live buffers.
//   metadata: "optimizer" (kind: "SGD", "Adam", "AdamW"), "format", "param_groups" (count),
//             "group.<g>.params" (count), "group.<g>.<option>" (lr, momentum, ...),
//             "state" (comma-separated indices that have state), "<index>.step" (Adam).
struct OptimizerStateDict {
  NamedTensors tensors;
  Metadata metadata;
};

// The hyper-parameters of one param group. Each optimizer has its own subclass
// (SGDOptions, AdamOptions, AdamWOptions) whose chainable setters are the user's API;
// the virtuals below are what Optimizer, the schedulers and state_dict use.
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  // The optimizer these options belong to: "SGD", "Adam", "AdamW".
  virtual const char* kind() const = 0;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;
  virtual double get_lr() const = 0;
  // Sets the learning rate without checking it (Optimizer::set_lr checks).
  virtual void set_lr(double lr) = 0;
  // Ensures: every option as (name, value), booleans as 0 or 1, in a fixed order.
  virtual std::vector<std::pair<std::string, double>> named_values() const = 0;
  // Requires: `name` is one of named_values()' names (else ag::Error).
  virtual void set_named_value(const std::string& name, double value) = 0;
  // Throws ag::Error naming the option when a value is out of range: non-finite or
  // negative lr, negative momentum/weight_decay/eps, betas outside [0, 1), ...
  virtual void validate() const = 0;
};

// State an optimizer keeps for one parameter. Subclasses name their buffers and counters
// so that state_dict/load_state_dict can handle every optimizer the same way.
class OptimizerParamState {
 public:
  virtual ~OptimizerParamState() = default;
  virtual std::unique_ptr<OptimizerParamState> clone() const = 0;
  // Every buffer slot as (name, pointer to it); an undefined buffer is not saved.
  virtual std::vector<std::pair<std::string, Tensor*>> named_buffers() = 0;
  // Every integer counter as (name, pointer to it), e.g. ("step", &step).
  virtual std::vector<std::pair<std::string, int64_t*>> named_counters() { return {}; }
};

// A list of parameters and the options used to update them.
class OptimizerParamGroup {
 public:
  // A group without options takes the optimizer's defaults when given to an optimizer.
  OptimizerParamGroup(std::vector<Tensor> params);  // NOLINT: implicit, as libtorch
  OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options);
  OptimizerParamGroup(const OptimizerParamGroup& other);  // deep-copies the options
  OptimizerParamGroup& operator=(const OptimizerParamGroup& other);
  OptimizerParamGroup(OptimizerParamGroup&&) noexcept = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) noexcept = default;

  bool has_options() const { return options_ != nullptr; }
  // Requires: has_options() (else ag::Error).
  OptimizerOptions& options();
  const OptimizerOptions& options() const;
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }
  std::vector<Tensor>& params() { return params_; }
  const std::vector<Tensor>& params() const { return params_; }

 private:
  std::vector<Tensor> params_;
  std::unique_ptr<OptimizerOptions> options_;
};

class Optimizer {
 public:
  // Called by step() (with grad mode on) to re-evaluate the model; returns the loss.
  using LossClosure = std::function<Tensor()>;

  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer();

  // One update of every parameter whose grad is defined (others are skipped).
  // Requires: every group's options are valid; every defined grad has its parameter's
  //           shape and dtype. All of it is checked before any parameter changes.
  // Ensures:  parameters and state updated in place under ag::NoGradGuard (the storage
  //           version of each updated parameter is bumped); returns closure's loss, if any.
  virtual Tensor step(LossClosure closure = nullptr);

  // set_to_none: every grad becomes undefined; else each defined grad is zeroed in place
  // (and detached from any graph a create_graph backward gave it).
  void zero_grad(bool set_to_none = true);

  // Requires: a non-empty group of defined, floating, leaf tensors that require grad and
  //           appear in no other group; options (if any) of this optimizer's kind, valid.
  // Ensures:  the group is appended, with a copy of the defaults when it had no options.
  void add_param_group(const OptimizerParamGroup& param_group);

  std::vector<OptimizerParamGroup>& param_groups() noexcept { return param_groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const noexcept { return param_groups_; }
  // Every parameter of every group, in order (the order of state_dict's indices).
  std::vector<Tensor> parameters() const;
  // Number of parameters over all groups.
  size_t size() const noexcept;
  const OptimizerOptions& defaults() const noexcept { return *defaults_; }
  OptimizerOptions& defaults() noexcept { return *defaults_; }
  // "SGD", "Adam" or "AdamW".
  const char* name() const { return defaults_->kind(); }

  // The first group's learning rate.
  double lr() const;
  // Sets the learning rate of every group. Requires: lr finite and >= 0 (else ag::Error,
  // nothing changed).
  void set_lr(double lr);

  // The state kept for `param` (null before its first step or when not a parameter here).
  OptimizerParamState* state_of(const Tensor& param);
  const OptimizerParamState* state_of(const Tensor& param) const;

  // A copy of everything step() depends on besides the parameters: options of each group
  // and every parameter's state (see OptimizerStateDict for the names).
  OptimizerStateDict state_dict() const;
  // Requires: the state of an optimizer of the same kind, with the same number of groups
  //           and parameters per group; every buffer with its parameter's shape and dtype;
  //           every option present and valid; no tensor this optimizer would not use.
  // Ensures:  the group options and the state become (copies of) the loaded ones, so the
  //           next steps are bitwise those the saved optimizer would have taken. On any
  //           violation throws ag::Error and changes nothing.
  void load_state_dict(const NamedTensors& tensors, const Metadata& metadata);
  void load_state_dict(const OptimizerStateDict& state) { load_state_dict(state.tensors, state.metadata); }

 protected:
  // Requires: defaults valid; at least one group (see add_param_group).
  Optimizer(std::vector<OptimizerParamGroup> param_groups, std::unique_ptr<OptimizerOptions> defaults);

  // A fresh (empty) state for one parameter.
  virtual std::unique_ptr<OptimizerParamState> make_state() const = 0;
  // Checks a loaded state against its parameter and group options; throws ag::Error.
  // The base checked already that every defined buffer has the parameter's shape and dtype.
  virtual void check_loaded_state(OptimizerParamState& state, const Tensor& param,
                                  const OptimizerOptions& options, const std::string& where) const;
  // Updates one parameter. Called under NoGradGuard with a grad of the parameter's shape
  // and dtype, options already validated, and state made by make_state().
  virtual void update(const Tensor& param, const Tensor& grad, const OptimizerOptions& options,
                      OptimizerParamState& state) = 0;

 private:
  void check_group(const OptimizerParamGroup& group, size_t group_index,
                   const std::vector<OptimizerParamGroup>& others) const;

  std::vector<OptimizerParamGroup> param_groups_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::unordered_map<const ag::detail::TensorImpl*, std::unique_ptr<OptimizerParamState>> state_;
};

}  // namespace ag::optim
