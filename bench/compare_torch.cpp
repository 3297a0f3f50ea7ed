// compare_torch — whole training steps in ag and in libtorch, side by side in one process.
//
// What is measured: the wall time of one training step (zero_grad, forward, loss,
// backward, optimizer step) of the same model on the same data in both libraries, and
// the ratio ag / libtorch (lower is better; 0.5 means ag takes half libtorch's time):
//
//   mlp 784-128-10 b64      Linear, sigmoid, Linear, cross_entropy, SGD(lr 0.01)
//   mlp 784-256-10 b256     the same, wider, larger batch
//   mlp 784-1024-10 b1024   the same, GEMM-bound
//   net 2-4-1 (1 sample)    sigmoid hidden and output, mse_loss, SGD: per-op overhead only
//   chain 100k (0-d)        y = y * c + d, 100 000 times on a 0-dim tensor, then backward:
//                           graph building and the backward engine, nothing else
//   epoch fashion-mnist     784-256-10 sigmoid MLP, Adam(lr 1e-3), batch 128, one pass
//                           over the 60 000 real training images (skipped, with a
//                           message, when the data is not installed; --no-epoch skips it)
//
// each at 1 and at 2 threads, plus ag's system allocations per steady-state step (the
// caching allocator's counter; the target is 0).
//
// Why this way (shared/DESIGN.md, "Speed, in this order"): the machine is shared with
// other engineers' builds, so an absolute time says little. Both libraries run in the
// same process, alternately: each round times a block of ag steps and then a block of
// libtorch steps (the order flips every round), so a burst of load from a neighbour hits
// both. The figure per library is the median over the rounds of the time per step, and
// the ratio is the ratio of the two medians.
//
// Why the results can be trusted to measure the same thing: both models start from the
// same weights (ag's initialisation, copied into libtorch) and see the same tensors; before
// any timing, a few steps are run on each and the losses must agree to a relative 1e-4
// (the chain: its value and gradient). A disagreement is printed and the exit status is 1.
//
// Fairness choices, each explained where it is made:
//   - zero_grad sets gradients to none in both (libtorch 1.13's Optimizer::zero_grad()
//     zeroes in place; set_to_none is PyTorch's default since 2.0 and ag's default);
//   - "n threads" means n threads for everything each library can run in parallel: ag's
//     TBB arena; libtorch's OpenMP intra-op pool AND OpenBLAS's own pthread pool, which
//     libtorch 1.13 does not size (see set_threads);
//   - libtorch's OpenMP workers wait passively (OMP_WAIT_POLICY=passive, see
//     Note [libgomp and OpenBLAS]): libtorch is measured at its best, so that the ratio
//     does not flatter ag;
//   - no .item() or other read-back inside the timed region; the losses are read after.
//
// Usage: compare_torch [--rounds N] [--block-ms M] [--threads 1,2] [--only KEYS]
//                      [--no-epoch] [--data DIR] [--settle-ms S] [--omp-default]
// (--help lists them.) The default run takes about two minutes on 2 cores.
// One translation unit: the ag side and the libtorch side are separate namespaces below;
// the CMake entry (bench/CMakeLists.txt) explains why sharing one TU with libtorch is safe.
#include <ag/ag.hpp>
#include <torch/torch.h>

#include "runtime/allocator.hpp"  // ag::detail::allocator_stats (internal)

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---- options --------------------------------------------------------------------------
struct Options {
  int rounds = 9;         // alternating rounds per workload and thread count
  double block_ms = 100;  // target duration of one timed block (k steps), per library
  double settle_ms = 0;   // sleep between blocks (see Note [spinning pools])
  bool epoch = true;      // include the Fashion-MNIST epoch (when the data is there)
  std::vector<std::string> only;  // workload keys to run (empty: all)
  bool omp_default = false;  // keep libgomp's default wait policy (Note [libgomp and OpenBLAS])
  std::vector<int> threads = {1, 2};
  std::string data = "/usr/share/datasets/fashion-mnist";
};

