// optim::save / optim::load: an optimizer's state_dict (and a scheduler's, under the
// metadata prefix "scheduler.") in a safetensors file, read and written by autograd's
// ag/io/safetensors.hpp (the same code as ag::nn's save/load, without a dependency on ag::nn).
#include "ag/optim/serialize.hpp"

#include "ag/io/safetensors.hpp"

namespace ag::optim {

namespace {

namespace st = ag::io::safetensors;

const std::string kSchedulerPrefix = "scheduler.";

void write_state(const std::string& path, const OptimizerStateDict& sd) {
  st::write(sd.tensors, path, sd.metadata, "optim::save");
}

// The tensors in file order (by data offset); no size of a shape, nor an element count,
// above 2^40.
OptimizerStateDict read_state(const std::string& path) {
  const st::File file = st::read(path, "optim::load", {.by_offset = true, .max_size = uint64_t{1} << 40});
  return {file.tensors(), file.metadata};
}

}  // namespace

void save(const Optimizer& optimizer, const std::string& path) {
  OptimizerStateDict sd = optimizer.state_dict();
  write_state(path, sd);
}

void save(const Optimizer& optimizer, const LRScheduler& scheduler, const std::string& path) {
  OptimizerStateDict sd = optimizer.state_dict();
  for (const auto& [k, v] : scheduler.state_dict()) sd.metadata[kSchedulerPrefix + k] = v;
  write_state(path, sd);
}

void load(Optimizer& optimizer, const std::string& path) {
  OptimizerStateDict sd = read_state(path);
  optimizer.load_state_dict(sd);
}

void load(Optimizer& optimizer, LRScheduler& scheduler, const std::string& path) {
  OptimizerStateDict sd = read_state(path);
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
