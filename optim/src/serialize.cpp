// optim::save / optim::load: an optimizer's state_dict (and a scheduler's, under the
// metadata prefix "scheduler.") in a safetensors file.
#include "ag/optim/serialize.hpp"

#include "safetensors.hpp"

namespace ag::optim {

namespace {
const std::string kSchedulerPrefix = "scheduler.";
}

void save(const Optimizer& optimizer, const std::string& path) {
  OptimizerStateDict sd = optimizer.state_dict();
  internal::write_safetensors(path, sd.tensors, sd.metadata);
}

void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path) {
  OptimizerStateDict sd = optimizer.state_dict();
  for (const auto& [k, v] : scheduler.state_dict()) sd.metadata[kSchedulerPrefix + k] = v;
  internal::write_safetensors(path, sd.tensors, sd.metadata);
}

void load(Optimizer& optimizer, const std::string& path) {
  OptimizerStateDict sd = internal::read_safetensors(path);
  optimizer.load_state_dict(sd);
}

void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path) {
  OptimizerStateDict sd = internal::read_safetensors(path);
  Metadata sched;
  for (const auto& [k, v] : sd.metadata)
    if (k.rfind(kSchedulerPrefix, 0) == 0) sched[k.substr(kSchedulerPrefix.size())] = v;
  AG_CHECK(!sched.empty(), "optim::load: '", path, "' holds no scheduler state");
  // Check both before changing either (load_state_dict checks before it changes).
  scheduler.check_state_dict(sched);
  optimizer.load_state_dict(sd);
  scheduler.load_state_dict(sched);
}

}  // namespace ag::optim