// Note [spinning pools]: after a parallel region each library's idle workers spin for a
// while before sleeping (libgomp ~1 ms by default, TBB briefly, OpenBLAS's pthread
// server up to 2^28 TSC ticks ≈ 0.1 s, though it yields the core while it spins). When
// the blocks alternate, the first moments of one library's block can share the cores with
// the other's spinning workers — a cost neither pays in a real training loop. --settle-ms
// sleeps between blocks to let them park. In runs alternating 0 and 200 ms on the shared
// machine (load 6) the ratios moved both ways by no more than between two runs with the
// same setting, so the default is 0; use it when a quiet machine shows a difference.

// Note [libgomp and OpenBLAS]: Debian's libtorch runs elementwise ops on libgomp's pool and
// GEMMs on OpenBLAS's pthread pool: two sets of threads. By default an idle libgomp worker
// spins (GOMP_SPINCOUNT, ~1 ms) after every parallel region, so at 2 threads on 2 cores
// the spinning OpenMP workers and OpenBLAS's GEMM threads fight for the cores. Measured on
// this machine, idle, libtorch alone, the 784-256-10 b256 step: 1 thread 2.2 ms; 2 threads
// 3.6-11 ms with the default policy, 1.4 ms with OMP_WAIT_POLICY=passive. libgomp reads
// the variable when it is loaded, before main, so main sets it and re-executes the program
// once (/proc/self/exe). A value the user exported is kept; --omp-default measures libtorch
// as shipped. ag does not use libgomp (TBB only), so this changes nothing on ag's side.

// ---- timing helpers -------------------------------------------------------------------
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of the whole process (all its threads), for the cores-busy figure.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// (max - min) / median: how much the rounds disagreed; a large value marks a noisy row.
double spread(const std::vector<double>& v) {
  return (*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end())) / median(v);
}

bool close(double a, double b, double rtol) { return std::fabs(a - b) <= rtol * std::max(std::fabs(a), std::fabs(b)); }

