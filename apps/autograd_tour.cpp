// The autograd tour: every example of the classic PyTorch autograd tutorial, in order,
// written with ag and printed in PyTorch's format.
//
//   build/release/apps/autograd_tour
#include <ag/ag.hpp>

#include <cmath>
#include <iostream>

namespace {

void section(const char* title) { std::cout << "\n== " << title << " ==\n"; }

template <class T>
void show(const char* expr, const T& value) {
  std::cout << expr << " = " << value << "\n";
}

// The tutorial's control-flow function: the graph is whatever the loop and the branch did.
ag::Tensor f(const ag::Tensor& a) {
  ag::Tensor b = a * 2;
  while (b.norm().item<float>() < 1000) b = b * 2;
  ag::Tensor c = b.sum().item<float>() > 0 ? b : 100 * b;
  return c;
}

}  // namespace

int main() {
  std::cout << std::boolalpha;

  section("A simple function: y = 2 * x^T x");
  ag::Tensor x = ag::arange(4.0);
  show("x", x);
  x.requires_grad_(true);
  show("x.grad() before backward (undefined)", x.grad());
  ag::Tensor y = 2 * ag::dot(x, x);
  show("y", y);
  y.backward();
  show("x.grad()", x.grad());
  show("x.grad() == 4 * x", x.grad() == 4 * x);

  section("Another function: y = x.sum() (after zeroing the gradient)");
  x.grad().zero_();
  y = x.sum();
  y.backward();
  show("x.grad()", x.grad());

  section("Backward for non-scalar variables: y = x * x");
  x.grad().zero_();
  y = x * x;
  y.backward(ag::ones_like(y));  // the same as y.sum().backward()
  show("x.grad() with gradient=ones", x.grad());
  try {
    ag::Tensor y2 = x * x;
    y2.backward();
  } catch (const ag::Error& e) {
    std::cout << "y.backward() without a gradient: ag::Error: " << e.what() << "\n";
  }

  section("Detaching computation");
  x.grad().zero_();
  y = x * x;
  ag::Tensor u = y.detach();
  ag::Tensor z = u * x;
  z.sum().backward();
  show("u", u);
  show("x.grad() (of z = u * x)", x.grad());
  show("x.grad() == u", x.grad() == u);
  x.grad().zero_();
  y.sum().backward();
  show("x.grad() (of y = x * x)", x.grad());
  show("x.grad() == 2 * x", x.grad() == 2 * x);

  section("Gradients of Python control flow (here: C++ control flow)");
  ag::manual_seed(0);
  ag::Tensor a = ag::randn({}).requires_grad_(true);
  ag::Tensor d = f(a);
  d.backward();
  show("a", a);
  show("a.grad()", a.grad());
  show("a.grad() == d / a", a.grad() == d / a);
  ag::Tensor am = ag::randn({2, 3}).requires_grad_(true);
  ag::Tensor dm = f(am);
  dm.sum().backward();
  show("a (2x3)", am);
  show("a.grad()", am.grad());
  show("a.grad() == d / a (all, to rounding)", ag::allclose(am.grad(), dm / am));

  section("Backward twice: retain_graph");
  ag::Tensor w = ag::tensor({1.f, 2.f, 3.f}).requires_grad_(true);
  ag::Tensor q = (w * w).sum();
  q.backward({}, /*retain_graph=*/true);
  show("w.grad() after the first backward", w.grad());
  q.backward();
  show("w.grad() after the second (gradients add up)", w.grad());
  try {
    q.backward();
  } catch (const ag::Error& e) {
    std::cout << "a third backward through the freed graph: ag::Error: " << e.what() << "\n";
  }

  section("The trace of f(x1, x2) = ln(x1) + x1*x2 - sin(x2) at (2, 5)");
  ag::Tensor x1 = ag::tensor({2.0}).requires_grad_(true);
  ag::Tensor x2 = ag::tensor({5.0}).requires_grad_(true);
  ag::Tensor v1 = ag::log(x1);
  ag::Tensor v2 = x1 * x2;
  ag::Tensor v3 = ag::sin(x2);
  ag::Tensor v4 = v1 + v2;
  ag::Tensor v5 = v4 - v3;
  show("v1 = ln(x1)", v1);
  show("v2 = x1 * x2", v2);
  show("v3 = sin(x2)", v3);
  show("v4 = v1 + v2", v4);
  show("f = v5 = v4 - v3", v5);
  v5.sum().backward();
  show("df/dx1 = 1/x1 + x2", x1.grad());
  show("df/dx2 = x1 - cos(x2)", x2.grad());
  std::cout << "expected: f = " << std::log(2.0) + 10 - std::sin(5.0) << ", df/dx1 = 5.5, df/dx2 = "
            << 2 - std::cos(5.0) << "\n";
  return 0;
}
