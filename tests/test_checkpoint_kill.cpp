// Nothing lost (issue 7): apps/train writes a checkpoint after every epoch (a temporary file
// renamed over the path). Here it trains on a tiny synthetic MNIST, epochs of a few
// milliseconds, and is killed with SIGKILL at random moments, again and again, each time
// resumed with --resume from whatever the checkpoint path holds. After every kill the file
// must be a complete checkpoint — loadable, of this architecture, its optimizer state
// loadable into Adam, its history as long as its epoch count — and never older than the one
// before (epochs_done never goes back). At the end a resumed run trains to completion and
// must end bitwise where one uninterrupted run of as many epochs ends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ag/ag.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifndef AG_TRAIN_EXE
#error "AG_TRAIN_EXE (the path of apps/train) must be defined by tests/CMakeLists.txt"
#endif

namespace fs = std::filesystem;
namespace nn = ag::nn;

namespace {

constexpr int kKills = 40;
constexpr int64_t kHidden = 8;

// A plain IDX file of unsigned bytes.
void write_idx(const std::string& path, std::vector<uint32_t> dims, std::mt19937& gen, bool labels) {
  std::string b{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((d >> s) & 0xff));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<char>(labels ? i % 10 : gen() % 256));
  std::ofstream(path, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}

// Runs train with `args`; returns its pid (output to `log`).
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    std::string exe = AG_TRAIN_EXE;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Checks that `path` is a complete checkpoint of this run; returns its epochs_done.
int64_t check_checkpoint(const std::string& path, const std::string& when) {
  SCOPED_TRACE(when);
  nn::Metadata meta;
  nn::NamedTensors tensors;
  try {
    tensors = nn::load_tensors(path, &meta);
  } catch (const ag::Error& e) {
    ADD_FAILURE() << "the checkpoint does not load: " << e.what();
    return -1;
  }
  EXPECT_EQ(meta["format"], "ag.train.v1");
  EXPECT_EQ(meta["config.hidden"], std::to_string(kHidden));
  const int64_t done = std::stoll(meta["epochs_done"]);
  // The history holds one "epoch:loss:acc:seconds;" per epoch done.
  int64_t rows = 0;
  for (char c : meta["history"]) rows += c == ';';
  EXPECT_EQ(rows, done);

  // The model's tensors fit the architecture; the optimizer's state loads into Adam.
  nn::Sequential model;
  model->push_back(nn::Linear(784, kHidden));
  model->push_back(nn::ReLU());
  model->push_back(nn::Linear(kHidden, 10));
  std::map<std::string, ag::Tensor> by_name;
  ag::optim::NamedTensors optim_t;
  for (auto& [name, t] : tensors) {
    if (name.rfind("optim.", 0) == 0) optim_t.emplace_back(name.substr(6), t);
    else by_name[name] = t;
  }
  for (const auto& [name, p] : model->named_parameters()) {
    auto it = by_name.find("model." + name);
    if (it == by_name.end()) {
      ADD_FAILURE() << "model." << name << " is missing";
      continue;
    }
    EXPECT_EQ(it->second.shape(), p.shape()) << name;
    ag::NoGradGuard g;
    p.copy_(it->second);
  }
  EXPECT_EQ(by_name.size(), model->named_parameters().size());
  ag::optim::Metadata optim_m;
  for (const auto& [k, v] : meta)
    if (k.rfind("optim.", 0) == 0) optim_m[k.substr(6)] = v;
  ag::optim::Adam adam(model->parameters(), ag::optim::AdamOptions(1e-3));
  EXPECT_NO_THROW(adam.load_state_dict(optim_t, optim_m));
  return done;
}

std::map<std::string, std::string> tensor_bytes(const std::string& path) {
  std::map<std::string, std::string> out;
  for (const auto& [name, t] : nn::load_tensors(path)) {
    const ag::Tensor c = t.contiguous();
    out[name].assign(static_cast<const char*>(c.unsafeGetTensorImpl()->raw_data()),
                     static_cast<size_t>(c.numel()) * ag::element_size(c.dtype()));
  }
  return out;
}

}  // namespace

