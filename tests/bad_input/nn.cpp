// Bad-input catalogue, area "nn": modules, functional ops and losses, registration, clipping
// and init (the harness and what every case asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> nn_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("nn", "Linear on the wrong width", {"linear", "[4, 5]", "[2, 3]"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::ones({4, 5});
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear on int64 input", {"linear", "int64"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::ones({4, 3}, ag::kInt64);
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear on a 0-dim input", {"linear", "[]"}, [] {
    nn::Linear fc(3, 2);
    Tensor x = ag::scalar_tensor(1.0);
    return Trial{[=] { fc(x); }, {x}, [=] { return fp_module(*fc); }};
  });
  add("nn", "Linear with negative features", {"Linear", "-1"}, [] { return Trial{[] { nn::Linear(-1, 2); }, {}}; });
  add("nn", "F::linear with a bias of another size", {"linear", "[3]"}, [] {
    Tensor x = ag::ones({4, 3}), w = ag::ones({2, 3}), b = ag::ones({3});
    return Trial{[=] { F::linear(x, w, b); }, {x, w, b}};
  });
  add("nn", "BatchNorm1d on the wrong features", {"BatchNorm1d", "[4, 3]", "5"}, [] {
    nn::BatchNorm1d bn(5);
    Tensor x = ag::ones({4, 3});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d training on one sample", {"BatchNorm1d", "more than 1 value per channel", "[1, 4]"}, [] {
    nn::BatchNorm1d bn(4);
    Tensor x = ag::ones({1, 4});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d on a 1-D input", {"BatchNorm1d", "2D or 3D", "[4]"}, [] {
    nn::BatchNorm1d bn(4);
    Tensor x = ag::ones({4});
    return Trial{[=] { bn(x); }, {x}, [=] { return fp_module(*bn); }};
  });
  add("nn", "BatchNorm1d with no features", {"BatchNorm1d", "num_features", "0"},
      [] { return Trial{[] { nn::BatchNorm1d(0); }, {}}; });
  add("nn", "BatchNorm1d with eps NaN", {"BatchNorm1d", "eps", "nan"},
      [] { return Trial{[] { nn::BatchNorm1d(4, kNaN); }, {}}; });
  add("nn", "Dropout with p 1.5", {"Dropout", "1.5"}, [] { return Trial{[] { nn::Dropout(1.5); }, {}}; });
  add("nn", "Dropout with p NaN", {"Dropout", "nan"}, [] { return Trial{[] { (void)nn::Dropout(kNaN); }, {}}; });
  add("nn", "F::dropout with a negative p", {"dropout", "-0.1"}, [] {
    Tensor x = ag::ones({4});
    return Trial{[=] { F::dropout(x, -0.1, true); }, {x}};
  });
  add("nn", "Softmax over a missing dimension", {"softmax", "5"}, [] {
    nn::Softmax sm(5);
    Tensor x = ag::ones({2, 3});
    return Trial{[=] { sm(x); }, {x}};
  });
  add("nn", "empty Sequential forward", {"Sequential", "empty"}, [] {
    nn::Sequential s;
    Tensor x = ag::ones({2});
    return Trial{[=] { s->forward(x); }, {x}};
  });
  add("nn", "cross_entropy label out of range", {"cross_entropy", "10", "[4, 10]"}, [] {
    Tensor logits = ag::zeros({4, 10}, kGrad), y = ag::tensor({1, 2, 10, 3});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}, [=] { return fp_grads({logits}); }};
  });
  add("nn", "cross_entropy negative label", {"cross_entropy", "-1"}, [] {
    Tensor logits = ag::zeros({2, 3}), y = ag::tensor({int64_t{-1}, int64_t{0}});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy batch sizes differ", {"cross_entropy", "[4, 3]", "[5]"}, [] {
    Tensor logits = ag::zeros({4, 3}), y = ag::zeros({5}, ag::kInt64);
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy with float labels of another shape", {"cross_entropy", "[4, 3]", "[4]"}, [] {
    Tensor logits = ag::zeros({4, 3}), y = ag::zeros({4});
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "cross_entropy of 3-D logits", {"cross_entropy", "[2, 3, 4]"}, [] {
    Tensor logits = ag::zeros({2, 3, 4}), y = ag::zeros({2}, ag::kInt64);
    return Trial{[=] { F::cross_entropy(logits, y); }, {logits, y}};
  });
  add("nn", "nll_loss label out of range", {"nll_loss", "3"}, [] {
    Tensor lp = ag::zeros({2, 3}), y = ag::tensor({0, 3});
    return Trial{[=] { F::nll_loss(lp, y); }, {lp, y}};
  });
  add("nn", "mse_loss shapes differ", {"mse_loss", "[2, 3]", "[3]"}, [] {
    Tensor a = ag::ones({2, 3}), b = ag::ones({3});
    return Trial{[=] { F::mse_loss(a, b); }, {a, b}};
  });
  add("nn", "mse_loss dtypes differ", {"mse_loss", "float32", "float64"}, [] {
    Tensor a = ag::ones({3}), b = ag::ones({3}, ag::kFloat64);
    return Trial{[=] { F::mse_loss(a, b); }, {a, b}};
  });
  add("nn", "binary_cross_entropy of 1.5", {"binary_cross_entropy", "between 0 and 1", "[2]"}, [] {
    Tensor p = ag::tensor({0.5f, 1.5f}), y = ag::tensor({0.f, 1.f});
    return Trial{[=] { F::binary_cross_entropy(p, y); }, {p, y}};
  });
  add("nn", "binary_cross_entropy of NaN", {"binary_cross_entropy", "between 0 and 1", "[2]"}, [] {
    Tensor p = ag::tensor({0.5f, static_cast<float>(kNaN)}), y = ag::tensor({0.f, 1.f});
    return Trial{[=] { F::binary_cross_entropy(p, y); }, {p, y}};
  });
  add("nn", "bce_with_logits shapes differ", {"binary_cross_entropy_with_logits", "[2]", "[3]"}, [] {
    Tensor x = ag::ones({2}), y = ag::ones({3});
    return Trial{[=] { F::binary_cross_entropy_with_logits(x, y); }, {x, y}};
  });
  add("nn", "register_parameter with a dot", {"register_parameter", "a.b", "dot"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    return Trial{[=] { m->register_parameter("a.b", ag::ones({2})); }, {}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_parameter twice", {"register_parameter", "'w'", "already"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    m->register_parameter("w", ag::ones({2}));
    return Trial{[=] { m->register_parameter("w", ag::zeros({3})); }, {}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_parameter of a non-leaf", {"register_parameter", "leaf"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    Tensor x = ag::ones({2}, kGrad);
    Tensor y = x * 2.0;
    return Trial{[=] { m->register_parameter("y", y); }, {x, y}, [=] { return fp_module(*m); }};
  });
  add("nn", "register_module of null", {"register_module", "null"}, [] {
    auto m = std::make_shared<nn::Module>("M");
    return Trial{[=] { m->register_module("c", std::shared_ptr<nn::Module>()); }, {}};
  });
  add("nn", "Module::to int64", {"Module::to", "int64"}, [] {
    nn::Sequential net = mlp();
    return Trial{[=] { net->to(ag::kInt64); }, {}, [=] { return fp_module(*net); }};
  });
  add("nn", "Sequential index out of range", {"Sequential", "index 7"}, [] {
    nn::Sequential net = mlp();
    return Trial{[=] { net->ptr<nn::LinearImpl>(7); }, {}, [=] { return fp_module(*net); }};
  });
  add("nn", "clip_grad_norm_ with a negative max_norm", {"clip_grad_norm_", "-1"}, [] {
    Tensor p = ag::ones({3}, kGrad);
    p.set_grad(ag::full({3}, 10.0));
    return Trial{[=] { nn::utils::clip_grad_norm_(std::vector<Tensor>{p}, -1.0); }, {p}, [=] { return fp_grads({p}); }};
  });
  add("nn", "clip_grad_norm_ with a NaN max_norm", {"clip_grad_norm_", "nan"}, [] {
    Tensor p = ag::ones({3}, kGrad);
    p.set_grad(ag::full({3}, 10.0));
    return Trial{[=] { nn::utils::clip_grad_norm_(std::vector<Tensor>{p}, kNaN); }, {p}, [=] { return fp_grads({p}); }};
  });
  add("nn", "init::normal_ with a negative std", {"normal_", "-1"}, [] {
    Tensor t = ag::ones({3});
    return Trial{[=] { nn::init::normal_(t, 0.0, -1.0); }, {t}};
  });
  add("nn", "init::kaiming_uniform_ of a vector", {"fan"}, [] {
    Tensor t = ag::ones({3});
    return Trial{[=] { nn::init::kaiming_uniform_(t); }, {t}};
  });
  return cs;
}

}  // namespace bad_input
