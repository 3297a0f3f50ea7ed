// Bad-input catalogue, area "autograd": backward and ag::grad, gradients of the wrong shape
// or dtype, saved tensors changed in place, hooks (the harness and what every case asserts:
// harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> autograd_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("autograd", "backward twice", {"retain_graph", "MulBackward0"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor s = (x * x).sum();
    s.backward();
    return Trial{[=] { s.backward(); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "ag::grad twice", {"retain_graph"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor s = (x * x).sum();
    ag::grad({s}, {x});
    return Trial{[=] { ag::grad({s}, {x}); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "backward of a vector without a gradient",
      {"grad can be implicitly created only for scalar outputs", "[2]"}, [] {
        Tensor x = ag::tensor({1.f, 2.f}, kGrad);
        Tensor y = x * x;
        return Trial{[=] { y.backward(); }, {x, y}, [=] { return fp_grads({x}); }};
      });
  add("autograd", "backward with a gradient of another shape", {"backward", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x, g = ag::ones({3});
    return Trial{[=] { y.backward(g); }, {x, y, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "backward of what does not require grad", {"backward", "does not require grad"}, [] {
    Tensor s = ag::ones({2}).sum();
    return Trial{[=] { s.backward(); }, {s}};
  });
  add("autograd", "backward of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().backward(); }, {}}; });
  add("autograd", "backward with more gradients than roots", {"backward", "1 tensors", "2 gradients"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x;
    return Trial{[=] { ag::backward({y}, {ag::ones({2}), ag::ones({2})}); }, {x, y}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "grad of an input that does not require grad", {"grad", "does not require grad"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), c = ag::ones({2});
    Tensor s = (x * c).sum();
    return Trial{[=] { ag::grad({s}, {c}); }, {x, c}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "grad of an unused input", {"grad", "allow_unused"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), z = ag::ones({2}, kGrad);
    Tensor s = (x * x).sum();
    return Trial{[=] { ag::grad({s}, {z}); }, {x, z}, [=] { return fp_grads({x, z}); }};
  });
  add("autograd", "saved tensor changed in place", {"MulBackward0", "inplace", "version"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor a = x * 2.0;
    Tensor b = (a * a).sum();
    a.add_(1.0);
    return Trial{[=] { b.backward(); }, {x, a}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of another shape", {"set_grad", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), g = ag::ones({3});
    return Trial{[=] { x.set_grad(g); }, {x, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of itself", {"set_grad", "its own grad", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    return Trial{[=] { x.set_grad(x); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "set_grad of another dtype", {"set_grad", "float64", "float32"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad), g = ag::ones({2}, ag::kFloat64);
    return Trial{[=] { x.set_grad(g); }, {x, g}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "fuzz: a hook that returns another shape", {"hook", "[3]", "[2]"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    x.register_hook([](const Tensor&) { return ag::ones({3}); });
    Tensor s = (x * x).sum();
    return Trial{[=] { s.backward(); }, {x}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "a hook on a non-leaf that returns another dtype", {"hook", "float64", "float32"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * 3.0;
    y.register_hook([](const Tensor& g) { return g.to(ag::kFloat64); });
    Tensor s = (y * y).sum();
    return Trial{[=] { s.backward(); }, {x, y}, [=] { return fp_grads({x}); }};
  });
  add("autograd", "retain_grad on a tensor without grad", {"retain_grad", "requires_grad"}, [] {
    Tensor t = ag::ones({2});
    return Trial{[=] { t.retain_grad(); }, {t}};
  });
  add("autograd", "grad with grad_outputs of another count", {"grad", "1", "2"}, [] {
    Tensor x = ag::tensor({1.f, 2.f}, kGrad);
    Tensor y = x * x;
    return Trial{[=] { ag::grad({y}, {x}, {ag::ones({2}), ag::ones({2})}); }, {x, y}, [=] { return fp_grads({x}); }};
  });
  return cs;
}

}  // namespace bad_input