// ---- threads --------------------------------------------------------------------------
// libtorch 1.13 (Debian) runs its GEMMs in OpenBLAS's pthread build, whose pool has its
// own size (OPENBLAS_NUM_THREADS, else every core): torch::set_num_threads sizes the
// OpenMP pool and calls omp_set_num_threads, but never openblas_set_num_threads. Without
// the call below libtorch's "1 thread" rows would run their GEMMs on 2 cores. It is looked
// up at run time, so a libtorch on MKL or another BLAS needs nothing from here.
using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();
SetThreadsFn openblas_set() { return reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
GetThreadsFn openblas_get() { return reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }

void set_threads(int n) {
  ag::set_num_threads(n);
  torch::set_num_threads(n);
  if (SetThreadsFn f = openblas_set()) f(n);
}

// ---- the bridge: ag tensors copied into libtorch tensors ------------------------------
// A deep copy (from_blob over ag's buffer, then clone), so the two libraries never share
// memory; always done outside the timed regions.
torch::Tensor to_torch(const ag::Tensor& t) {
  ag::NoGradGuard no_grad;
  ag::Tensor c = t.contiguous();
  const std::vector<int64_t> sizes = c.shape().vec();
  if (c.dtype() == ag::kFloat32) return torch::from_blob(c.data_ptr<float>(), sizes, torch::kFloat32).clone();
  if (c.dtype() == ag::kInt64) return torch::from_blob(c.data_ptr<int64_t>(), sizes, torch::kInt64).clone();
  throw std::runtime_error("to_torch: only float32 and int64 tensors are copied");
}

// dst (a libtorch parameter) takes src's values in place, so the module keeps its tensor.
void copy_param(torch::Tensor dst, const ag::Tensor& src) {
  torch::NoGradGuard no_grad;
  dst.copy_(to_torch(src));
}

// ---- ag side ----------------------------------------------------------------------------
namespace ag_side {
namespace F = ag::nn::functional;

// in-hidden-out MLP with a sigmoid hidden layer, softmax cross-entropy, SGD or Adam.
struct Mlp {
  ag::nn::Linear fc1, fc2;
  std::unique_ptr<ag::optim::Optimizer> opt;
  ag::Tensor loss;

  Mlp(int64_t in, int64_t hidden, int64_t out, bool adam, double lr) : fc1(in, hidden), fc2(hidden, out) {
    std::vector<ag::Tensor> params = {fc1->weight, fc1->bias, fc2->weight, fc2->bias};
    if (adam)
      opt = std::make_unique<ag::optim::Adam>(params, ag::optim::AdamOptions(lr));
    else
      opt = std::make_unique<ag::optim::SGD>(params, ag::optim::SGDOptions(lr));
  }
  void step(const ag::Tensor& x, const ag::Tensor& y) {
    opt->zero_grad();  // set_to_none = true, ag's default
    loss = F::cross_entropy(fc2(ag::sigmoid(fc1(x))), y);
    loss.backward();
    opt->step();
  }
};

// 2-4-1 net on one sample: everything is per-op overhead.
struct Tiny {
  ag::nn::Linear fc1{2, 4}, fc2{4, 1};
  ag::optim::SGD opt{{fc1->weight, fc1->bias, fc2->weight, fc2->bias}, ag::optim::SGDOptions(0.1)};
  ag::Tensor x = ag::tensor(std::vector<float>{0.3f, -0.7f}, {1, 2});
  ag::Tensor target = ag::tensor(std::vector<float>{1.f}, {1, 1});
  ag::Tensor loss;

  void step() {
    opt.zero_grad();
    loss = F::mse_loss(ag::sigmoid(fc2(ag::sigmoid(fc1(x)))), target);
    loss.backward();
    opt.step();
  }
};

// y = y * c + d, n times, then dy/dx = c^n. See chain_workload for the choice of c and d.
struct Chain {
  int n;
  double c, d;
  ag::Tensor x = ag::scalar_tensor(0.5).requires_grad_(true);
  ag::Tensor y;

  void step() {
    if (x.grad().defined()) x.grad().zero_();
    y = x;
    for (int i = 0; i < n; ++i) y = y * c + d;
    y.backward();
  }
};

}  // namespace ag_side

// ---- libtorch side ----------------------------------------------------------------------
namespace torch_side {
namespace F = torch::nn::functional;

// What Optimizer::zero_grad(set_to_none=true) does in PyTorch >= 2.0 (p.grad = None):
// libtorch 1.13's zero_grad() has no such argument and zeroes in place, which would make
// libtorch do an extra pass per parameter (zero, then accumulate) that ag does not.
void zero_grad_to_none(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
}

struct Mlp {
  torch::nn::Linear fc1, fc2;
  std::unique_ptr<torch::optim::Optimizer> opt;
  torch::Tensor loss;

  Mlp(int64_t in, int64_t hidden, int64_t out, bool adam, double lr) : fc1(in, hidden), fc2(hidden, out) {
    std::vector<torch::Tensor> params = {fc1->weight, fc1->bias, fc2->weight, fc2->bias};
    if (adam)
      opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(lr));
    else
      opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(lr));
  }
  void step(const torch::Tensor& x, const torch::Tensor& y) {
    zero_grad_to_none(*opt);
    loss = F::cross_entropy(fc2(torch::sigmoid(fc1(x))), y);
    loss.backward();
    opt->step();
  }
};

struct Tiny {
  torch::nn::Linear fc1{2, 4}, fc2{4, 1};
  torch::optim::SGD opt{{fc1->weight, fc1->bias, fc2->weight, fc2->bias}, torch::optim::SGDOptions(0.1)};
  torch::Tensor x = torch::tensor({0.3f, -0.7f}).reshape({1, 2});
  torch::Tensor target = torch::tensor({1.f}).reshape({1, 1});
  torch::Tensor loss;

  void step() {
    zero_grad_to_none(opt);
    loss = F::mse_loss(torch::sigmoid(fc2(torch::sigmoid(fc1(x)))), target);
    loss.backward();
    opt.step();
  }
};

struct Chain {
  int n;
  double c, d;
  torch::Tensor x = torch::scalar_tensor(0.5, torch::TensorOptions().dtype(torch::kFloat32).requires_grad(true));
  torch::Tensor y;

  void step() {
    if (x.grad().defined()) x.mutable_grad().zero_();
    y = x;
    for (int i = 0; i < n; ++i) y = y * c + d;
    y.backward();
  }
};

}  // namespace torch_side

// Same weights in both: ag initialised them (seeded), libtorch receives a copy.
template <class AgNet, class TorchNet>
void copy_weights(const AgNet& a, TorchNet& t) {
  copy_param(t.fc1->weight, a.fc1->weight);
  copy_param(t.fc1->bias, a.fc1->bias);
  copy_param(t.fc2->weight, a.fc2->weight);
  copy_param(t.fc2->bias, a.fc2->bias);
}

