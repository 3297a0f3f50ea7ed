// derivative_plot: derivatives computed by ag's autograd, written next to the analytic
// ones and plotted.
//
//   1. sin(x) on [-5, 5]. The derivative comes from backward(); the program never writes
//      cos for it (the analytic column, std::cos, is only the reference it is compared
//      with). The second derivative, by create_graph=true, is checked against -sin(x).
//   2. f(x) = log(x²)·sin(x) + 1/x on [-5, 5] without the points |x| < 0.25 (f has a pole
//      at 0), against f'(x) = 2·sin(x)/x + log(x²)·cos(x) - 1/x².
//   3. The second-price auction: the winner pays the second-highest bid. The gradient of
//      the price with respect to the winner's own bid is 0, with respect to the
//      second-highest bid 1.
//
// Each curve is a CSV (x, f, f', analytic f') and, when gnuplot is on PATH, a PNG.
//
//   build/release/apps/derivative_plot --out out/derivative_plot --points 201
#include <CLI/CLI.hpp>
#include <ag/ag.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_checks.hpp"

using ag::Tensor;

namespace {

const ag::TensorOptions kF64 = ag::TensorOptions(ag::kFloat64);

std::vector<double> values(const Tensor& t) {
  const Tensor c = t.detach().contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

// f and f' by autograd at every point of xs: one forward over the whole vector, one
// backward. Each f(x_i) depends on x_i alone, so the gradient of sum(f) is f' pointwise.
struct Curve {
  std::vector<double> x, f, df, analytic;
};
Curve differentiate(const std::vector<double>& xs, const std::function<Tensor(const Tensor&)>& f,
                    const std::function<double(double)>& analytic) {
  Tensor x = ag::tensor(xs, {static_cast<int64_t>(xs.size())}, kF64);
  x.requires_grad_(true);
  Tensor y = f(x);
  y.sum().backward();
  Curve c{xs, values(y), values(x.grad()), {}};
  for (double v : xs) c.analytic.push_back(analytic(v));
  return c;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

void write_csv(const std::string& path, const Curve& c, const char* name) {
  std::ofstream out(path);
  out << "x," << name << ",d" << name << "_autograd,d" << name << "_analytic\n";
  out.precision(17);
  for (size_t i = 0; i < c.x.size(); ++i) out << c.x[i] << "," << c.f[i] << "," << c.df[i] << "," << c.analytic[i] << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
}

bool on_path(const char* program) {
  const std::string cmd = std::string("command -v ") + program + " > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A PNG of the CSV's three curves (f, f' by autograd, f' analytic), titled `labels`. `split` plots x < 0 and x > 0 as separate lines (no
// segment drawn across the pole of f at 0).
void plot(const std::string& dir, const std::string& stem, const std::string& title, const char* const (&labels)[3],
          bool split) {
  const std::string csv = dir + "/" + stem + ".csv", png = dir + "/" + stem + ".png", gp = dir + "/" + stem + ".gp";
  {
    std::ofstream g(gp);
    g << "set terminal png size 900,500 noenhanced\nset output '" << png << "'\nset datafile separator ','\n"
      << "set key outside right\nset grid\nset xlabel 'x'\nset title '" << title << "'\n";
    const char* styles[3] = {"lines lw 2", "lines lw 2", "points pt 7 ps 0.4"};
    g << "plot ";
    for (int k = 0; k < 3; ++k) {
      const std::string col = std::to_string(k + 2);
      if (k) g << ", ";
      if (split) {
        g << "'" << csv << "' using 1:($1 < 0 ? $" << col << " : 1/0) with " << styles[k] << " lc " << k + 1
          << " title \"" << labels[k] << "\", '' using 1:($1 > 0 ? $" << col << " : 1/0) with " << styles[k] << " lc "
          << k + 1 << " notitle";
      } else {
        g << "'" << csv << "' using 1:" << col << " with " << styles[k] << " lc " << k + 1 << " title \"" << labels[k]
          << "\"";
      }
    }
    g << "\n";
  }
  if (std::system(("gnuplot '" + gp + "'").c_str()) == 0) std::printf("  plot: %s\n", png.c_str());
  else std::fprintf(stderr, "  gnuplot failed; the CSV is still there\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ag derivative plot: sin(x) and log(x^2)·sin(x) + 1/x differentiated by autograd, and the "
               "second-price auction"};
  std::string out = "out/derivative_plot";
  int64_t points = 201;
  std::vector<double> bids = {3.0, 7.5, 5.2, 1.0};
  bool no_plot = false;
  app.add_option("--out", out, "directory for the CSV files and PNGs");
  app.add_option("--points", points, "points on [-5, 5] (at least 2)")->check(CLI::Range(int64_t{2}, int64_t{10000000}));
  app.add_option("--bids", bids, "the auction's bids, comma-separated (at least 2, distinct highest)")
      ->delimiter(',')
      ->check(ag_apps::number_check(true));
  app.add_flag("--no-plot", no_plot, "do not run gnuplot");
  CLI11_PARSE(app, argc, argv);

  try {
    // The bids first, so that bad input stops the program before it writes anything.
    if (bids.size() < 2) throw std::runtime_error("--bids needs at least 2 bids, got " + std::to_string(bids.size()));
    std::vector<double> sorted = bids;
    std::sort(sorted.rbegin(), sorted.rend());
    if (!(sorted[0] > sorted[1]))
      throw std::runtime_error("--bids: the highest bid is tied; the second-price auction needs one winner");
    std::filesystem::create_directories(out);
    const bool gnuplot = !no_plot && on_path("gnuplot");
    std::vector<double> grid;
    for (int64_t i = 0; i < points; ++i) grid.push_back(-5.0 + 10.0 * static_cast<double>(i) / static_cast<double>(points - 1));

    // ---- 1. sin --------------------------------------------------------------------------
    std::printf("1. d/dx sin(x) on [-5, 5], %lld points, by backward():\n", static_cast<long long>(points));
    const Curve s = differentiate(grid, [](const Tensor& x) { return ag::sin(x); }, [](double v) { return std::cos(v); });
    write_csv(out + "/sin.csv", s, "sin");
    std::printf("  largest |autograd - cos(x)| = %.3g\n", max_abs_diff(s.df, s.analytic));
    {
      // The second derivative: differentiate the recorded first derivative again.
      Tensor x = ag::tensor(grid, {points}, kF64);
      x.requires_grad_(true);
      Tensor d1 = ag::grad({ag::sin(x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
      Tensor d2 = ag::grad({d1.sum()}, {x})[0];
      std::vector<double> minus_sin;
      for (double v : grid) minus_sin.push_back(-std::sin(v));
      std::printf("  second derivative (create_graph=true): largest |autograd - (-sin(x))| = %.3g\n",
                  max_abs_diff(values(d2), minus_sin));
    }
    std::printf("  csv:  %s\n", (out + "/sin.csv").c_str());
    if (gnuplot) plot(out, "sin", "sin(x) and its derivative by ag autograd", {"sin(x)", "d/dx sin(x), autograd", "cos(x)"}, false);

    // ---- 2. log(x²)·sin(x) + 1/x -----------------------------------------------------------
    std::vector<double> xs;
    for (double v : grid)
      if (std::fabs(v) >= 0.25) xs.push_back(v);
    std::printf("2. f(x) = log(x^2)·sin(x) + 1/x on [-5, 5] without |x| < 0.25 (%zu points):\n", xs.size());
    if (xs.empty()) throw std::runtime_error("no point of the grid has |x| >= 0.25; use more --points");
    const Curve c = differentiate(
        xs, [](const Tensor& x) { return ag::log(x * x) * ag::sin(x) + 1.0 / x; },
        [](double v) { return 2.0 * std::sin(v) / v + std::log(v * v) * std::cos(v) - 1.0 / (v * v); });
    write_csv(out + "/f.csv", c, "f");
    std::printf("  largest |autograd - (2 sin(x)/x + log(x^2) cos(x) - 1/x^2)| = %.3g\n", max_abs_diff(c.df, c.analytic));
    std::printf("  csv:  %s\n", (out + "/f.csv").c_str());
    if (gnuplot) plot(out, "f", "f(x) = log(x^2) sin(x) + 1/x and its derivative by ag autograd",
                      {"f(x)", "f'(x), autograd", "f'(x), analytic"}, true);
    if (!gnuplot)
      std::printf("(no PNG: %s)\n", no_plot ? "--no-plot" : "gnuplot is not installed; apt-get install gnuplot-nox");

    // ---- 3. the second-price auction -----------------------------------------------------------
    Tensor b = ag::tensor(bids, {static_cast<int64_t>(bids.size())}, kF64);
    b.requires_grad_(true);
    const int64_t winner = ag::argmax(b).item<int64_t>();  // an index: no derivative
    // The price: the largest bid once the winner's is taken out of the running.
    Tensor is_winner = ag::arange(0.0, static_cast<double>(bids.size()), 1.0, kF64) == static_cast<double>(winner);
    Tensor price = ag::where(is_winner, ag::full({static_cast<int64_t>(bids.size())}, -INFINITY, kF64), b).max();
    price.backward();
    const std::vector<double> g = values(b.grad());
    int64_t second = 0;
    for (int64_t i = 0; i < static_cast<int64_t>(bids.size()); ++i)
      if (i != winner && bids[static_cast<size_t>(i)] == sorted[1]) second = i;
    std::printf("3. second-price auction, bids");
    for (double v : bids) std::printf(" %g", v);
    std::printf(": bidder %lld wins and pays %g\n", static_cast<long long>(winner), price.item<double>());
    std::printf("  d price / d bid:");
    for (double v : g) std::printf(" %g", v);
    std::printf("\n  d price / d (winner's bid) = %g, d price / d (second-highest bid) = %g\n",
                g[static_cast<size_t>(winner)], g[static_cast<size_t>(second)]);
    const auto tied = std::count(bids.begin(), bids.end(), sorted[1]);
    if (tied > 1)
      std::printf("  (%lld bidders share the second-highest bid: max splits its gradient evenly between them)\n",
                  static_cast<long long>(tied));
    std::printf("  Why: the winner pays the second-highest bid, which their own bid does not enter (0), one for one (1).\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "derivative_plot: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
