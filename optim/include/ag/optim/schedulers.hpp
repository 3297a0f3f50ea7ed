// Learning-rate schedulers: StepLR and CosineAnnealingLR (PyTorch's closed forms).
//
// What they represent: a counter `last_epoch` and the learning rate each param group of an
// optimizer started with (`base_lrs`). Construction records base_lrs from the groups'
// current lr and sets last_epoch = 0 (PyTorch's initial step: lr stays base_lr); each
// step() increments last_epoch and writes the closed-form lr into every group:
//     StepLR:            lr = base_lr * gamma ^ floor(last_epoch / step_size)
//     CosineAnnealingLR: lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2
// The scheduler keeps a reference to the optimizer, which must outlive it.
//
//   ag::optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 90; ++epoch) { train_one_epoch(); sched.step(); }
#pragma once

#include <cstdint>
#include <vector>

#include "ag/optim/optimizer.hpp"

namespace ag::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Requires: the optimizer has as many groups as when the scheduler was made (else ag::Error).
  // Ensures:  last_epoch() grows by one; every group's lr is the closed form at it.
  void step();
  // The lr of every group as this scheduler last set it.
  const std::vector<double>& get_last_lr() const noexcept { return last_lr_; }
  int64_t last_epoch() const noexcept { return last_epoch_; }
  const std::vector<double>& base_lrs() const noexcept { return base_lrs_; }
  // "StepLR" or "CosineAnnealingLR".
  virtual const char* name() const = 0;

  // "scheduler" (name), "last_epoch", "base_lrs" (comma-separated, round-trip form).
  Metadata state_dict() const;
  // Throws ag::Error (changing nothing) unless `state` is a state_dict() of a scheduler of
  // the same name with one base lr per param group. Does not touch the optimizer's lrs
  // (load those with Optimizer::load_state_dict); get_last_lr() becomes the closed form.
  void load_state_dict(const Metadata& state);
  // The checks of load_state_dict alone.
  void check_state_dict(const Metadata& state) const;

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Derived constructors call this last: records base_lrs and applies epoch 0.
  void initialize();
  // The lr of each group at last_epoch(), from base_lrs().
  virtual std::vector<double> get_lr() const = 0;
  Optimizer& optimizer_;

 private:
  void apply(const std::vector<double>& lrs);
  int64_t last_epoch_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
};

// Multiplies each group's lr by gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  // Requires: step_size >= 1; gamma finite and >= 0 (else ag::Error).
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  const char* name() const override { return "StepLR"; }

 protected:
  std::vector<double> get_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Anneals each group's lr from base_lr to eta_min along half a cosine over T_max epochs.
class CosineAnnealingLR : public LRScheduler {
 public:
  // Requires: T_max >= 1; eta_min finite and >= 0 (else ag::Error).
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  const char* name() const override { return "CosineAnnealingLR"; }

 protected:
  std::vector<double> get_lr() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

}  // namespace ag::optim
