// Optimizer: param groups, the checked step loop, zero_grad, and state_dict/load_state_dict.
//
// Note [Check everything, then change]: step() and load_state_dict() first check every
// group, gradient and loaded value, and only then touch a parameter or the state, so an
// ag::Error leaves the optimizer and the parameters exactly as they were.
#include "ag/optim/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_set>

#include "util.hpp"

namespace ag::optim {

namespace {

constexpr const char* kFormat = "ag.optim.v1";

const std::string& need(const Metadata& md, const std::string& key) {
  auto it = md.find(key);
  AG_CHECK(it != md.end(), "load_state_dict: the state has no '", key, "' entry");
  return it->second;
}

std::vector<int64_t> parse_index_list(const std::string& s) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(internal::parse_int(s.substr(start, comma - start), "an index of 'state'"));
    start = comma + 1;
  }
  return out;
}

}  // namespace

// ---- OptimizerParamGroup --------------------------------------------------------------

OptimizerParamGroup::OptimizerParamGroup(std::vector<Tensor> params) : params_(std::move(params)) {}
OptimizerParamGroup::OptimizerParamGroup(std::vector<Tensor> params, std::unique_ptr<OptimizerOptions> options)
    : params_(std::move(params)), options_(std::move(options)) {}
OptimizerParamGroup::OptimizerParamGroup(const OptimizerParamGroup& other)
    : params_(other.params_), options_(other.options_ ? other.options_->clone() : nullptr) {}
OptimizerParamGroup& OptimizerParamGroup::operator=(const OptimizerParamGroup& other) {
  if (this != &other) {
    params_ = other.params_;
    options_ = other.options_ ? other.options_->clone() : nullptr;
  }
  return *this;
}
OptimizerOptions& OptimizerParamGroup::options() {
  AG_CHECK(options_, "OptimizerParamGroup: the group has no options");
  return *options_;
}
const OptimizerOptions& OptimizerParamGroup::options() const {
  AG_CHECK(options_, "OptimizerParamGroup: the group has no options");
  return *options_;
}

// ---- construction ---------------------------------------------------------------------

Optimizer::Optimizer(std::vector<OptimizerParamGroup> param_groups, std::unique_ptr<OptimizerOptions> defaults)
    : defaults_(std::move(defaults)) {
  defaults_->validate();
  AG_CHECK(!param_groups.empty(), name(), ": optimizer got an empty parameter list");
  for (const auto& g : param_groups) add_param_group(g);
}

Optimizer::~Optimizer() = default;

void Optimizer::check_group(const OptimizerParamGroup& group, size_t group_index,
                            const std::vector<OptimizerParamGroup>& others) const {
  AG_CHECK(!group.params().empty(), name(), ": optimizer got an empty parameter list (param group ",
           group_index, ")");
  if (group.has_options()) {
    AG_CHECK(std::string(group.options().kind()) == name(), name(), ": param group ", group_index,
             " has options of ", group.options().kind(), ", not ", name());
    group.options().validate();
  }
  std::unordered_set<const ag::detail::TensorImpl*> seen;
  for (const auto& g : others)
    for (const auto& p : g.params()) seen.insert(p.unsafeGetTensorImpl());
  for (size_t i = 0; i < group.params().size(); ++i) {
    const Tensor& p = group.params()[i];
    AG_CHECK(p.defined(), name(), ": optimizer got an undefined parameter (param group ", group_index,
             ", index ", i, ")");
    AG_CHECK(p.is_floating_point(), name(), ": optimizer got a parameter of dtype ", dtype_name(p.dtype()),
             " (param group ", group_index, ", index ", i, ", shape ", shape_str(p.shape()),
             "); only float32 and float64 tensors can be optimized");
    AG_CHECK(p.requires_grad(), name(), ": optimizer got a parameter that does not require grad (param group ",
             group_index, ", index ", i, ", shape ", shape_str(p.shape()), "); call requires_grad_() on it");
    AG_CHECK(p.is_leaf(), name(), ": can't optimize a non-leaf tensor (param group ", group_index, ", index ", i,
             ", shape ", shape_str(p.shape()), ")");
    AG_CHECK(seen.insert(p.unsafeGetTensorImpl()).second, name(), ": a parameter appears twice (param group ",
             group_index, ", index ", i, ", shape ", shape_str(p.shape()), ")");
  }
}