// ---- the harness ----------------------------------------------------------------------
// One workload as two callables that each run `steps_per_call` training steps.
struct Workload {
  std::string name;
  std::string target_text;  // as the issue states it; empty when there is none
  double target = 0;        // the ratio to meet (0: none)
  int steps_per_call = 1;
  std::function<void()> ag_call, torch_call;
};

struct Row {
  std::string name, target_text;
  double target = 0;
  int threads = 0;
  double ag_us = 0, torch_us = 0, spread = 0, allocs_per_step = 0;
  double ag_busy = 0, torch_busy = 0;  // median process CPU time / wall time of the blocks
};

// Warm up, size the blocks, then alternate timed blocks; returns the medians.
Row measure(const Workload& w, int threads, const Options& opt) {
  set_threads(threads);
  // Warm-up: caches filled, optimizer state created, pools started, pages touched; also
  // times one call of each to size the blocks. At least 0.2 s (and one call) per library.
  auto warm = [](const std::function<void()>& call) {
    int calls = 0;
    const auto t0 = Clock::now();
    do {
      call();
      ++calls;
    } while (seconds_since(t0) < 0.2);
    const auto t1 = Clock::now();
    call();
    return std::chrono::duration<double>(Clock::now() - t1).count();
  };
  const double ag_call_s = warm(w.ag_call);
  const double torch_call_s = warm(w.torch_call);
  // Each library gets its own k so that each block lasts about block_ms.
  auto calls_per_block = [&](double call_s) {
    return std::max(1, static_cast<int>(std::lround(opt.block_ms * 1e-3 / std::max(call_s, 1e-9))));
  };
  const int k_ag = calls_per_block(ag_call_s), k_torch = calls_per_block(torch_call_s);

  std::vector<double> ag_us, torch_us;
  // Process CPU time / wall time per block: about 1 for one busy thread, 2 for two. Well
  // below the thread count means the process waited for a core (a neighbour's build) or its
  // threads slept; well above 1 at 1 thread means some pool kept spinning.
  std::vector<double> ag_busy, torch_busy;
  uint64_t ag_allocs = 0, ag_steps = 0;
  auto settle = [&] {
    if (opt.settle_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(opt.settle_ms));
  };
  auto run_ag = [&] {
    settle();
    const uint64_t a0 = ag::detail::allocator_stats().system_allocs;
    const double c0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < k_ag; ++i) w.ag_call();
    const double s = seconds_since(t0);
    ag_busy.push_back((process_cpu_seconds() - c0) / s);
    ag_allocs += ag::detail::allocator_stats().system_allocs - a0;
    ag_steps += static_cast<uint64_t>(k_ag) * w.steps_per_call;
    ag_us.push_back(1e6 * s / (static_cast<double>(k_ag) * w.steps_per_call));
  };
  auto run_torch = [&] {
    settle();
    const double c0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    for (int i = 0; i < k_torch; ++i) w.torch_call();
    const double s = seconds_since(t0);
    torch_busy.push_back((process_cpu_seconds() - c0) / s);
    torch_us.push_back(1e6 * s / (static_cast<double>(k_torch) * w.steps_per_call));
  };
  for (int r = 0; r < opt.rounds; ++r) {
    // Flip the order every round: neither library always runs right after the other.
    if (r % 2 == 0) {
      run_ag();
      run_torch();
    } else {
      run_torch();
      run_ag();
    }
  }
  Row row{w.name, w.target_text, w.target, threads};
  row.ag_us = median(ag_us);
  row.torch_us = median(torch_us);
  row.spread = std::max(spread(ag_us), spread(torch_us));
  row.allocs_per_step = static_cast<double>(ag_allocs) / static_cast<double>(ag_steps);
  row.ag_busy = median(ag_busy);
  row.torch_busy = median(torch_busy);
  std::fprintf(stderr,
               "  %-26s %d thread%s: ag %10.1f us  libtorch %10.1f us  ratio %.3f  (k %d / %d; cores busy %.2f / %.2f)\n",
               w.name.c_str(), threads, threads == 1 ? " " : "s", row.ag_us, row.torch_us, row.ag_us / row.torch_us,
               k_ag, k_torch, row.ag_busy, row.torch_busy);
  return row;
}

