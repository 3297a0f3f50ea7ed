// Bad-input catalogue, area "optim": optimizer options and parameters, state dicts and
// schedulers (the harness and what every case asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> optim_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("optim", "SGD with a negative lr", {"SGD", "learning rate", "-0.1"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(-0.1)); }, {}}; });
  add("optim", "SGD with a NaN lr", {"SGD", "learning rate", "nan"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(kNaN)); }, {}}; });
  add("optim", "SGD with a negative momentum", {"SGD", "momentum", "-0.5"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(0.1).momentum(-0.5)); }, {}}; });
  add("optim", "SGD nesterov without momentum", {"SGD", "esterov"},
      [] { return Trial{[] { optim::SGD(stepped_params(), optim::SGDOptions(0.1).nesterov(true)); }, {}}; });
  add("optim", "Adam with beta2 = 1", {"Adam", "beta", "1"},
      [] { return Trial{[] { optim::Adam(stepped_params(), optim::AdamOptions(1e-3).betas({0.9, 1.0})); }, {}}; });
  add("optim", "Adam with a negative eps", {"Adam", "eps", "-1e-08"},
      [] { return Trial{[] { optim::Adam(stepped_params(), optim::AdamOptions(1e-3).eps(-1e-8)); }, {}}; });
  add("optim", "AdamW with an infinite weight decay", {"AdamW", "weight_decay", "inf"},
      [] { return Trial{[] { optim::AdamW(stepped_params(), optim::AdamWOptions(1e-3).weight_decay(kInf)); }, {}}; });
  add("optim", "no parameters", {"SGD", "empty parameter list"},
      [] { return Trial{[] { optim::SGD(std::vector<Tensor>{}, optim::SGDOptions(0.1)); }, {}}; });
  add("optim", "a parameter that does not require grad", {"SGD", "does not require grad", "[2]"}, [] {
    Tensor p = ag::ones({2});
    return Trial{[=] { optim::SGD({p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "a non-leaf parameter", {"Adam", "non-leaf", "[2]"}, [] {
    Tensor x = ag::ones({2}, kGrad);
    Tensor y = x * 2.0;
    return Trial{[=] { optim::Adam({y}, optim::AdamOptions(1e-3)); }, {x, y}};
  });
  add("optim", "an int64 parameter", {"SGD", "int64"}, [] {
    Tensor p = ag::tensor({1, 2});
    return Trial{[=] { optim::SGD({p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "a parameter twice", {"SGD", "twice"}, [] {
    Tensor p = ag::ones({2}, kGrad);
    return Trial{[=] { optim::SGD({p, p}, optim::SGDOptions(0.1)); }, {p}};
  });
  add("optim", "add_param_group with a parameter already there", {"Adam", "twice"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    opt->step();
    return Trial{[=] { opt->add_param_group(optim::OptimizerParamGroup({ps[0]})); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "step with a group's lr made negative behind set_lr", {"SGD", "learning rate", "-1"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1).momentum(0.9));
    give_grads(ps);
    opt->step();
    give_grads(ps);
    opt->param_groups()[0].options().set_lr(-1.0);  // unchecked: step() must refuse it
    return Trial{[=] { opt->step(); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "set_lr NaN", {"Adam", "learning rate", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    return Trial{[=] { opt->set_lr(kNaN); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict of an Adam into an SGD", {"load_state_dict", "Adam", "SGD"}, [] {
    auto ps = stepped_params();
    optim::Adam adam(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    adam.step();
    const auto sd = adam.state_dict();
    auto ps2 = stepped_params();
    auto sgd = std::make_shared<optim::SGD>(ps2, optim::SGDOptions(0.1).momentum(0.9));
    give_grads(ps2);
    sgd->step();
    return Trial{[=] { sgd->load_state_dict(sd); }, ps2, [=] { return fp_optim(*sgd); }};
  });
  add("optim", "load_state_dict for more parameters", {"load_state_dict", "3 parameters", "2"}, [] {
    auto ps = stepped_params();
    ps.push_back(ag::ones({1}, kGrad));
    optim::SGD big(ps, optim::SGDOptions(0.1));
    const auto sd = big.state_dict();
    auto ps2 = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps2, optim::SGDOptions(0.2));
    return Trial{[=] { opt->load_state_dict(sd); }, ps2, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict with a buffer of another shape", {"load_state_dict", "exp_avg", "[2, 3]"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    opt->step();
    auto sd = opt->state_dict();
    for (auto& [k, t] : sd.tensors)
      if (k == "0.exp_avg") t = ag::zeros({3, 2});
    give_grads(ps);
    opt->step();
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict without an option", {"load_state_dict", "group.0.lr"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto sd = opt->state_dict();
    sd.metadata.erase("group.0.lr");
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "load_state_dict with a NaN lr", {"SGD", "learning rate", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto sd = opt->state_dict();
    sd.metadata["group.0.lr"] = "nan";
    return Trial{[=] { opt->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "StepLR with step_size 0", {"StepLR", "step_size", "0"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::StepLR(*opt, 0); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "StepLR with gamma NaN", {"StepLR", "gamma", "nan"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::StepLR(*opt, 2, kNaN); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "CosineAnnealingLR with T_max 0", {"CosineAnnealingLR", "T_max", "0"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    return Trial{[=] { optim::CosineAnnealingLR(*opt, 0); }, ps, [=] { return fp_optim(*opt); }};
  });
  add("optim", "scheduler state of another kind", {"StepLR", "CosineAnnealingLR"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    auto cos = std::make_shared<optim::CosineAnnealingLR>(*opt, 5);
    auto step = std::make_shared<optim::StepLR>(*opt, 2);
    const auto sd = cos->state_dict();
    return Trial{[=] { step->load_state_dict(sd); }, ps, [=] { return fp_optim(*opt) + "|" + step->state_dict().at("last_epoch"); }};
  });
  return cs;
}

}  // namespace bad_input