void Optimizer::add_param_group(const OptimizerParamGroup& param_group) {
  check_group(param_group, param_groups_.size(), param_groups_);
  OptimizerParamGroup g(param_group.params(), param_group.has_options() ? param_group.options().clone()
                                                                        : defaults_->clone());
  param_groups_.push_back(std::move(g));
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  out.reserve(size());
  for (const auto& g : param_groups_) out.insert(out.end(), g.params().begin(), g.params().end());
  return out;
}

size_t Optimizer::size() const noexcept {
  size_t n = 0;
  for (const auto& g : param_groups_) n += g.params().size();
  return n;
}

double Optimizer::lr() const { return param_groups_.at(0).options().get_lr(); }

void Optimizer::set_lr(double lr) {
  internal::check_nonneg(name(), "learning rate", lr);
  for (auto& g : param_groups_) g.options().set_lr(lr);
}

OptimizerParamState* Optimizer::state_of(const Tensor& param) {
  if (!param.defined()) return nullptr;
  auto it = state_.find(param.unsafeGetTensorImpl());
  return it == state_.end() ? nullptr : it->second.get();
}
const OptimizerParamState* Optimizer::state_of(const Tensor& param) const {
  return const_cast<Optimizer*>(this)->state_of(param);
}

// ---- step and zero_grad ---------------------------------------------------------------

Tensor Optimizer::step(LossClosure closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode on(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  // Note [Check everything, then change]
  size_t index = 0;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto& group = param_groups_[gi];
    group.options().validate();
    for (const Tensor& p : group.params()) {
      Tensor g = p.grad();
      if (g.defined()) {
        AG_CHECK(g.shape() == p.shape(), name(), ".step: the grad of parameter ", index, " has shape ",
                 shape_str(g.shape()), " but the parameter has shape ", shape_str(p.shape()));
        AG_CHECK(g.dtype() == p.dtype(), name(), ".step: the grad of parameter ", index, " has dtype ",
                 dtype_name(g.dtype()), " but the parameter has dtype ", dtype_name(p.dtype()));
      }
      ++index;
    }
  }
  for (const auto& group : param_groups_) {
    for (const Tensor& p : group.params()) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      auto& state = state_[p.unsafeGetTensorImpl()];
      if (!state) state = make_state();
      update(p, g, group.options(), *state);
    }
  }
  return loss;
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (const auto& group : param_groups_) {
    for (const Tensor& p : group.params()) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        if (g.grad_fn()) {
          g = g.detach();
          p.set_grad(g);
        }
        g.zero_();
      }
    }
  }
}

// ---- state_dict -----------------------------------------------------------------------

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict sd;
  Metadata& md = sd.metadata;
  md["optimizer"] = name();
  md["format"] = kFormat;
  md["param_groups"] = std::to_string(param_groups_.size());
  std::string with_state;
  size_t index = 0;
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto& group = param_groups_[gi];
    const std::string prefix = "group." + std::to_string(gi) + ".";
    md[prefix + "params"] = std::to_string(group.params().size());
    for (const auto& [key, value] : group.options().named_values()) md[prefix + key] = internal::format_double(value);
    for (const Tensor& p : group.params()) {
      auto it = state_.find(p.unsafeGetTensorImpl());
      if (it != state_.end()) {
        const std::string k = std::to_string(index);
        if (!with_state.empty()) with_state += ",";
        with_state += k;
        for (const auto& [key, ptr] : it->second->named_counters()) md[k + "." + key] = std::to_string(*ptr);
        for (const auto& [key, ptr] : it->second->named_buffers())
          if (ptr->defined()) sd.tensors.emplace_back(k + "." + key, ptr->clone());
      }
      ++index;
    }
  }
  md["state"] = with_state;
  return sd;
}

void Optimizer::check_loaded_state(OptimizerParamState&, const Tensor&, const OptimizerOptions&,
                                   const std::string&) const {}