// Prints the loss of each library after each of the first steps; false if any pair
// differs by more than rtol.
bool check_losses(const std::string& name, int steps, const std::function<double()>& ag_step,
                  const std::function<double()>& torch_step, double rtol = 1e-4) {
  bool ok = true;
  std::printf("check %-24s", name.c_str());
  for (int s = 0; s < steps; ++s) {
    const double a = ag_step(), t = torch_step();
    if (!close(a, t, rtol)) ok = false;
    if (s == steps - 1) std::printf(" after %d steps: ag %.7g  libtorch %.7g", steps, a, t);
  }
  std::printf("  %s\n", ok ? "agree" : "DISAGREE");
  return ok;
}

// ---- workloads --------------------------------------------------------------------------
// Each builder makes both models from the same weights, checks the losses, and returns
// the two step functions. The models live in shared_ptrs owned by the callables.

Workload mlp_workload(int64_t in, int64_t hidden, int64_t out, int64_t batch, std::string target_text,
                      double target, bool* ok) {
  ag::manual_seed(static_cast<uint64_t>(hidden * 1000 + batch));
  auto a = std::make_shared<ag_side::Mlp>(in, hidden, out, /*adam=*/false, 0.01);
  auto t = std::make_shared<torch_side::Mlp>(in, hidden, out, /*adam=*/false, 0.01);
  copy_weights(*a, *t);
  // Pixel-like inputs in [0, 1) and uniform labels, the same tensors for both.
  auto ax = std::make_shared<ag::Tensor>(ag::rand({batch, in}));
  auto ay = std::make_shared<ag::Tensor>(ag::randint(out, {batch}));
  auto tx = std::make_shared<torch::Tensor>(to_torch(*ax));
  auto ty = std::make_shared<torch::Tensor>(to_torch(*ay));

  std::ostringstream name;
  name << "mlp " << in << "-" << hidden << "-" << out << " b" << batch;
  *ok &= check_losses(
      name.str(), 5, [&] { a->step(*ax, *ay); return static_cast<double>(a->loss.item<float>()); },
      [&] { t->step(*tx, *ty); return static_cast<double>(t->loss.item<float>()); });
  return {name.str(), std::move(target_text), target, 1, [a, ax, ay] { a->step(*ax, *ay); },
          [t, tx, ty] { t->step(*tx, *ty); }};
}

Workload tiny_workload(bool* ok) {
  ag::manual_seed(241);
  auto a = std::make_shared<ag_side::Tiny>();
  auto t = std::make_shared<torch_side::Tiny>();
  copy_weights(*a, *t);
  *ok &= check_losses(
      "net 2-4-1 (1 sample)", 5, [&] { a->step(); return static_cast<double>(a->loss.item<float>()); },
      [&] { t->step(); return static_cast<double>(t->loss.item<float>()); });
  return {"net 2-4-1 (1 sample)", "<= 0.1", 0.1, 1, [a] { a->step(); }, [t] { t->step(); }};
}

Workload chain_workload(int n, bool* ok) {
  // c = 1 - 2^-17 and d = 2^-17 are exact in float32. With a constant like 0.99999 the two
  // libraries multiply by different numbers in backward: libtorch 1.13's MulBackward keeps
  // the scalar as a double (grad * 0.99999 rounded once), ag multiplies by float(0.99999)
  // as its forward does, and after 1e5 steps dy/dx differs by 1e5 * 1.4e-8 = 0.14 %
  // (measured: 0.36788 vs 0.36738) although both are right to float precision. An exact c
  // makes the check tight. c^n = e^-0.76 also keeps the gradient far from float32's
  // denormals, which would time denormal arithmetic instead of the engine.
  const double c = 1.0 - 1.0 / 131072, d = 1.0 / 131072;
  auto a = std::make_shared<ag_side::Chain>(ag_side::Chain{n, c, d});
  auto t = std::make_shared<torch_side::Chain>(torch_side::Chain{n, c, d});
  a->step();
  t->step();
  const double ay = a->y.item<float>(), ty = t->y.item<float>();
  const double ag_ = a->x.grad().item<float>(), tg = t->x.grad().item<float>();
  const bool agree = close(ay, ty, 1e-4) && close(ag_, tg, 1e-4);
  std::printf("check %-24s y: ag %.7g  libtorch %.7g; dy/dx: ag %.7g  libtorch %.7g  %s\n", "chain", ay, ty, ag_,
              tg, agree ? "agree" : "DISAGREE");
  *ok &= agree;
  std::ostringstream name;
  name << "chain " << n / 1000 << "k (0-d, fwd+bwd)";
  // One step is one whole chain; report time per step (the chain), not per op.
  return {name.str(), "", 0, 1, [a] { a->step(); }, [t] { t->step(); }};
}

