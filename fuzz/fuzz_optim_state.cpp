// fuzz_optim_state: ag::optim::load on arbitrary bytes, for Adam (state after one step)
// and SGD with momentum plus a StepLR scheduler. A failed load must leave the optimizer's
// state, its options, the scheduler and the parameters exactly as they were.
#include <memory>
#include <vector>

#include "fuzz_util.hpp"
#include "models.hpp"

namespace optim = ag::optim;

namespace {

using ag_fuzz::make_params;
using ag_fuzz::one_step;

bool same_state(const optim::OptimizerStateDict& a, const optim::OptimizerStateDict& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i)
    if (a.tensors[i].first != b.tensors[i].first || !ag_fuzz::same_bits(a.tensors[i].second, b.tensors[i].second))
      return false;
  return true;
}

// Loads `path` with `load`; on failure checks nothing changed, on success that state_dict
// and options are loadable again (save + load round trip).
template <class Load>
bool exercise(optim::Optimizer& opt, const std::vector<ag::Tensor>& params, Load&& load, const char* what) {
  const optim::OptimizerStateDict before = opt.state_dict();
  std::vector<ag_fuzz::Snapshot> snaps;
  for (const auto& p : params) snaps.emplace_back(p);
  if (!ag_fuzz::allowed(load)) {
    AG_FUZZ_ASSERT(same_state(before, opt.state_dict()), std::string(what) + ": a failed load changed the state");
    for (const auto& s : snaps) AG_FUZZ_ASSERT(s.changed().empty(), std::string(what) + ": a failed load changed a parameter");
    return false;
  }
  for (const auto& s : snaps) AG_FUZZ_ASSERT(s.changed().empty(), std::string(what) + ": load changed a parameter");
  // The loaded state must drive a step without anything but ag::Error, and survive a round trip.
  const optim::OptimizerStateDict loaded = opt.state_dict();
  const std::string out = ag_fuzz::temp_dir() + "/optim.safetensors";
  if (ag_fuzz::allowed([&] { optim::save(opt, out); })) {
    AG_FUZZ_ASSERT(ag_fuzz::allowed([&] { optim::load(opt, out); }), std::string(what) + ": a saved state does not load");
    AG_FUZZ_ASSERT(same_state(loaded, opt.state_dict()), std::string(what) + ": the round trip changed the state");
  }
  ag_fuzz::allowed([&] { one_step(opt, params); });
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ag_fuzz::MemFile file("optim");
  const std::string& path = file.write(data, size);
  {
    const auto params = make_params();
    optim::Adam adam(params, ag_fuzz::adam_options());
    one_step(adam, params);
    exercise(adam, params, [&] { optim::load(adam, path); }, "Adam");
  }
  {
    const auto params = make_params();
    optim::SGD sgd(params, ag_fuzz::sgd_options());
    optim::StepLR sched(sgd, 2, 0.5);
    one_step(sgd, params);
    sched.step();
    const auto sched_before = sched.state_dict();
    if (!exercise(sgd, params, [&] { optim::load(sgd, sched, path); }, "SGD+StepLR"))
      AG_FUZZ_ASSERT(sched.state_dict() == sched_before, "SGD+StepLR: a failed load changed the scheduler");
  }
  return 0;
}
