// train — multi-layer perceptrons on Fashion-MNIST or MNIST, from the command line.
//
//   train --hidden 256 --activation sigmoid --optim adam --lr 1e-3 --batch 128 --epochs 1
//   train --dataset mnist --root ~/mnist --hidden 256,128 --activation relu --optim sgd --lr 0.1 --momentum 0.9
//   train --epochs 5 --save run.safetensors            # checkpoint after every epoch
//   train --epochs 10 --resume run.safetensors         # continue at epoch 6, exactly
//
// Each epoch prints a progress bar (loss, samples/s), then the test accuracy and the
// seconds the epoch took. At the end the curve (epoch, train_loss, test_acc) is written as
// CSV and, when gnuplot is on PATH, as a PNG.
//
// Checkpoints: one safetensors file holding the model's parameters and buffers
// ("model.<name>"), the optimizer's state ("optim.<name>", its scalars in the metadata),
// the scheduler's state, the number of finished epochs, the settings that fix the run
// (architecture, optimizer, seed, batch, ...) and the curve so far. It is written to a
// temporary file and renamed over PATH, so a crash leaves the previous checkpoint intact.
// --resume restores all of it: the data order of the next epoch is that epoch's seeded
// shuffle and the optimizer continues from its saved moments and step counts, so a run
// cut into pieces ends bitwise where the uninterrupted run ends.
#include <ag/ag.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
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

struct Config {
  std::string dataset = "fashion", root, activation = "relu", optim = "adam", scheduler = "none";
  std::vector<int64_t> hidden{256};
  double lr = 1e-3, momentum = 0.0, weight_decay = -1;  // -1: the optimizer's default
  int64_t batch = 128, accumulate = 1, epochs = 5, threads = 0, limit = 0;
  uint64_t seed = 0;
  std::string save, resume, out = "train_out";
  bool no_plot = false;
  bool raw_pixels = false;  // skip the standardisation of inputs
};