// One Fashion-MNIST epoch. The batches are made once, before any timing, by ag's
// DataLoader (shuffled, seed 1) from ag's reader (normalised); libtorch gets deep copies of
// the same batches. A "call" is a whole epoch; the time per step is the epoch's / batches.
Workload epoch_workload(const std::string& root, bool* ok) {
  ag::data::FashionMNIST train(root, /*train=*/true, ag::data::MnistOptions().normalize(true));
  ag::data::DataLoader loader(train, ag::data::DataLoaderOptions().batch_size(128).shuffle(true).seed(1).prefetch(0));
  auto ab = std::make_shared<std::vector<std::pair<ag::Tensor, ag::Tensor>>>();
  auto tb = std::make_shared<std::vector<std::pair<torch::Tensor, torch::Tensor>>>();
  for (const auto& batch : loader) {
    ab->emplace_back(batch.input.clone(), batch.target.clone());
    tb->emplace_back(to_torch(ab->back().first), to_torch(ab->back().second));
  }
  ag::manual_seed(7);
  auto a = std::make_shared<ag_side::Mlp>(784, 256, 10, /*adam=*/true, 1e-3);
  auto t = std::make_shared<torch_side::Mlp>(784, 256, 10, /*adam=*/true, 1e-3);
  copy_weights(*a, *t);
  size_t i = 0, j = 0;
  *ok &= check_losses(
      "epoch (Adam)", 5,
      [&] { a->step((*ab)[i].first, (*ab)[i].second); ++i; return static_cast<double>(a->loss.item<float>()); },
      [&] { t->step((*tb)[j].first, (*tb)[j].second); ++j; return static_cast<double>(t->loss.item<float>()); });
  const int nb = static_cast<int>(ab->size());
  std::ostringstream name;
  name << "epoch f-mnist (" << nb << " steps)";
  return {name.str(), "<= 0.667", 1.0 / 1.5, nb,
          [a, ab] { for (const auto& [x, y] : *ab) a->step(x, y); },
          [t, tb] { for (const auto& [x, y] : *tb) t->step(x, y); }};
}

// ---- main -------------------------------------------------------------------------------
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) v.push_back(item);
  return v;
}

std::vector<int> parse_threads(const std::string& s) {
  std::vector<int> v;
  for (const std::string& item : split(s)) v.push_back(std::max(1, std::atoi(item.c_str())));
  return v;
}

