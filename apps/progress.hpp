// The progress bar the training programs of apps/ print on stderr, one line redrawn in
// place at most ten times a second:
//   epoch 3/10 [#########.....................]  150/469 (31%) loss 0.4123 | 52311 samples/s
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace ag_apps {

// Seconds on a monotonic clock.
inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class Progress {
 public:
  Progress(std::string label, int64_t total) : label_(std::move(label)), total_(total), start_(now()) {}

  // done of total steps, samples seen so far, the running mean loss.
  void update(int64_t done, int64_t samples, double loss, bool force = false) {
    const double t = now();
    if (!force && t - last_ < 0.1) return;
    last_ = t;
    const int width = 30;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %4lld/%lld (%d%%) loss %.4f | %.0f samples/s ", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_),
                 static_cast<int>(total_ > 0 ? 100 * done / total_ : 100), loss, samples / std::max(t - start_, 1e-9));
    std::fflush(stderr);
  }
  void finish(int64_t samples, double loss) {
    update(total_, samples, loss, true);
    std::fprintf(stderr, "\n");
  }
  double elapsed() const { return now() - start_; }

 private:
  std::string label_;
  int64_t total_;
  double start_, last_ = 0;
};

}  // namespace ag_apps