struct Row {
  int64_t epoch;
  double train_loss, test_acc, seconds;
};

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// Shortest text that reads back as the same double.
std::string exact(double v) {
  char buf[64];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// ---- model and optimizer ---------------------------------------------------------------------
nn::Sequential make_model(const Config& c, int64_t in, int64_t classes) {
  nn::Sequential net;
  int64_t prev = in;
  for (int64_t h : c.hidden) {
    net->push_back(nn::Linear(prev, h));
    if (c.activation == "sigmoid") net->push_back(nn::Sigmoid());
    else if (c.activation == "tanh") net->push_back(nn::Tanh());
    else net->push_back(nn::ReLU());
    prev = h;
  }
  net->push_back(nn::Linear(prev, classes));
  return net;
}

std::unique_ptr<ag::optim::Optimizer> make_optimizer(const Config& c, std::vector<Tensor> params) {
  if (c.optim == "sgd") {
    auto o = ag::optim::SGDOptions(c.lr).momentum(c.momentum);
    if (c.weight_decay >= 0) o.weight_decay(c.weight_decay);
    return std::make_unique<ag::optim::SGD>(std::move(params), o);
  }
  if (c.optim == "adamw") {
    auto o = ag::optim::AdamWOptions(c.lr);
    if (c.weight_decay >= 0) o.weight_decay(c.weight_decay);
    return std::make_unique<ag::optim::AdamW>(std::move(params), o);
  }
  auto o = ag::optim::AdamOptions(c.lr);
  if (c.weight_decay >= 0) o.weight_decay(c.weight_decay);
  return std::make_unique<ag::optim::Adam>(std::move(params), o);
}

std::unique_ptr<ag::optim::LRScheduler> make_scheduler(const Config& c, ag::optim::Optimizer& opt) {
  if (c.scheduler == "cosine") return std::make_unique<ag::optim::CosineAnnealingLR>(opt, c.epochs);
  if (c.scheduler == "step") return std::make_unique<ag::optim::StepLR>(opt, std::max<int64_t>(1, c.epochs / 3), 0.1);
  return nullptr;
}

// ---- checkpoints -----------------------------------------------------------------------------
// The settings that must not change across a resume, as written in the checkpoint.
std::map<std::string, std::string> fixed_settings(const Config& c) {
  return {{"dataset", c.dataset},
          {"hidden", join(c.hidden)},
          {"activation", c.activation},
          {"optim", c.optim},
          {"scheduler", c.scheduler},
          {"batch", std::to_string(c.batch)},
          {"accumulate", std::to_string(c.accumulate)},
          {"seed", std::to_string(c.seed)},
          {"limit", std::to_string(c.limit)}};
}

void save_checkpoint(const std::string& path, const Config& c, nn::Sequential& model, const ag::optim::Optimizer& opt,
                     const ag::optim::LRScheduler* sched, int64_t epochs_done, const std::vector<Row>& curve) {
  nn::NamedTensors tensors;
  for (auto& [name, t] : model->named_parameters()) tensors.emplace_back("model." + name, t);
  for (auto& [name, t] : model->named_buffers()) tensors.emplace_back("model." + name, t);
  const ag::optim::OptimizerStateDict state = opt.state_dict();
  for (const auto& [name, t] : state.tensors) tensors.emplace_back("optim." + name, t);
  nn::Metadata meta;
  meta["format"] = "ag.train.v1";
  meta["epochs_done"] = std::to_string(epochs_done);
  meta["epochs"] = std::to_string(c.epochs);
  for (const auto& [k, v] : fixed_settings(c)) meta["config." + k] = v;
  for (const auto& [k, v] : state.metadata) meta["optim." + k] = v;
  if (sched)
    for (const auto& [k, v] : sched->state_dict()) meta["scheduler." + k] = v;
  std::ostringstream hist;
  for (const Row& r : curve)
    hist << r.epoch << ":" << exact(r.train_loss) << ":" << exact(r.test_acc) << ":" << exact(r.seconds) << ";";
  meta["history"] = hist.str();
  nn::save_tensors(tensors, path, meta);  // temporary file + rename: atomic
}

// Restores model, optimizer and scheduler from `path`; returns the epochs already done.
// Everything is checked before anything changes.
int64_t load_checkpoint(const std::string& path, const Config& c, nn::Sequential& model, ag::optim::Optimizer& opt,
                        ag::optim::LRScheduler* sched, std::vector<Row>& curve) {
  nn::Metadata meta;
  nn::NamedTensors tensors = nn::load_tensors(path, &meta);
  auto need = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) throw std::runtime_error(path + " is not a checkpoint of train (no '" + key + "')");
    return it->second;
  };
  if (need("format") != "ag.train.v1") throw std::runtime_error(path + ": unknown checkpoint format " + meta["format"]);

  std::map<std::string, Tensor> model_t;
  ag::optim::NamedTensors optim_t;
  for (auto& [name, t] : tensors) {
    if (name.rfind("model.", 0) == 0) model_t.emplace(name.substr(6), t);
    else if (name.rfind("optim.", 0) == 0) optim_t.emplace_back(name.substr(6), t);
    else throw std::runtime_error(path + ": unexpected tensor '" + name + "'");
  }
  ag::optim::Metadata optim_m, sched_m;
  for (const auto& [k, v] : meta) {
    if (k.rfind("optim.", 0) == 0) optim_m[k.substr(6)] = v;
    if (k.rfind("scheduler.", 0) == 0) sched_m[k.substr(10)] = v;
  }

  // Model: every parameter and buffer, same shape and dtype, nothing extra.
  std::vector<std::pair<Tensor, Tensor>> copies;
  nn::NamedTensors mine = model->named_parameters();
  for (auto& nb : model->named_buffers()) mine.push_back(nb);
  for (auto& [name, t] : mine) {
    auto it = model_t.find(name);
    if (it == model_t.end()) throw std::runtime_error(path + ": the model's '" + name + "' is missing");
    if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype())
      throw std::runtime_error(path + ": '" + name + "' has shape " + ag::shape_str(it->second.shape()) +
                               " in the checkpoint but " + ag::shape_str(t.shape()) + " in the model");
    copies.emplace_back(t, it->second);
  }
  if (copies.size() != model_t.size()) throw std::runtime_error(path + ": the checkpoint holds extra model tensors");

  // Optimizer and scheduler validate themselves; a scheduler first (it changes nothing
  // when it throws), then the optimizer (likewise), then the model copies cannot fail.
  if (sched) sched->check_state_dict(sched_m);
  opt.load_state_dict(optim_t, optim_m);
  if (sched) sched->load_state_dict(sched_m);
  {
    ag::NoGradGuard no_grad;
    for (auto& [dst, src] : copies) dst.copy_(src);
  }

  curve.clear();
  std::istringstream hist(meta["history"]);
  std::string item;
  while (std::getline(hist, item, ';')) {
    if (item.empty()) continue;
    Row r{};
    if (std::sscanf(item.c_str(), "%lld:%lf:%lf:%lf", reinterpret_cast<long long*>(&r.epoch), &r.train_loss,
                    &r.test_acc, &r.seconds) == 4)
      curve.push_back(r);
  }
  return std::stoll(need("epochs_done"));
}

