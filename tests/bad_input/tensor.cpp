// Bad-input catalogue, area "tensor": tensor factories, queries and conversions (the
// harness and what every case asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> tensor_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("tensor", "values do not fill the shape", {"tensor", "3 values", "[2, 2]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{1, 2, 3}, {2, 2}); }, {}}; });
  add("tensor", "no value for a 0-dim shape", {"tensor", "0 values", "[]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{}, ag::Shape{}); }, {}}; });
  add("tensor", "negative size in tensor()", {"tensor", "negative", "[-1, -2]"},
      [] { return Trial{[] { ag::tensor(std::vector<float>{1, 2}, {-1, -2}); }, {}}; });
  add("tensor", "zeros with a negative size", {"negative", "[-1, 2]"}, [] { return Trial{[] { ag::zeros({-1, 2}); }, {}}; });
  add("tensor", "full with a negative size", {"negative", "[-1]"}, [] { return Trial{[] { ag::full({-1}, 2.0); }, {}}; });
  add("tensor", "empty with int64 min", {"negative", "-9223372036854775808"},
      [] { return Trial{[] { ag::empty({std::numeric_limits<int64_t>::min()}); }, {}}; });
  add("tensor", "zeros whose size overflows", {"[1099511627776, 1099511627776]", "overflow"},
      [] { return Trial{[] { ag::zeros({int64_t{1} << 40, int64_t{1} << 40}); }, {}}; });
  add("tensor", "empty zero-size but strides overflow", {"overflow"},
      [] { return Trial{[] { ag::zeros({0, int64_t{1} << 40, int64_t{1} << 40}); }, {}}; });
  add("tensor", "eye negative", {"eye", "-1"}, [] { return Trial{[] { ag::eye(-1); }, {}}; });
  add("tensor", "arange step 0", {"arange", "step"}, [] { return Trial{[] { ag::arange(0.0, 1.0, 0.0); }, {}}; });
  add("tensor", "arange wrong direction", {"arange"}, [] { return Trial{[] { ag::arange(1.0, 0.0, 1.0); }, {}}; });
  add("tensor", "arange to infinity", {"arange", "inf"}, [] { return Trial{[] { ag::arange(0.0, kInf); }, {}}; });
  add("tensor", "arange with NaN step", {"arange", "nan"}, [] { return Trial{[] { ag::arange(0.0, 1.0, kNaN); }, {}}; });
  add("tensor", "arange too long", {"arange", "overflow"}, [] { return Trial{[] { ag::arange(0.0, 1e30); }, {}}; });
  add("tensor", "linspace negative steps", {"linspace", "-1"}, [] { return Trial{[] { ag::linspace(0.0, 1.0, -1); }, {}}; });
  add("tensor", "randint empty range", {"randint", "3"}, [] { return Trial{[] { ag::randint(3, 3, {2}); }, {}}; });
  add("tensor", "randperm negative", {"randperm", "-1"}, [] { return Trial{[] { ag::randperm(-1); }, {}}; });
  add("tensor", "rand of int64", {"rand", "int64"}, [] { return Trial{[] { ag::rand({2}, ag::kInt64); }, {}}; });
  add("tensor", "int64 factory that requires grad", {"int64"},
      [] { return Trial{[] { ag::zeros({2}, ag::TensorOptions().dtype(ag::kInt64).requires_grad(true)); }, {}}; });
  add("tensor", "requires_grad_ on int64", {"requires_grad_", "int64"}, [] {
    Tensor i = ag::tensor({1, 2, 3});
    return Trial{[=] { i.requires_grad_(); }, {i}};
  });
  add("tensor", "requires_grad_ on bool", {"requires_grad_", "bool"}, [] {
    Tensor b = ag::tensor({true, false});
    return Trial{[=] { b.requires_grad_(); }, {b}};
  });
  add("tensor", "item of six elements", {"item", "6 elements", "[2, 3]"}, [] {
    Tensor t = ag::ones({2, 3});
    return Trial{[=] { t.item<float>(); }, {t}};
  });
  add("tensor", "item of an empty tensor", {"item", "0 elements", "[0]"}, [] {
    Tensor t = ag::zeros({0});
    return Trial{[=] { t.item<double>(); }, {t}};
  });
  add("tensor", "data_ptr of another type", {"data_ptr", "float64", "float32"}, [] {
    Tensor t = ag::ones({2});
    return Trial{[=] { t.data_ptr<double>(); }, {t}};
  });
  add("tensor", "size of a missing dimension", {"size", "2"}, [] {
    Tensor t = ag::ones({2, 3});
    return Trial{[=] { t.size(2); }, {t}};
  });
  add("tensor", "size of a 0-dim tensor", {"size", "no dimensions"}, [] {
    Tensor t = ag::scalar_tensor(1.0);
    return Trial{[=] { t.size(0); }, {t}};
  });
  add("tensor", "shape of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().shape(); }, {}}; });
  add("tensor", "to() of an undefined tensor", {"undefined"}, [] { return Trial{[] { Tensor().to(ag::kFloat64); }, {}}; });
  add("tensor", "set_num_threads 0", {"set_num_threads", "0"}, [] {
    return Trial{[] { ag::set_num_threads(0); }, {}, [] { return std::to_string(ag::get_num_threads()); }};
  });
  return cs;
}

}  // namespace bad_input
