// LRScheduler, StepLR and CosineAnnealingLR: PyTorch's closed forms, evaluated at
// last_epoch from the base learning rates (never by multiplying the previous lr, so an
// lr is the same whether reached by stepping or by loading a state).
#include "ag/optim/schedulers.hpp"

#include <cmath>
#include <numbers>

#include "util.hpp"

namespace ag::optim {

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {}

void LRScheduler::initialize() {
  base_lrs_.clear();
  for (const auto& g : optimizer_.param_groups()) base_lrs_.push_back(g.options().get_lr());
  last_epoch_ = 0;
  apply(get_lr());
}

void LRScheduler::apply(const std::vector<double>& lrs) {
  auto& groups = optimizer_.param_groups();
  AG_CHECK(lrs.size() == groups.size(), name(), ".step: the optimizer has ", groups.size(),
           " param groups but the scheduler was made for ", lrs.size());
  for (double lr : lrs) internal::check_nonneg(name(), "learning rate", lr);
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(lrs[i]);
  last_lr_ = lrs;
}

void LRScheduler::step() {
  ++last_epoch_;
  try {
    apply(get_lr());
  } catch (...) {
    --last_epoch_;
    throw;
  }
}

Metadata LRScheduler::state_dict() const {
  Metadata md;
  md["scheduler"] = name();
  md["last_epoch"] = std::to_string(last_epoch_);
  std::string lrs;
  for (size_t i = 0; i < base_lrs_.size(); ++i) {
    if (i) lrs += ',';
    lrs += internal::format_double(base_lrs_[i]);
  }
  md["base_lrs"] = lrs;
  return md;
}

namespace {

struct SchedulerState {
  int64_t last_epoch;
  std::vector<double> base_lrs;
};

SchedulerState parse_scheduler_state(const Metadata& md, const char* name, size_t ngroups) {
  auto get = [&](const char* key) -> const std::string& {
    auto it = md.find(key);
    AG_CHECK(it != md.end(), name, ".load_state_dict: the state has no '", key, "' entry");
    return it->second;
  };
  AG_CHECK(get("scheduler") == name, name, ".load_state_dict: the state is a ", get("scheduler"), "'s, not a ", name,
           "'s");
  SchedulerState s;
  s.last_epoch = internal::parse_int(get("last_epoch"), "'last_epoch'");
  AG_CHECK(s.last_epoch >= 0, name, ".load_state_dict: last_epoch ", s.last_epoch, " is negative");
  const std::string& lrs = get("base_lrs");
  size_t start = 0;
  while (start <= lrs.size() && !lrs.empty()) {
    size_t comma = lrs.find(',', start);
    if (comma == std::string::npos) comma = lrs.size();
    double v = internal::parse_double(lrs.substr(start, comma - start), "a base lr");
    internal::check_nonneg(name, "base lr", v);
    s.base_lrs.push_back(v);
    start = comma + 1;
  }
  AG_CHECK(s.base_lrs.size() == ngroups, name, ".load_state_dict: the state has ", s.base_lrs.size(),
           " base lrs, the optimizer has ", ngroups, " param groups");
  return s;
}

}  // namespace

void LRScheduler::check_state_dict(const Metadata& state) const {
  parse_scheduler_state(state, name(), optimizer_.param_groups().size());
}

void LRScheduler::load_state_dict(const Metadata& state) {
  SchedulerState s = parse_scheduler_state(state, name(), optimizer_.param_groups().size());
  const int64_t old_epoch = last_epoch_;
  std::vector<double> old_base = std::move(base_lrs_);
  last_epoch_ = s.last_epoch;
  base_lrs_ = std::move(s.base_lrs);
  try {
    std::vector<double> lrs = get_lr();
    for (double lr : lrs) internal::check_nonneg(name(), "learning rate", lr);
    last_lr_ = std::move(lrs);
  } catch (...) {
    last_epoch_ = old_epoch;
    base_lrs_ = std::move(old_base);
    throw;
  }
}

// ---- StepLR ---------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  AG_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got ", step_size);
  internal::check_nonneg("StepLR", "gamma", gamma);
  initialize();
}

std::vector<double> StepLR::get_lr() const {
  std::vector<double> out;
  const double factor = std::pow(gamma_, static_cast<double>(last_epoch() / step_size_));
  for (double base : base_lrs()) out.push_back(base * factor);
  return out;
}

// ---- CosineAnnealingLR ----------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  AG_CHECK(T_max >= 1, "CosineAnnealingLR: T_max must be >= 1, got ", T_max);
  internal::check_nonneg("CosineAnnealingLR", "eta_min", eta_min);
  initialize();
}

std::vector<double> CosineAnnealingLR::get_lr() const {
  std::vector<double> out;
  const double c = std::cos(std::numbers::pi * static_cast<double>(last_epoch()) / static_cast<double>(T_max_));
  for (double base : base_lrs()) out.push_back(eta_min_ + (base - eta_min_) * (1.0 + c) / 2.0);
  return out;
}

}  // namespace ag::optim