// The first three fields of /proc/loadavg: how busy the shared machine was.
std::string loadavg() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  double l1 = 0, l5 = 0, l15 = 0;
  const bool got = f && std::fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3;
  if (f) std::fclose(f);
  if (!got) return "unknown";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", l1, l5, l15);
  return buf;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [options]\n"
               "  --rounds N    alternating rounds per row (default 9)\n"
               "  --block-ms M  length of one timed block per library (default 100)\n"
               "  --threads L   thread counts to run, comma-separated (default 1,2)\n"
               "  --only KEYS   workloads to run, comma-separated, of: mlp128 mlp256 mlp1024 net chain epoch\n"
               "  --no-epoch    skip the Fashion-MNIST epoch (about 30 s of the default run)\n"
               "  --data DIR    Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)\n"
               "  --settle-ms S sleep between blocks so idle pools park (default 0)\n"
               "  --omp-default keep libgomp's default (spinning) wait policy for libtorch\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--no-epoch") opt.epoch = false;
    else if (a == "--epoch") opt.epoch = true;  // the default; kept for scripts that ask for it
    else if (a == "--only" && has_value) opt.only = split(argv[++i]);
    else if (a == "--rounds" && has_value) opt.rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--block-ms" && has_value) opt.block_ms = std::atof(argv[++i]);
    else if (a == "--settle-ms" && has_value) opt.settle_ms = std::atof(argv[++i]);
    else if (a == "--threads" && has_value) opt.threads = parse_threads(argv[++i]);
    else if (a == "--data" && has_value) opt.data = argv[++i];
    else if (a == "--omp-default") opt.omp_default = true;
    else return usage(argv[0]);
  }
  // Note [libgomp and OpenBLAS]. If execv fails, go on with the default policy (printed).
  if (!opt.omp_default && std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY");
  }

  // libtorch's inter-op pool serves only torch::jit fork/wait; CPU autograd runs backward
  // on the calling thread. One thread keeps an idle pool off the 2 cores. It can be set
  // once per process, before any inter-op work, hence here.
  at::set_num_interop_threads(1);

  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  GetThreadsFn ob_get = openblas_get();
  std::printf("compare_torch %s: ag vs libtorch %s, %u hardware threads, OpenBLAS pool %s\n", date, TORCH_VERSION,
              std::thread::hardware_concurrency(),
              ob_get ? ("found (" + std::to_string(ob_get()) + " threads before set_threads)").c_str() : "not found");
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  std::printf("OMP_WAIT_POLICY=%s; rounds %d, blocks of ~%.0f ms, settle %.0f ms; load average at start: %s\n\n",
              policy ? policy : "(libgomp default)", opt.rounds, opt.block_ms, opt.settle_ms, loadavg().c_str());

  bool ok = true;
  std::vector<Workload> workloads;
  auto wanted = [&](const char* key) {
    return opt.only.empty() || std::find(opt.only.begin(), opt.only.end(), key) != opt.only.end();
  };
  set_threads(1);  // the checks run single-threaded
  if (wanted("mlp128")) workloads.push_back(mlp_workload(784, 128, 10, 64, "<= 0.5", 0.5, &ok));
  if (wanted("mlp256")) workloads.push_back(mlp_workload(784, 256, 10, 256, "<= 0.8", 0.8, &ok));
  if (wanted("mlp1024")) workloads.push_back(mlp_workload(784, 1024, 10, 1024, "<= 1.0", 1.0, &ok));
  if (wanted("net")) workloads.push_back(tiny_workload(&ok));
  if (wanted("chain")) workloads.push_back(chain_workload(100000, &ok));
  if (opt.epoch && wanted("epoch")) {
    const std::string images = opt.data + "/train-images-idx3-ubyte.gz";
    if (std::FILE* f = std::fopen(images.c_str(), "rb")) {
      std::fclose(f);
      workloads.push_back(epoch_workload(opt.data, &ok));
    } else {
      std::printf("epoch skipped: no %s (Debian package dataset-fashion-mnist, or --data DIR)\n", images.c_str());
    }
  }
  std::printf("\n");
  std::fflush(stdout);

  std::vector<Row> rows;
  for (const Workload& w : workloads)
    for (int n : opt.threads) rows.push_back(measure(w, n, opt));

  std::printf(
      "| workload | threads | ag µs/step | libtorch µs/step | ratio ag/libtorch | target | met | ag sys allocs/step "
      "| spread | cores busy ag / libtorch |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    const double ratio = r.ag_us / r.torch_us;
    std::printf("| %s | %d | %.1f | %.1f | %.3f | %s | %s | %.3g | %.0f %% | %.2f / %.2f |\n", r.name.c_str(),
                r.threads, r.ag_us, r.torch_us, ratio, r.target_text.empty() ? "—" : r.target_text.c_str(),
                r.target > 0 ? (ratio <= r.target ? "yes" : "no") : "—", r.allocs_per_step, 100 * r.spread,
                r.ag_busy, r.torch_busy);
  }
  std::printf("\nratio = median ag time per step / median libtorch time per step over %d alternating rounds "
              "(lower is better);\nspread = (max - min) / median of the rounds, the worse of the two libraries;\n"
              "cores busy = process CPU time / wall time of a block (median): below the thread count, the\n"
              "process waited for a core or its threads idled.\n",
              opt.rounds);
  std::printf("load average at the end: %s\n", loadavg().c_str());
  if (!ok) std::printf("\nWARNING: the losses of ag and libtorch disagree (see the checks above)\n");
  return ok ? 0 : 1;
}
