// The backprop demo: what backpropagation computes, and the classic training loop.
//
//   backprop_demo                      # Fashion-MNIST from /usr/share/datasets/fashion-mnist
//   backprop_demo --data xor           # or moons / spirals: no files needed
//   backprop_demo --epochs 5 --batch 64 --accumulate 4 --lr 0.5 --hidden 128 --out results
//
// Part 1 — one scalar network, h = σ(w1·x + b1), y = σ(w2·h + b2). Its four derivatives
// ∂y/∂w1, ∂y/∂b1, ∂y/∂w2, ∂y/∂b2 three ways, side by side: the chain rule written out by
// hand, central finite differences, and ag's reverse-mode autograd.
//
// Part 2 — a two-layer sigmoid network trained by the loop of the textbooks: for every
// mini-batch of T instances, zero the gradient buffers; run forward and backward over the
// batch one sub-batch at a time (--accumulate K), so that the gradients of the summed
// divergence Σ Div accumulate in .grad(); then update every weight
//     w ← w − (η / T) · Σ_t ∂Div_t/∂w
// i.e. plain SGD on the mean gradient, exactly, whatever K is. After each epoch the
// network is evaluated in eval mode. At the end: a CSV of the curve (epoch, train_loss,
// test_acc) and, when gnuplot is on PATH, a PNG of it.
//
// Part 3 — why eval mode matters: a network with BatchNorm1d and Dropout gives different
// outputs for the same batch in training mode (dropout masks, batch statistics) and the
// same output every time in eval mode (no dropout, running statistics).
#include <ag/ag.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli_checks.hpp"
#include "progress.hpp"

namespace nn = ag::nn;
namespace F = ag::nn::functional;
using ag::Tensor;

