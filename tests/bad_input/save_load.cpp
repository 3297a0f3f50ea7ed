// Bad-input catalogue, area "save/load": nn::load/save, save_tensors and optim::load/save,
// with damaged and mismatched files (the harness and what every case asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> save_load_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  // A model's file loaded into another model: nothing of the target changes.
  auto load_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string(const std::string&)> bytes,
                       std::function<nn::Sequential()> target = [] { return mlp(); }) {
    add("save/load", name, std::move(expect), [bytes, target] {
      const std::string d = case_dir(), p = d + "/m.safetensors";
      nn::Sequential src = mlp();
      src->train();
      src(ag::randn({5, 3}));  // running statistics move
      nn::save(src, p);
      write_file(p, bytes(read_file(p)));
      nn::Sequential dst = target();
      return Trial{[=] { nn::load(dst, p); }, {}, [=] { return fp_module(*dst) + fp_dir(d); }};
    });
  };
  load_case("nn::load of another architecture", {"load", "'0.weight' has shape [4, 3] in the file but [8, 3]"},
            [](const std::string& b) { return b; }, [] { return mlp(3, 8, 2); });
  load_case("nn::load into a bigger model", {"load", "'4.weight'", "missing"}, [](const std::string& b) { return b; }, [] {
    nn::Sequential net = mlp();
    net->push_back(nn::Linear(2, 2));
    return net;
  });
  load_case("nn::load into a smaller model", {"load", "'3.weight'", "does not have"}, [](const std::string& b) { return b; },
            [] {
              nn::Sequential net;
              net->push_back(nn::Linear(3, 4));
              net->push_back(nn::BatchNorm1d(4));
              return net;
            });
  load_case("nn::load into float64", {"load", "'0.weight' has dtype F32", "float64 in the module"},
            [](const std::string& b) { return b; }, [] {
              nn::Sequential net = mlp();
              net->to(ag::kFloat64);
              return net;
            });
  load_case("nn::load truncated data", {"load", "beyond the data area"},
            [](const std::string& b) { return b.substr(0, b.size() - 4); });
  load_case("nn::load truncated header", {"load", "follow the length"}, [](const std::string& b) { return b.substr(0, 40); });
  load_case("nn::load of 5 bytes", {"load", "fewer than the 8"}, [](const std::string& b) { return b.substr(0, 5); });
  load_case("nn::load of an empty file", {"load", "fewer than the 8"}, [](const std::string&) { return std::string(); });
  load_case("nn::load corrupted JSON", {"load", "JSON"}, [](std::string b) {
    b[9] = '#';
    return b;
  });
  load_case("nn::load header length past the file", {"load", "follow the length"}, [](std::string b) {
    return le64(b.size()) + b.substr(8);
  });
  load_case("nn::load header length 2^40", {"load", "limit"}, [](std::string b) { return le64(uint64_t{1} << 40) + b.substr(8); });
  load_case("nn::load trailing bytes", {"load", "trailing"}, [](const std::string& b) { return b + "xyz"; });
  load_case("nn::load of an optimizer's file", {"load", "missing"}, [](const std::string&) {
    auto ps = stepped_params();
    optim::Adam adam(ps, optim::AdamOptions(1e-3));
    give_grads(ps);
    adam.step();
    const std::string p = tmp_dir() + "/adam-for-nn.safetensors";
    optim::save(adam, p);
    return read_file(p);
  });
  add("save/load", "nn::load of a missing file", {"load", "cannot open"}, [] {
    nn::Sequential dst = mlp();
    const std::string p = tmp_dir() + "/absent.safetensors";
    return Trial{[=] { nn::load(dst, p); }, {}, [=] { return fp_module(*dst); }};
  });
  add("save/load", "nn::load of a directory", {"load", "not a regular file"}, [] {
    nn::Sequential dst = mlp();
    const std::string d = case_dir();
    return Trial{[=] { nn::load(dst, d); }, {}, [=] { return fp_module(*dst); }};
  });
  add("save/load", "nn::save into a missing directory", {"save", "cannot create"}, [] {
    nn::Sequential net = mlp();
    const std::string d = case_dir();
    return Trial{[=] { nn::save(net, d + "/no/such/dir/m.safetensors"); }, {}, [=] { return fp_module(*net) + fp_dir(d); }};
  });
  add("save/load", "nn::save over a directory keeps the old state", {"save", "renaming"}, [] {
    nn::Sequential net = mlp();
    const std::string d = case_dir();
    fs::create_directories(d + "/taken/x");
    return Trial{[=] { nn::save(net, d + "/taken"); }, {}, [=] { return fp_module(*net) + fp_dir(d); }};
  });
  add("save/load", "save_tensors with a name twice", {"save_tensors", "'a'", "twice"}, [] {
    const std::string d = case_dir();
    Tensor a = ag::ones({2});
    return Trial{[=] { nn::save_tensors({{"a", a}, {"a", a}}, d + "/t.safetensors"); }, {a}, [=] { return fp_dir(d); }};
  });
  add("save/load", "save_tensors of an undefined tensor", {"save_tensors", "'u'", "undefined"}, [] {
    const std::string d = case_dir();
    return Trial{[=] { nn::save_tensors({{"u", Tensor()}}, d + "/t.safetensors"); }, {}, [=] { return fp_dir(d); }};
  });
  add("save/load", "save_tensors named __metadata__", {"save_tensors", "reserved"}, [] {
    const std::string d = case_dir();
    return Trial{[=] { nn::save_tensors({{"__metadata__", ag::ones({1})}}, d + "/t.safetensors"); }, {},
                 [=] { return fp_dir(d); }};
  });
  auto optim_file = [](bool with_scheduler) {
    auto ps = stepped_params();
    optim::SGD sgd(ps, optim::SGDOptions(0.1).momentum(0.9));
    optim::StepLR sched(sgd, 2);
    give_grads(ps);
    sgd.step();
    sched.step();
    const std::string p = tmp_dir() + (with_scheduler ? "/sgd-sched.safetensors" : "/sgd.safetensors");
    if (with_scheduler) optim::save(sgd, sched, p);
    else optim::save(sgd, p);
    return read_file(p);
  };
  auto optim_load_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string()> bytes,
                             bool adam = true) {
    add("save/load", name, std::move(expect), [bytes, adam] {
      const std::string d = case_dir(), p = d + "/o.safetensors";
      write_file(p, bytes());
      auto ps = stepped_params();
      std::shared_ptr<optim::Optimizer> opt;
      if (adam) opt = std::make_shared<optim::Adam>(ps, optim::AdamOptions(1e-3));
      else opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.3).momentum(0.5));
      give_grads(ps);
      opt->step();
      return Trial{[=] { optim::load(*opt, p); }, ps, [=] { return fp_optim(*opt) + fp_dir(d); }};
    });
  };
  optim_load_case("optim::load of an SGD's file into Adam", {"load_state_dict", "SGD", "Adam"},
                  [=] { return optim_file(false); });
  optim_load_case("optim::load of a model's file", {"load_state_dict", "optimizer"}, [] {
    const std::string p = tmp_dir() + "/model-for-optim.safetensors";
    nn::save(mlp(), p);
    return read_file(p);
  });
  optim_load_case("optim::load truncated", {"optim::load", "truncated"}, [=] {
    const std::string b = optim_file(false);
    return b.substr(0, b.size() - 8);
  }, false);
  optim_load_case("optim::load corrupt header", {"optim::load", "corrupt header"}, [=] {
    std::string b = optim_file(false);
    b[8] = '[';
    return b;
  }, false);
  optim_load_case("optim::load of 3 bytes", {"optim::load", "not a safetensors file"}, [] { return std::string("abc"); }, false);
  add("save/load", "optim::load without scheduler state", {"optim::load", "no scheduler state"}, [=] {
    const std::string d = case_dir(), p = d + "/o.safetensors";
    write_file(p, optim_file(false));
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1).momentum(0.9));
    auto sched = std::make_shared<optim::StepLR>(*opt, 2);
    give_grads(ps);
    opt->step();
    return Trial{[=] { optim::load(*opt, *sched, p); }, ps, [=] {
                   std::string s = fp_optim(*opt) + fp_dir(d);
                   for (const auto& [k, v] : sched->state_dict()) s += k + v;
                   return s;
                 }};
  });
  add("save/load", "optim::load of a missing file", {"optim::load", "cannot open"}, [] {
    auto ps = stepped_params();
    auto opt = std::make_shared<optim::SGD>(ps, optim::SGDOptions(0.1));
    const std::string p = tmp_dir() + "/absent-optim.safetensors";
    return Trial{[=] { optim::load(*opt, p); }, ps, [=] { return fp_optim(*opt); }};
  });
  return cs;
}

}  // namespace bad_input