double accuracy(nn::Sequential& model, const ag::data::TensorDataset& ds) {
  model->eval();
  ag::NoGradGuard no_grad;
  int64_t correct = 0;
  for (const auto& b : ag::data::DataLoader(ds, ag::data::DataLoaderOptions(1000))) {
    Tensor pred = ag::argmax(model(b.input), 1).contiguous();
    Tensor y = b.target.contiguous();
    const int64_t *p = pred.data_ptr<int64_t>(), *t = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < pred.numel(); ++i) correct += p[i] == t[i];
  }
  return static_cast<double>(correct) / ds.size();
}

void write_curve(const Config& c, const std::vector<Row>& curve) {
  std::filesystem::create_directories(c.out);
  const std::string csv = c.out + "/train_curve.csv", png = c.out + "/train_curve.png";
  {
    std::ofstream f(csv);
    f << "epoch,train_loss,test_acc\n";
    for (const Row& r : curve) f << r.epoch << "," << exact(r.train_loss) << "," << exact(r.test_acc) << "\n";
    if (!f) throw std::runtime_error("cannot write " + csv);
  }
  std::printf("curve: %s\n", csv.c_str());
  if (c.no_plot || std::system("command -v gnuplot > /dev/null 2>&1") != 0) return;
  const std::string gp = c.out + "/train_curve.gp";
  std::ofstream g(gp);
  g << "set terminal png size 900,450 noenhanced\nset output '" << png << "'\nset datafile separator ','\n"
    << "set key autotitle columnhead\nset xlabel 'epoch'\nset ylabel 'train loss'\nset y2label 'test accuracy'\n"
    << "set ytics nomirror\nset y2tics\nset title 'train: " << c.dataset << " " << join(c.hidden) << " "
    << c.activation << " " << c.optim << "'\n"
    << "plot '" << csv << "' using 1:2 with linespoints axes x1y1, '' using 1:3 with linespoints axes x1y2\n";
  g.close();
  if (std::system(("gnuplot '" + gp + "'").c_str()) == 0) std::printf("plot:  %s\n", png.c_str());
  else std::fprintf(stderr, "train: gnuplot failed; the CSV is still there\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"ag train: an MLP on Fashion-MNIST or MNIST"};
  app.add_option("--dataset", c.dataset, "fashion | mnist")->check(CLI::IsMember({"fashion", "mnist"}));
  app.add_option("--root", c.root, "directory of the IDX files (default: /usr/share/datasets/<fashion-mnist|mnist>)");
  app.add_option("--hidden", c.hidden, "hidden layer sizes, e.g. 256,128")->delimiter(',')->check(number_check(false));
  app.add_option("--activation", c.activation, "sigmoid | relu | tanh")->check(CLI::IsMember({"sigmoid", "relu", "tanh"}));
  app.add_option("--optim", c.optim, "sgd | adam | adamw")->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--lr", c.lr, "learning rate")->check(number_check(false));
  app.add_option("--momentum", c.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", c.weight_decay, "weight decay (default: the optimizer's)")->check(number_check(true));
  app.add_option("--scheduler", c.scheduler, "none | step | cosine (per epoch)")->check(CLI::IsMember({"none", "step", "cosine"}));
  app.add_option("--batch", c.batch, "mini-batch size")->check(number_check(false));
  app.add_option("--accumulate", c.accumulate, "sub-batches per mini-batch (gradient accumulation)")->check(number_check(false));
  app.add_option("--epochs", c.epochs, "total epochs (a resumed run continues up to this many)")->check(number_check(true));
  app.add_option("--threads", c.threads, "threads for ag (ag::set_num_threads; default: all)")->check(number_check(false));
  app.add_option("--seed", c.seed, "seed for initialisation and shuffling");
  app.add_option("--limit", c.limit, "use only the first N training examples (0 = all)")->check(number_check(true));
  app.add_option("--save", c.save, "checkpoint file, written atomically after every epoch");
  app.add_option("--resume", c.resume, "checkpoint to continue from (its settings are used)")->check(CLI::ExistingFile);
  app.add_option("--out", c.out, "directory for train_curve.csv / .png");
  app.add_flag("--no-plot", c.no_plot, "do not run gnuplot");
  app.add_flag("--raw-pixels", c.raw_pixels, "feed pixels in [0,1] instead of standardised inputs");
  CLI11_PARSE(app, argc, argv);

  try {
    // On --resume the checkpoint's settings rule; an explicit, different one is an error.
    nn::Metadata resume_meta;
    if (!c.resume.empty()) {
      resume_meta = nn::load_metadata(c.resume);
      if (resume_meta["format"] != "ag.train.v1") throw std::runtime_error(c.resume + " is not a checkpoint of train");
      const auto mine = fixed_settings(c);
      for (const auto& [k, v] : mine) {
        const std::string saved = resume_meta["config." + k];
        if (app.count("--" + k) > 0 && saved != v)
          throw std::runtime_error(c.resume + " was trained with --" + k + " " + saved + ", not " + v +
                                   " (leave the option out to continue it)");
      }
      c.dataset = resume_meta["config.dataset"];
      c.activation = resume_meta["config.activation"];
      c.optim = resume_meta["config.optim"];
      c.scheduler = resume_meta["config.scheduler"];
      c.batch = std::stoll(resume_meta["config.batch"]);
      c.accumulate = std::stoll(resume_meta["config.accumulate"]);
      c.seed = std::stoull(resume_meta["config.seed"]);
      c.limit = std::stoll(resume_meta["config.limit"]);
      c.hidden.clear();
      std::istringstream hs(resume_meta["config.hidden"]);
      for (std::string h; std::getline(hs, h, ',');) c.hidden.push_back(std::stoll(h));
      if (app.count("--epochs") == 0) c.epochs = std::stoll(resume_meta["epochs"]);
      if (c.save.empty()) c.save = c.resume;
    }
    if (c.root.empty()) c.root = c.dataset == "fashion" ? "/usr/share/datasets/fashion-mnist" : "/usr/share/datasets/mnist";
    if (!std::filesystem::is_directory(c.root))
      throw std::runtime_error("the data directory " + c.root + " does not exist (pass --root DIR)");
    if (c.threads > 0) ag::set_num_threads(static_cast<int>(c.threads));
    if (!c.save.empty() && std::filesystem::path(c.save).has_parent_path())
      std::filesystem::create_directories(std::filesystem::path(c.save).parent_path());

    // Data.
    const double t_load = now();
    // Inputs standardised with the training set's mean and deviation: a sigmoid network
    // trains markedly better on centred inputs.
    const auto mopts = ag::data::MnistOptions().limit(c.limit).normalize(!c.raw_pixels);
    const auto topts = ag::data::MnistOptions().normalize(!c.raw_pixels);
    ag::data::TensorDataset train, test;
    if (c.dataset == "fashion") {
      train = ag::data::FashionMNIST(c.root, true, mopts);
      test = ag::data::FashionMNIST(c.root, false, topts);
    } else {
      train = ag::data::MNIST(c.root, true, mopts);
      test = ag::data::MNIST(c.root, false, topts);
    }
    std::printf("%s: %lld train, %lld test examples (loaded in %.1f s)\n", c.dataset.c_str(),
                static_cast<long long>(train.size()), static_cast<long long>(test.size()), now() - t_load);

    // Model, optimizer, scheduler (and the checkpoint over them).
    ag::manual_seed(c.seed);
    nn::Sequential model = make_model(c, 784, 10);
    auto opt = make_optimizer(c, model->parameters());
    auto sched = make_scheduler(c, *opt);
    std::vector<Row> curve;
    int64_t start = 0;
    if (!c.resume.empty()) {
      start = load_checkpoint(c.resume, c, model, *opt, sched.get(), curve);
      std::printf("resumed %s after epoch %lld\n", c.resume.c_str(), static_cast<long long>(start));
    }
    std::cout << model << "\n";
    std::printf("optimizer %s lr %g, batch %lld x %lld sub-batches, %d threads, seed %llu\n", opt->name(), opt->lr(),
                static_cast<long long>(c.batch), static_cast<long long>(c.accumulate), ag::get_num_threads(),
                static_cast<unsigned long long>(c.seed));

    ag::data::DataLoader loader(train, ag::data::DataLoaderOptions(c.batch).shuffle(true).seed(c.seed));
    loader.set_epoch(start);  // the next epoch's shuffle, as in the uninterrupted run
    for (int64_t epoch = start + 1; epoch <= c.epochs; ++epoch) {
      model->train();
      Progress bar("epoch " + std::to_string(epoch) + "/" + std::to_string(c.epochs), loader.size());
      const double t0 = now();
      double loss_sum = 0;
      int64_t seen = 0, step = 0;
      for (const auto& b : loader) {
        const int64_t T = b.input.size(0);
        opt->zero_grad();
        // Each sub-batch's summed loss / T: the accumulated gradient is the batch mean's.
        for (int64_t k = 0; k < c.accumulate; ++k) {
          const int64_t lo = T * k / c.accumulate, hi = T * (k + 1) / c.accumulate;
          if (hi == lo) continue;
          Tensor loss = F::cross_entropy(model(b.input.slice(0, lo, hi)), b.target.slice(0, lo, hi), nn::Reduction::Sum);
          (loss / static_cast<double>(T)).backward();
          loss_sum += loss.item<float>();
        }
        opt->step();
        seen += T;
        bar.update(++step, seen, loss_sum / seen);
      }
      bar.finish(seen, loss_sum / seen);
      const double train_s = now() - t0;
      if (sched) sched->step();
      const double acc = accuracy(model, test);
      curve.push_back({epoch, loss_sum / seen, acc, train_s});
      std::printf("epoch %lld/%lld: train loss %.4f, test accuracy %.2f%%, %.2f s/epoch (%.0f samples/s), lr %g\n",
                  static_cast<long long>(epoch), static_cast<long long>(c.epochs), loss_sum / seen, 100 * acc, train_s,
                  seen / train_s, opt->lr());
      std::fflush(stdout);
      if (!c.save.empty()) save_checkpoint(c.save, c, model, *opt, sched.get(), epoch, curve);
    }
    if (start >= c.epochs) std::printf("nothing to do: the checkpoint has %lld epochs already\n", static_cast<long long>(start));
    if (!c.save.empty()) std::printf("checkpoint: %s\n", c.save.c_str());
    write_curve(c, curve);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