namespace {

using ag_apps::number_check;
using ag_apps::now;
using ag_apps::Progress;

// ---- Part 1: one scalar network, three ways ------------------------------------------------
double sigma(double z) { return 1.0 / (1.0 + std::exp(-z)); }

struct Scalars {
  double w1, b1, w2, b2;
};

double forward(const Scalars& p, double x) { return sigma(p.w2 * sigma(p.w1 * x + p.b1) + p.b2); }

void part1_derivatives(double x, Scalars p) {
  std::printf("== Part 1: h = sigmoid(w1*x + b1), y = sigmoid(w2*h + b2) ==\n");
  std::printf("x = %g, w1 = %g, b1 = %g, w2 = %g, b2 = %g\n", x, p.w1, p.b1, p.w2, p.b2);

  // (a) The chain rule by hand. σ'(z) = σ(z)(1 − σ(z)).
  const double h = sigma(p.w1 * x + p.b1);
  const double y = sigma(p.w2 * h + p.b2);
  const double dy_dz2 = y * (1 - y);        // through the output sigmoid
  const double dy_dh = dy_dz2 * p.w2;       // back through w2
  const double dy_dz1 = dy_dh * h * (1 - h);  // through the hidden sigmoid
  const double hand[4] = {dy_dz1 * x, dy_dz1, dy_dz2 * h, dy_dz2};
  std::printf("h = %.10f, y = %.10f\n\n", h, y);

  // (b) Central finite differences: (f(θ + ε) − f(θ − ε)) / 2ε, error O(ε²).
  const double eps = 1e-6;
  double numeric[4];
  for (int k = 0; k < 4; ++k) {
    Scalars plus = p, minus = p;
    double* pp[4] = {&plus.w1, &plus.b1, &plus.w2, &plus.b2};
    double* pm[4] = {&minus.w1, &minus.b1, &minus.w2, &minus.b2};
    *pp[k] += eps;
    *pm[k] -= eps;
    numeric[k] = (forward(plus, x) - forward(minus, x)) / (2 * eps);
  }

  // (c) ag's autograd, in float64: build the graph, call backward() once.
  auto leaf = [](double v) { return ag::scalar_tensor(v, ag::TensorOptions(ag::kFloat64).requires_grad(true)); };
  Tensor w1 = leaf(p.w1), b1 = leaf(p.b1), w2 = leaf(p.w2), b2 = leaf(p.b2);
  Tensor xt = ag::scalar_tensor(x, ag::kFloat64);
  Tensor ht = ag::sigmoid(w1 * xt + b1);
  Tensor yt = ag::sigmoid(w2 * ht + b2);
  yt.backward();
  const double autograd[4] = {w1.grad().item<double>(), b1.grad().item<double>(), w2.grad().item<double>(),
                              b2.grad().item<double>()};

  const char* names[4] = {"dy/dw1", "dy/db1", "dy/dw2", "dy/db2"};
  std::printf("%-8s %16s %16s %16s %12s %12s\n", "", "chain rule", "finite diff", "autograd", "|hand-fd|",
              "|hand-ag|");
  for (int k = 0; k < 4; ++k)
    std::printf("%-8s %16.12f %16.12f %16.12f %12.3e %12.3e\n", names[k], hand[k], numeric[k], autograd[k],
                std::abs(hand[k] - numeric[k]), std::abs(hand[k] - autograd[k]));
  std::printf("(autograd: y = %.10f, grad_fn %s)\n\n", yt.item<double>(), yt.grad_fn()->name().c_str());
}

// ---- data -------------------------------------------------------------------------------------
struct Data {
  ag::data::TensorDataset train, test;
  int64_t features = 0, classes = 0;
  std::string name;
};

Data load_data(const std::string& which, const std::string& root, int64_t limit, uint64_t seed) {
  Data d;
  d.name = which;
  if (which == "fashion") {
    if (!std::filesystem::is_directory(root))
      throw std::runtime_error("the Fashion-MNIST directory " + root +
                               " does not exist (install dataset-fashion-mnist, pass --root, or use --data xor)");
    d.train = ag::data::FashionMNIST(root, true, ag::data::MnistOptions().limit(limit));
    d.test = ag::data::FashionMNIST(root, false);
    d.features = 784;
    d.classes = 10;
    return d;
  }
  const int64_t n = limit > 0 ? limit : 2000;
  if (which == "xor") {
    d.train = ag::data::make_xor(n, 0.15, seed);
    d.test = ag::data::make_xor(1000, 0.15, seed + 1);
    d.classes = 2;
  } else if (which == "moons") {
    d.train = ag::data::make_moons(n, 0.15, seed);
    d.test = ag::data::make_moons(1000, 0.15, seed + 1);
    d.classes = 2;
  } else if (which == "spirals") {
    d.train = ag::data::make_spirals(n, 3, 0.2, seed);
    d.test = ag::data::make_spirals(1000, 3, 0.2, seed + 1);
    d.classes = 3;
  } else {
    throw std::runtime_error("unknown --data '" + which + "' (expected fashion, xor, moons or spirals)");
  }
  d.features = 2;
  return d;
}

// Accuracy (and mean loss) of `model` on `ds`, in eval mode and without a graph.
std::pair<double, double> evaluate(nn::Sequential& model, const ag::data::TensorDataset& ds) {
  model->eval();
  ag::NoGradGuard no_grad;
  int64_t correct = 0;
  double loss = 0;
  for (const auto& batch : ag::data::DataLoader(ds, ag::data::DataLoaderOptions(1000))) {
    Tensor logits = model(batch.input);
    loss += F::cross_entropy(logits, batch.target, nn::Reduction::Sum).item<float>();
    Tensor pred = ag::argmax(logits, 1).contiguous();
    const int64_t* p = pred.data_ptr<int64_t>();
    Tensor y = batch.target.contiguous();
    const int64_t* t = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < pred.numel(); ++i) correct += p[i] == t[i];
  }
  return {static_cast<double>(correct) / ds.size(), loss / ds.size()};
}