void Optimizer::load_state_dict(const NamedTensors& tensors, const Metadata& md) {
  // Note [Check everything, then change]: build the new options and state aside.
  const std::string& kind = need(md, "optimizer");
  AG_CHECK(kind == name(), "load_state_dict: the state was saved by a ", kind, " optimizer, this one is ", name());
  const std::string& format = need(md, "format");
  AG_CHECK(format == kFormat, "load_state_dict: unknown state format '", format, "' (expected '", kFormat, "')");
  const int64_t ngroups = internal::parse_int(need(md, "param_groups"), "'param_groups'");
  AG_CHECK(ngroups == static_cast<int64_t>(param_groups_.size()), "load_state_dict: the state has ", ngroups,
           " param groups, this ", name(), " optimizer has ", param_groups_.size());

  std::vector<std::unique_ptr<OptimizerOptions>> options;
  std::vector<Tensor> params;                      // global index -> parameter
  std::vector<const OptimizerOptions*> param_opts;  // global index -> its group's new options
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
    const auto& group = param_groups_[gi];
    const std::string prefix = "group." + std::to_string(gi) + ".";
    const int64_t n = internal::parse_int(need(md, prefix + "params"), "'" + prefix + "params'");
    AG_CHECK(n == static_cast<int64_t>(group.params().size()), "load_state_dict: param group ", gi, " of the state has ",
             n, " parameters, this optimizer's has ", group.params().size());
    auto o = group.options().clone();
    for (const auto& [key, unused] : o->named_values()) {
      (void)unused;
      o->set_named_value(key, internal::parse_double(need(md, prefix + key), "'" + prefix + key + "'"));
    }
    o->validate();
    for (const Tensor& p : group.params()) {
      params.push_back(p);
      param_opts.push_back(o.get());
    }
    options.push_back(std::move(o));
  }

  std::unordered_map<std::string, const Tensor*> by_name;
  for (const auto& [key, t] : tensors) {
    AG_CHECK(by_name.emplace(key, &t).second, "load_state_dict: the tensor '", key, "' appears twice");
  }
  std::vector<std::unique_ptr<OptimizerParamState>> states(params.size());
  size_t used = 0;
  for (int64_t k : parse_index_list(need(md, "state"))) {
    AG_CHECK(k >= 0 && k < static_cast<int64_t>(params.size()), "load_state_dict: the state names parameter ", k,
             " but this optimizer has ", params.size(), " parameters");
    AG_CHECK(!states[k], "load_state_dict: parameter ", k, " appears twice in 'state'");
    const Tensor& p = params[k];
    auto s = make_state();
    const std::string where = std::to_string(k);
    for (const auto& [key, ptr] : s->named_counters()) {
      const std::string full = where + "." + key;
      *ptr = internal::parse_int(need(md, full), "'" + full + "'");
    }
    for (const auto& [key, ptr] : s->named_buffers()) {
      const std::string full = where + "." + key;
      auto it = by_name.find(full);
      if (it == by_name.end()) continue;
      const Tensor& t = *it->second;
      AG_CHECK(t.defined(), "load_state_dict: the tensor '", full, "' is undefined");
      AG_CHECK(t.shape() == p.shape(), "load_state_dict: the tensor '", full, "' has shape ", shape_str(t.shape()),
               " but parameter ", k, " has shape ", shape_str(p.shape()));
      AG_CHECK(t.dtype() == p.dtype(), "load_state_dict: the tensor '", full, "' has dtype ", dtype_name(t.dtype()),
               " but parameter ", k, " has dtype ", dtype_name(p.dtype()));
      *ptr = t.detach().clone().contiguous();
      ++used;
    }
    check_loaded_state(*s, p, *param_opts[k], where);
    states[k] = std::move(s);
  }
  if (used != by_name.size()) {
    for (const auto& [key, t] : tensors) {
      (void)t;
      size_t dot = key.find('.');
      bool known = false;
      if (dot != std::string::npos) {
        int64_t k = -1;
        auto r = std::from_chars(key.data(), key.data() + dot, k);
        if (r.ec == std::errc() && r.ptr == key.data() + dot && k >= 0 && k < static_cast<int64_t>(states.size()) &&
            states[k]) {
          for (const auto& [bkey, ptr] : states[k]->named_buffers())
            if (bkey == key.substr(dot + 1)) known = ptr->defined();
        }
      }
      AG_CHECK(known, "load_state_dict: unexpected tensor '", key, "' for a ", name(), " optimizer");
    }
  }

  // Everything checked: commit (nothing below throws but allocation).
  for (size_t gi = 0; gi < param_groups_.size(); ++gi) param_groups_[gi].set_options(std::move(options[gi]));
  state_.clear();
  for (size_t k = 0; k < params.size(); ++k)
    if (states[k]) state_[params[k].unsafeGetTensorImpl()] = std::move(states[k]);
}

}  // namespace ag::optim
