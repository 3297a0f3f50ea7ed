// Uses the installed ag: y = 2 * x.x for x = [0, 1, 2, 3] has gradient dy/dx = 4x.
// Exits 0 only when x.grad() equals 4 * x exactly.
#include <ag/ag.hpp>

#include <iostream>

int main() {
  ag::Tensor x = ag::arange(4.0);
  x.requires_grad_();
  ag::Tensor y = 2 * ag::dot(x, x);
  y.backward();

  const ag::Tensor expected = 4 * x.detach();
  const bool ok = x.grad().defined() && ag::equal(x.grad(), expected);
  std::cout << "y = " << y << "\nx.grad() = " << x.grad() << "\nexpected = " << expected << "\n"
            << (ok ? "ok" : "MISMATCH") << std::endl;
  return ok ? 0 : 1;
}