bool on_path(const char* program) {
  const std::string cmd = std::string("command -v ") + program + " > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// ---- Part 3: train mode vs eval mode ----------------------------------------------------------
void part3_modes(const Data& d, int64_t hidden) {
  std::printf("\n== Part 3: the same batch in training mode and in eval mode ==\n");
  nn::BatchNorm1d bn(hidden);
  nn::Sequential net(nn::Linear(d.features, hidden), bn, nn::Sigmoid(), nn::Dropout(0.5), nn::Linear(hidden, d.classes));
  std::cout << net << "\n";
  ag::NoGradGuard no_grad;
  // Let the running statistics see some data (forward passes in training mode).
  int64_t warm = 0;
  for (const auto& batch : ag::data::DataLoader(d.train, ag::data::DataLoaderOptions(256).shuffle(true).seed(3))) {
    net(batch.input);
    if (++warm == 20) break;
  }
  Tensor x = d.test.inputs().slice(0, 0, 4);
  auto row = [](const Tensor& t) {
    std::string s;
    Tensor r = t.select(0, 0).contiguous();
    char buf[32];
    for (int64_t j = 0; j < std::min<int64_t>(r.numel(), 5); ++j) {
      std::snprintf(buf, sizeof buf, "%8.4f", r.data_ptr<float>()[j]);
      s += buf;
    }
    return s + (r.numel() > 5 ? "  ..." : "");
  };
  const double mean_before = bn->running_mean.select(0, 0).item<float>();
  const int64_t tracked_before = bn->num_batches_tracked.item<int64_t>();
  net->train();
  Tensor t1 = net(x), t2 = net(x);
  const double mean_after_train = bn->running_mean.select(0, 0).item<float>();
  net->eval();
  Tensor e1 = net(x), e2 = net(x);
  const double mean_after_eval = bn->running_mean.select(0, 0).item<float>();
  std::printf("train mode, call 1, example 0: %s\n", row(t1).c_str());
  std::printf("train mode, call 2, example 0: %s\n", row(t2).c_str());
  std::printf("eval  mode, call 1, example 0: %s\n", row(e1).c_str());
  std::printf("eval  mode, call 2, example 0: %s\n", row(e2).c_str());
  std::printf("max |call 1 - call 2|: train mode %.4g (dropout masks and batch statistics), eval mode %.4g\n",
              (t1 - t2).abs().max().item<float>(), (e1 - e2).abs().max().item<float>());
  std::printf("BatchNorm running_mean[0]: %.6f before, %.6f after 2 train-mode calls, %.6f after 2 eval-mode calls;"
              " num_batches_tracked %lld -> %lld\n",
              mean_before, mean_after_train, mean_after_eval, static_cast<long long>(tracked_before),
              static_cast<long long>(bn->num_batches_tracked.item<int64_t>()));
  // One example: training mode cannot compute batch statistics from it, eval mode can.
  Tensor one = x.slice(0, 0, 1);
  net->train();
  try {
    net(one);
    std::printf("train mode on a batch of 1: accepted\n");
  } catch (const ag::Error& e) {
    std::printf("train mode on a batch of 1: ag::Error: %s\n", e.what());
  }
  net->eval();
  std::printf("eval  mode on a batch of 1: %s\n", row(net(one)).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ag backprop demo: derivatives three ways, then the classic mini-batch SGD loop"};
  std::string data = "fashion", root = "/usr/share/datasets/fashion-mnist", out = "backprop_demo_out";
  int64_t epochs = 0, batch = 64, accumulate = 1, hidden = 0, limit = 0;  // 0: the data's default
  double lr = 0.0, dropout = 0.0;
  uint64_t seed = 0;
  bool no_plot = false;
  app.add_option("--data", data, "fashion | xor | moons | spirals")->check(CLI::IsMember({"fashion", "xor", "moons", "spirals"}));
  app.add_option("--root", root, "Fashion-MNIST directory");
  app.add_option("--epochs", epochs, "epochs (default: 3 for fashion, 30 for the synthetic sets)")->check(number_check(true));
  app.add_option("--batch", batch, "mini-batch size T")->check(number_check(false));
  app.add_option("--accumulate", accumulate, "sub-batches K per mini-batch (gradients accumulate)")->check(number_check(false));
  app.add_option("--lr", lr, "learning rate eta (default: 0.5 for fashion, 1.0 for the synthetic sets)")->check(number_check(false));
  app.add_option("--hidden", hidden, "hidden units (default: 128 for fashion, 16 for the synthetic sets)")->check(number_check(false));
  app.add_option("--dropout", dropout, "dropout after the hidden layer (0 = none)")->check(CLI::Range(0.0, 0.99));
  app.add_option("--limit", limit, "training examples (0 = all; synthetic sets: 2000)")->check(number_check(true));
  app.add_option("--seed", seed, "seed for initialisation, data and shuffling");
  app.add_option("--out", out, "directory for the curve CSV and PNG");
  app.add_flag("--no-plot", no_plot, "do not run gnuplot");
  CLI11_PARSE(app, argc, argv);

  try {
    if (data == "fashion" && !std::filesystem::is_directory(root))
      throw std::runtime_error("the Fashion-MNIST directory " + root +
                               " does not exist (install dataset-fashion-mnist, pass --root, or use --data xor)");
    part1_derivatives(/*x=*/1.5, {/*w1=*/0.8, /*b1=*/-0.4, /*w2=*/-1.2, /*b2=*/0.3});

    // ---- Part 2 ----
    ag::manual_seed(seed);
    const Data d = load_data(data, root, limit, seed);
    const bool fashion = data == "fashion";
    if (epochs == 0) epochs = fashion ? 3 : 30;
    if (hidden == 0) hidden = fashion ? 128 : 16;
    if (lr == 0) lr = fashion ? 0.5 : 1.0;
    std::printf("== Part 2: %lld-%lld-%lld sigmoid network on %s (%lld train, %lld test), SGD eta %g, T %lld, K %lld ==\n",
                static_cast<long long>(d.features), static_cast<long long>(hidden), static_cast<long long>(d.classes),
                d.name.c_str(), static_cast<long long>(d.train.size()), static_cast<long long>(d.test.size()), lr,
                static_cast<long long>(batch), static_cast<long long>(accumulate));
    nn::Sequential model(nn::Linear(d.features, hidden), nn::Sigmoid());
    if (dropout > 0) model->push_back(nn::Dropout(dropout));
    model->push_back(nn::Linear(hidden, d.classes));
    std::vector<Tensor> params = model->parameters();

    ag::data::DataLoader loader(d.train, ag::data::DataLoaderOptions(batch).shuffle(true).seed(seed));
    struct Row {
      int64_t epoch;
      double train_loss, test_acc;
    };
    std::vector<Row> curve;
    const auto [acc0, loss0] = evaluate(model, d.test);
    std::printf("before training: test accuracy %.2f%%, test loss %.4f\n", 100 * acc0, loss0);

    for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
      model->train();
      Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), loader.size());
      double loss_sum = 0;
      int64_t seen = 0, step = 0;
      for (const auto& b : loader) {
        const int64_t T = b.input.size(0);
        // 1. Zero the gradient buffers.
        for (auto& p : params)
          if (p.grad().defined()) p.grad().zero_();
        // 2. Forward and backward over the T instances, one sub-batch at a time: the
        //    gradients of Σ_t Div_t accumulate in .grad().
        for (int64_t k = 0; k < accumulate; ++k) {
          const int64_t lo = T * k / accumulate, hi = T * (k + 1) / accumulate;
          if (hi == lo) continue;
          Tensor logits = model(b.input.slice(0, lo, hi));
          Tensor div = F::cross_entropy(logits, b.target.slice(0, lo, hi), nn::Reduction::Sum);
          div.backward();
          loss_sum += div.item<float>();
        }
        // 3. w ← w − (η / T) Σ_t ∂Div_t/∂w.
        {
          ag::NoGradGuard no_grad;
          for (auto& p : params) p.sub_(p.grad(), lr / static_cast<double>(T));
        }
        seen += T;
        bar.update(++step, seen, loss_sum / seen);
      }
      bar.finish(seen, loss_sum / seen);
      const auto [acc, test_loss] = evaluate(model, d.test);  // eval mode inside
      std::printf("epoch %lld: train loss %.4f, test loss %.4f, test accuracy %.2f%% (%.1f s, %.0f samples/s)\n",
                  static_cast<long long>(epoch), loss_sum / seen, test_loss, 100 * acc, bar.elapsed(),
                  seen / bar.elapsed());
      curve.push_back({epoch, loss_sum / seen, acc});
    }

    // The curve: CSV, and a PNG when gnuplot is there.
    std::filesystem::create_directories(out);
    const std::string csv = out + "/backprop_curve.csv", png = out + "/backprop_curve.png";
    {
      std::ofstream f(csv);
      f << "epoch,train_loss,test_acc\n";
      for (const Row& r : curve) f << r.epoch << "," << r.train_loss << "," << r.test_acc << "\n";
      if (!f) throw std::runtime_error("cannot write " + csv);
    }
    std::printf("curve: %s\n", csv.c_str());
    if (!no_plot && on_path("gnuplot")) {
      const std::string gp = out + "/backprop_curve.gp";
      std::ofstream g(gp);
      g << "set terminal png size 900,450 noenhanced\nset output '" << png << "'\nset datafile separator ','\n"
        << "set key autotitle columnhead\nset xlabel 'epoch'\nset ylabel 'train loss'\nset y2label 'test accuracy'\n"
        << "set ytics nomirror\nset y2tics\nset title 'backprop demo: " << d.name << "'\n"
        << "plot '" << csv << "' using 1:2 with linespoints axes x1y1, '' using 1:3 with linespoints axes x1y2\n";
      g.close();
      if (std::system(("gnuplot '" + gp + "'").c_str()) == 0) std::printf("plot:  %s\n", png.c_str());
      else std::fprintf(stderr, "gnuplot failed; the CSV is still there\n");
    }

    part3_modes(d, 16);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nbackprop_demo: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