TEST(CheckpointKill, EveryKillLeavesACompleteCheckpointAndResumeContinues) {
  char tmpl[] = "/tmp/ag_ckpt_kill_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, data = dir + "/data", ck = dir + "/run/ck.safetensors", log = dir + "/train.log";
  fs::create_directories(data);
  std::mt19937 gen(42);
  write_idx(data + "/train-images-idx3-ubyte", {192, 28, 28}, gen, false);
  write_idx(data + "/train-labels-idx1-ubyte", {192}, gen, true);
  write_idx(data + "/t10k-images-idx3-ubyte", {32, 28, 28}, gen, false);
  write_idx(data + "/t10k-labels-idx1-ubyte", {32}, gen, true);

  // Every setting that fixes the run is in the checkpoint; --resume takes them from there.
  const std::vector<std::string> fresh{"--root", data, "--hidden", std::to_string(kHidden), "--optim", "adam",
                                       "--batch", "32", "--threads", "1", "--seed", "7", "--no-plot",
                                       "--out", dir + "/out", "--save", ck, "--epochs", "1000000"};
  const auto t_start = std::chrono::steady_clock::now();
  // How long a start takes to its first checkpoint here and now (a loaded machine, a
  // sanitizer build): the kills fall at random between 0.3 and 10 times that after a start,
  // so most land in training and saving, some in start-up and loading.
  double first_ms = 0;
  int64_t last_done = 0;
  int checkpoints_seen = 0, runs_that_advanced = 0;
  for (int k = 0; k < kKills; ++k) {
    std::vector<std::string> args = fresh;
    const bool resume = fs::exists(ck);
    if (resume) args = {"--resume", ck, "--root", data, "--threads", "1", "--no-plot", "--out", dir + "/out",
                        "--epochs", "1000000"};
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = spawn(args, log);
    ASSERT_GT(pid, 0);
    if (k == 0) {
      while (!fs::exists(ck) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ASSERT_TRUE(fs::exists(ck)) << "no checkpoint after 60 s; see " << log;
      first_ms = std::max(20.0, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::uniform_real_distribution<double> delay(0.3 * first_ms, 10.0 * first_ms);
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(delay(gen)));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    const int code = wait_exit(pid);
    ASSERT_EQ(code, 128 + SIGKILL) << "train ended by itself (exit " << code << "); see " << log;
    ASSERT_TRUE(fs::exists(ck)) << "the checkpoint disappeared after kill " << k;
    ++checkpoints_seen;
    const int64_t done = check_checkpoint(ck, "after kill " + std::to_string(k));
    ASSERT_GE(done, 1);
    EXPECT_GE(done, last_done) << "the checkpoint went back from epoch " << last_done << " to " << done;
    runs_that_advanced += done > last_done;
    last_done = done;
  }
  // Temporary files left by kills that landed inside a save (evidence the window was hit).
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir + "/run"))
    leftovers += e.path().filename().string().find(".tmp.") != std::string::npos;
  const double kill_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("%d kills in %.1f s (first checkpoint after %.0f ms): checkpoint at epoch %lld, %d of %d runs "
              "advanced it, %d kills landed inside a save\n",
              kKills, kill_secs, first_ms, static_cast<long long>(last_done), runs_that_advanced, checkpoints_seen,
              leftovers);
  ASSERT_GT(runs_that_advanced, kKills / 4) << "train hardly ever got to write a checkpoint; see " << log;

  // Resume to completion: two more epochs, then the same run in one piece must match bitwise.
  const int64_t target = last_done + 2;
  const int code = wait_exit(spawn({"--resume", ck, "--root", data, "--threads", "1", "--no-plot", "--out",
                                    dir + "/out", "--epochs", std::to_string(target)},
                                   log));
  ASSERT_EQ(code, 0) << "see " << log;
  EXPECT_EQ(check_checkpoint(ck, "after the final resume"), target);

  const std::string whole = dir + "/whole.safetensors";
  std::vector<std::string> args = fresh;
  args.back() = std::to_string(target);
  args[args.size() - 3] = whole;  // --save
  ASSERT_EQ(wait_exit(spawn(args, log)), 0) << "see " << log;
  const auto a = tensor_bytes(ck), b = tensor_bytes(whole);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) EXPECT_TRUE(b.at(name) == bytes) << name << " differs from the uninterrupted run";

  std::error_code ec;
  fs::remove_all(dir, ec);
}
