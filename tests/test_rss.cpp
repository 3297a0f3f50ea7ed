// Memory stays flat over a long training run (issue 7, "nothing lost"): 10 000 steps of a
// small MLP with Adam over a DataLoader (a new producer thread every epoch), with the
// resident set size sampled from /proc/self/statm. After warm-up (step 1000) it may not grow
// by more than a few MB, and no graph node may outlive its step.
//
// Under AddressSanitizer freed memory sits in a quarantine and RSS proves nothing, so the
// test is skipped there (and under ThreadSanitizer, whose shadow memory grows likewise).
#include <gtest/gtest.h>
#include <unistd.h>

#include <ag/ag.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

namespace nn = ag::nn;
namespace F = ag::nn::functional;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Resident set size in bytes.
int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST(Rss, FlatOverTenThousandTrainingSteps) {
  if (kSanitized) GTEST_SKIP() << "RSS is meaningless under a sanitizer's quarantine";
  constexpr int64_t kSteps = 10000, kWarmup = 1000;
  constexpr double kAllowedGrowthMb = 4.0;

  ag::manual_seed(5);
  const ag::data::TensorDataset ds = ag::data::make_spirals(256, 4, 0.1, 3);
  nn::Sequential net;
  net->push_back(nn::Linear(2, 32));
  net->push_back(nn::ReLU());
  net->push_back(nn::Linear(32, 32));
  net->push_back(nn::Tanh());
  net->push_back(nn::Linear(32, 4));
  ag::optim::Adam opt(net->parameters(), ag::optim::AdamOptions(1e-2));
  ag::data::DataLoader loader(ds, ag::data::DataLoaderOptions(16).shuffle(true).seed(1));

  const int64_t nodes_before = ag::live_node_count();
  const auto t0 = std::chrono::steady_clock::now();
  int64_t step = 0, rss_warm = 0, rss_peak = 0;
  double first_loss = 0, last_loss = 0;
  std::vector<std::pair<int64_t, int64_t>> samples;  // (step, rss)
  while (step < kSteps) {
    for (const auto& b : loader) {
      float loss_value = 0;
      {
        opt.zero_grad();
        ag::Tensor loss = F::cross_entropy(net(b.input), b.target);
        loss.backward();
        opt.step();
        loss_value = loss.item<float>();
      }  // the step's graph goes with `loss`
      ++step;
      if (step == 1) first_loss = loss_value;
      if (step % 1000 == 0) {
        last_loss = loss_value;
        const int64_t r = rss_bytes();
        samples.emplace_back(step, r);
        if (step == kWarmup) rss_warm = r;
        if (step >= kWarmup) rss_peak = std::max(rss_peak, r);
        EXPECT_EQ(ag::live_node_count(), nodes_before) << "graph nodes outlive step " << step;
      }
      if (step == kSteps) break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& [s, r] : samples) std::printf("step %5lld: RSS %.2f MB\n", static_cast<long long>(s), r / 1048576.0);
  const double growth_mb = (rss_peak - rss_warm) / 1048576.0;
  std::printf("%lld steps in %.2f s; RSS growth after step %lld: %.3f MB (allowed %.1f)\n",
              static_cast<long long>(kSteps), secs, static_cast<long long>(kWarmup), growth_mb, kAllowedGrowthMb);
  EXPECT_LT(growth_mb, kAllowedGrowthMb);
  // The loop trained (it is the real thing, not an idle one).
  EXPECT_LT(last_loss, first_loss);
}
