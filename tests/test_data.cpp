// ag::data: IDX and MNIST readers, the DataLoader, read_csv and the synthetic sets.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <ag/ag.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace fs = std::filesystem;
using ag::Tensor;
using ag::data::DataLoader;
using ag::data::DataLoaderOptions;
using ag::data::Example;
using ag::data::TensorDataset;

namespace {

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::path(::testing::TempDir()) /
            ("ag_data_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void put_be32(std::vector<unsigned char>& out, uint32_t v) {
  out.push_back(static_cast<unsigned char>(v >> 24));
  out.push_back(static_cast<unsigned char>(v >> 16));
  out.push_back(static_cast<unsigned char>(v >> 8));
  out.push_back(static_cast<unsigned char>(v));
}

// The bytes of an IDX file: magic, sizes, body.
std::vector<unsigned char> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                                     const std::vector<unsigned char>& body) {
  std::vector<unsigned char> out;
  put_be32(out, magic);
  for (uint32_t d : dims) put_be32(out, d);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  if (!bytes.empty()) ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::vector<unsigned char> iota_bytes(size_t n, unsigned start = 0) {
  std::vector<unsigned char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>((start + i) % 256);
  return v;
}


bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<float> floats(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
std::vector<int64_t> longs(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A tiny MNIST directory: n images of rows x cols with pixel (k, p) = (k + p) % 256 and
// label k % 10, unless told otherwise.
void write_mnist(const TempDir& dir, const std::string& prefix, uint32_t n, uint32_t n_labels = 0,
                 uint32_t rows = 28, uint32_t cols = 28) {
  if (n_labels == 0) n_labels = n;
  std::vector<unsigned char> pixels;
  for (uint32_t k = 0; k < n; ++k)
    for (uint32_t p = 0; p < rows * cols; ++p) pixels.push_back(static_cast<unsigned char>((k + p) % 256));
  std::vector<unsigned char> labels;
  for (uint32_t k = 0; k < n_labels; ++k) labels.push_back(static_cast<unsigned char>(k % 10));
  write_gz(dir.file(prefix + "-images-idx3-ubyte.gz"), idx_bytes(0x00000803, {n, rows, cols}, pixels));
  write_gz(dir.file(prefix + "-labels-idx1-ubyte.gz"), idx_bytes(0x00000801, {n_labels}, labels));
}

}  // namespace

// ---- IDX ------------------------------------------------------------------------------------
TEST(ReadIdx, GoodFileGivesTheDeclaredShapeAndBytes) {
  TempDir dir;
  write_gz(dir.file("a.gz"), idx_bytes(0x00000803, {2, 3, 4}, iota_bytes(24, 250)));
  Tensor f = ag::data::read_idx(dir.file("a.gz"));
  EXPECT_EQ(f.dtype(), ag::kFloat32);
  EXPECT_EQ(f.shape(), (std::vector<int64_t>{2, 3, 4}));
  const auto v = floats(f);
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(v[i], static_cast<float>((250 + i) % 256)) << i;

  Tensor l = ag::data::read_idx(dir.file("a.gz"), ag::kInt64);
  EXPECT_EQ(l.dtype(), ag::kInt64);
  EXPECT_EQ(longs(l)[5], 255);
  EXPECT_EQ(longs(l)[6], 0);
}

TEST(ReadIdx, ReadsUncompressedFilesToo) {
  TempDir dir;
  const auto bytes = idx_bytes(0x00000801, {5}, {9, 8, 7, 6, 5});
  std::ofstream(dir.file("plain"), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                            static_cast<std::streamsize>(bytes.size()));
  Tensor t = ag::data::read_idx(dir.file("plain"), ag::kInt64);
  EXPECT_EQ(longs(t), (std::vector<int64_t>{9, 8, 7, 6, 5}));
}

TEST(ReadIdx, BadMagicIsAnError) {
  TempDir dir;
  write_gz(dir.file("type.gz"), idx_bytes(0x00000D03, {1, 1, 1}, {0, 0, 0, 0}));  // float data
  std::string e = error_of([&] { ag::data::read_idx(dir.file("type.gz")); });
  EXPECT_TRUE(contains(e, "magic")) << e;
  EXPECT_TRUE(contains(e, "type.gz")) << e;
  write_gz(dir.file("lead.gz"), idx_bytes(0x01000801, {1}, {0}));
  e = error_of([&] { ag::data::read_idx(dir.file("lead.gz")); });
  EXPECT_TRUE(contains(e, "magic")) << e;
  write_gz(dir.file("dims.gz"), idx_bytes(0x00000800, {}, {}));  // zero dimensions
  e = error_of([&] { ag::data::read_idx(dir.file("dims.gz")); });
  EXPECT_TRUE(contains(e, "dimensions")) << e;
}

TEST(ReadIdx, ShortBodyIsAnError) {
  TempDir dir;
  write_gz(dir.file("short.gz"), idx_bytes(0x00000803, {2, 3, 4}, iota_bytes(23)));
  const std::string e = error_of([&] { ag::data::read_idx(dir.file("short.gz")); });
  EXPECT_TRUE(contains(e, "short")) << e;
  EXPECT_TRUE(contains(e, "24")) << e;
  EXPECT_TRUE(contains(e, "23")) << e;
  EXPECT_TRUE(contains(e, "short.gz")) << e;
}

TEST(ReadIdx, TrailingBytesAreAnError) {
  TempDir dir;
  write_gz(dir.file("long.gz"), idx_bytes(0x00000801, {4}, iota_bytes(5)));
  const std::string e = error_of([&] { ag::data::read_idx(dir.file("long.gz")); });
  EXPECT_TRUE(contains(e, "trailing")) << e;
}

TEST(ReadIdx, TruncatedHeaderZeroDimensionAndMissingFileAreErrors) {
  TempDir dir;
  std::vector<unsigned char> header = idx_bytes(0x00000803, {2, 3, 4}, {});
  header.resize(9);  // magic + one size + one byte
  write_gz(dir.file("hdr.gz"), header);
  std::string e = error_of([&] { ag::data::read_idx(dir.file("hdr.gz")); });
  EXPECT_TRUE(contains(e, "header is truncated")) << e;

  write_gz(dir.file("zero.gz"), idx_bytes(0x00000802, {3, 0}, {}));
  e = error_of([&] { ag::data::read_idx(dir.file("zero.gz")); });
  EXPECT_TRUE(contains(e, "dimension 1 is 0")) << e;

  e = error_of([&] { ag::data::read_idx(dir.file("nope.gz")); });
  EXPECT_TRUE(contains(e, "nope.gz")) << e;
  EXPECT_TRUE(contains(e, "cannot open")) << e;

  write_gz(dir.file("huge.gz"), idx_bytes(0x00000803, {65535, 65535, 65535}, iota_bytes(10)));
  e = error_of([&] { ag::data::read_idx(dir.file("huge.gz")); });
  EXPECT_TRUE(contains(e, "implausibly large")) << e;

  write_gz(dir.file("empty.gz"), {});
  e = error_of([&] { ag::data::read_idx(dir.file("empty.gz")); });
  EXPECT_TRUE(contains(e, "too short")) << e;
}

TEST(ReadIdx, TruncatedGzipStreamIsAnError) {
  TempDir dir;
  write_gz(dir.file("full.gz"), idx_bytes(0x00000801, {4000}, iota_bytes(4000)));
  std::ifstream in(dir.file("full.gz"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 40u);
  write_file(dir.file("cut.gz"), bytes.substr(0, bytes.size() / 2));
  const std::string e = error_of([&] { ag::data::read_idx(dir.file("cut.gz")); });
  EXPECT_TRUE(contains(e, "cut.gz")) << e;
  EXPECT_FALSE(e.empty());
}

// ---- MNIST on files the test writes ---------------------------------------------------------
TEST(Mnist, ReadsImagesScaledAndLabels) {
  TempDir dir;
  write_mnist(dir, "train", 12);
  write_mnist(dir, "t10k", 3);
  ag::data::MNIST train(dir.str(), true);
  ASSERT_EQ(train.size(), 12);
  EXPECT_EQ(train.images().shape(), (std::vector<int64_t>{12, 784}));
  EXPECT_EQ(train.images().dtype(), ag::kFloat32);
  EXPECT_EQ(train.labels().dtype(), ag::kInt64);
  EXPECT_EQ(longs(train.labels()), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}));
  const auto px = floats(train.images());
  EXPECT_FLOAT_EQ(px[0], 0.0f);
  EXPECT_FLOAT_EQ(px[784 * 3 + 10], 13.0f / 255.0f);
  EXPECT_FLOAT_EQ(px[255], 1.0f);
  Example e = train.get(3);
  EXPECT_EQ(e.target.item<int64_t>(), 3);
  EXPECT_FLOAT_EQ(e.input[10].item<float>(), 13.0f / 255.0f);

  ag::data::MNIST test(dir.str(), false);
  EXPECT_EQ(test.size(), 3);

  ag::data::FashionMNIST norm(dir.str(), true, ag::data::MnistOptions().normalize(true).limit(5));
  EXPECT_EQ(norm.size(), 5);
  EXPECT_NEAR(floats(norm.images())[784 * 3 + 10], (13.0f / 255.0f - 0.2860f) / 0.3530f, 1e-5);
}

TEST(Mnist, WrongCountIsAnError) {
  TempDir dir;
  write_mnist(dir, "train", 5, /*n_labels=*/4);
  const std::string e = error_of([&] { ag::data::MNIST(dir.str(), true); });
  EXPECT_TRUE(contains(e, "5 images")) << e;
  EXPECT_TRUE(contains(e, "4 labels")) << e;
}

TEST(Mnist, WrongImageSizeIsAnError) {
  TempDir dir;
  write_mnist(dir, "train", 2, 0, 27, 28);
  const std::string e = error_of([&] { ag::data::FashionMNIST(dir.str(), true); });
  EXPECT_TRUE(contains(e, "27x28")) << e;
  EXPECT_TRUE(contains(e, "FashionMNIST")) << e;
}

TEST(Mnist, SwappedFilesAndBadLabelsAreErrors) {
  TempDir dir;
  write_mnist(dir, "train", 2);
  // A label file holding an image header.
  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes(0x00000803, {2, 28, 28}, iota_bytes(2 * 784)));
  std::string e = error_of([&] { ag::data::MNIST(dir.str(), true); });
  EXPECT_TRUE(contains(e, "0x00000801")) << e;

  write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes(0x00000801, {2}, {3, 10}));
  e = error_of([&] { ag::data::MNIST(dir.str(), true); });
  EXPECT_TRUE(contains(e, "label 10 at index 1")) << e;
}

TEST(Mnist, MissingDirectoryOrFileIsAnError) {
  TempDir dir;
  std::string e = error_of([&] { ag::data::MNIST(dir.file("absent"), true); });
  EXPECT_TRUE(contains(e, "does not exist")) << e;
  e = error_of([&] { ag::data::MNIST(dir.str(), false); });
  EXPECT_TRUE(contains(e, "t10k-images-idx3-ubyte")) << e;
}

TEST(Mnist, RealFashionMnist) {
  const std::string root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root + "/train-images-idx3-ubyte.gz")) GTEST_SKIP() << root << " is not installed";
  ag::data::FashionMNIST train(root, true), test(root, false);
  ASSERT_EQ(train.size(), 60000);
  ASSERT_EQ(test.size(), 10000);
  EXPECT_EQ(train.images().shape(), (std::vector<int64_t>{60000, 784}));
  EXPECT_EQ(test.labels().shape(), (std::vector<int64_t>{10000}));
  // Labels in 0..9, balanced: 6000 per class in train, 1000 in test.
  std::vector<int64_t> counts(10, 0), test_counts(10, 0);
  for (int64_t l : longs(train.labels())) {
    ASSERT_GE(l, 0);
    ASSERT_LE(l, 9);
    ++counts[static_cast<size_t>(l)];
  }
  for (int64_t l : longs(test.labels())) ++test_counts[static_cast<size_t>(l)];
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(counts[k], 6000) << k;
    EXPECT_EQ(test_counts[k], 1000) << k;
  }
  EXPECT_EQ(train.images().min().item<float>(), 0.0f);
  EXPECT_EQ(train.images().max().item<float>(), 1.0f);
  EXPECT_NEAR(train.images().mean().item<float>(), ag::data::FashionMNIST::kMean, 1e-3);
  EXPECT_STREQ(ag::data::FashionMNIST::class_name(9), "Ankle boot");
}

// ---- Dataset / TensorDataset ----------------------------------------------------------------
TEST(TensorDataset, GetAndErrors) {
  TensorDataset ds(ag::arange(12.0).reshape({6, 2}), ag::tensor({0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(ds.size(), 6);
  Example e = ds.get(4);
  EXPECT_EQ(floats(e.input), (std::vector<float>{8.f, 9.f}));
  EXPECT_EQ(e.target.item<int64_t>(), 4);
  EXPECT_TRUE(e.data().is_same(e.input));
  EXPECT_TRUE(contains(error_of([&] { ds.get(6); }), "index 6 is out of range")) ;
  EXPECT_FALSE(error_of([&] { ds.get(-1); }).empty());
  const std::string e2 = error_of([] { TensorDataset(ag::zeros({3, 2}), ag::zeros({4})); });
  EXPECT_TRUE(contains(e2, "[3, 2]") && contains(e2, "[4]")) << e2;
  EXPECT_FALSE(error_of([] { TensorDataset(ag::zeros({}), ag::zeros({1})); }).empty());
  EXPECT_EQ(ds.head(2).size(), 2);
  EXPECT_EQ(ds.head(100).size(), 6);
}

// ---- DataLoader -----------------------------------------------------------------------------
namespace {

// inputs row i = [i, 10 i], target i.
TensorDataset counting_dataset(int64_t n) {
  Tensor x = ag::arange(static_cast<double>(n)).reshape({n, 1});
  return TensorDataset(ag::cat({x, x * 10}, 1), ag::arange(static_cast<double>(n), ag::TensorOptions(ag::kInt64)));
}

// A Dataset that only implements get (exercises the default stacking), counts calls,
// records the thread it ran on and throws at `bad`.
class ProbeDataset : public ag::data::Dataset {
 public:
  ProbeDataset(int64_t n, int64_t bad = -1) : n_(n), bad_(bad) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    check_index(i, "ProbeDataset::get");
    calls->fetch_add(1);
    *thread = std::this_thread::get_id();
    if (i == bad_) throw std::runtime_error("probe: example " + std::to_string(i) + " is broken");
    return {ag::full({3}, static_cast<double>(i)), ag::scalar_tensor(static_cast<double>(i), ag::kInt64)};
  }
  std::shared_ptr<std::atomic<int64_t>> calls = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::thread::id> thread = std::make_shared<std::thread::id>();

 private:
  int64_t n_, bad_;
};

std::vector<int64_t> epoch_targets(DataLoader& loader) {
  std::vector<int64_t> out;
  for (const auto& batch : loader) {
    auto t = longs(batch.target);
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

}  // namespace

TEST(DataLoader, BatchCountsWithAndWithoutDropLast) {
  DataLoader keep(counting_dataset(10), DataLoaderOptions().batch_size(3));
  EXPECT_EQ(keep.size(), 4);
  std::vector<int64_t> sizes;
  for (auto& batch : keep) {
    EXPECT_EQ(batch.input.dim(), 2);
    EXPECT_EQ(batch.input.size(1), 2);
    EXPECT_EQ(batch.target.shape(), (std::vector<int64_t>{batch.input.size(0)}));
    sizes.push_back(batch.input.size(0));
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3, 1}));

  DataLoader drop(counting_dataset(10), DataLoaderOptions(3).drop_last(true));
  EXPECT_EQ(drop.size(), 3);
  sizes.clear();
  for (auto& batch : drop) sizes.push_back(batch.input.size(0));
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3}));

  DataLoader exact(counting_dataset(9), DataLoaderOptions(3).drop_last(false));
  EXPECT_EQ(exact.size(), 3);
  DataLoader tiny(counting_dataset(2), DataLoaderOptions(3).drop_last(true));
  EXPECT_EQ(tiny.size(), 0);
  EXPECT_TRUE(tiny.begin() == tiny.end());
}

TEST(DataLoader, UnshuffledOrderAndRowsMatchTargets) {
  DataLoader loader(counting_dataset(7), DataLoaderOptions(4));
  EXPECT_EQ(epoch_targets(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  for (auto& batch : loader) {
    const auto x = floats(batch.input);
    const auto y = longs(batch.target);
    for (size_t r = 0; r < y.size(); ++r) {
      EXPECT_EQ(x[2 * r], static_cast<float>(y[r]));
      EXPECT_EQ(x[2 * r + 1], static_cast<float>(10 * y[r]));
    }
  }
}

TEST(DataLoader, EveryExampleExactlyOncePerShuffledEpoch) {
  const int64_t n = 103;
  DataLoader loader(counting_dataset(n), DataLoaderOptions(8).shuffle(true).seed(42));
  for (int epoch = 0; epoch < 3; ++epoch) {
    int64_t rows = 0;
    std::vector<int64_t> seen;
    for (auto& batch : loader) {
      const auto x = floats(batch.input);
      const auto y = longs(batch.target);
      for (size_t r = 0; r < y.size(); ++r) EXPECT_EQ(x[2 * r], static_cast<float>(y[r]));  // rows stay paired
      rows += batch.input.size(0);
      seen.insert(seen.end(), y.begin(), y.end());
    }
    EXPECT_EQ(rows, n);
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(sorted, all) << "epoch " << epoch;
    EXPECT_NE(seen, all) << "epoch " << epoch << " was not shuffled";
  }
  EXPECT_EQ(loader.epoch(), 3);
}

TEST(DataLoader, SeededShuffleIsReproducibleAndDiffersAcrossEpochs) {
  auto opts = DataLoaderOptions(5).shuffle(true).seed(7);
  DataLoader a(counting_dataset(50), opts), b(counting_dataset(50), opts);
  ag::manual_seed(1);
  const auto a0 = epoch_targets(a), a1 = epoch_targets(a);
  ag::manual_seed(999);  // the loader's generator is its own
  const auto b0 = epoch_targets(b), b1 = epoch_targets(b);
  EXPECT_EQ(a0, b0);
  EXPECT_EQ(a1, b1);
  EXPECT_NE(a0, a1);
  EXPECT_EQ(a0, a.order(0));
  EXPECT_EQ(a1, a.order(1));

  DataLoader c(counting_dataset(50), DataLoaderOptions(5).shuffle(true).seed(8));
  EXPECT_NE(epoch_targets(c), a0);

  // set_epoch replays an epoch (what a resumed run does).
  a.set_epoch(1);
  EXPECT_EQ(epoch_targets(a), a1);
  EXPECT_EQ(a.epoch(), 2);
}

TEST(DataLoader, DefaultGetBatchStacksExamples) {
  ProbeDataset ds(5);
  DataLoader loader(ds, DataLoaderOptions(2));
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> targets;
  for (auto& batch : loader) {
    shapes.push_back(batch.input.shape());
    EXPECT_EQ(batch.target.dim(), 1);
    auto t = longs(batch.target);
    targets.insert(targets.end(), t.begin(), t.end());
    const auto x = floats(batch.input);
    for (size_t r = 0; r < t.size(); ++r)
      for (size_t c = 0; c < 3; ++c) EXPECT_EQ(x[3 * r + c], static_cast<float>(t[r]));
  }
  EXPECT_EQ(shapes, (std::vector<std::vector<int64_t>>{{2, 3}, {2, 3}, {1, 3}}));
  EXPECT_EQ(targets, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(DataLoader, BatchesAreMadeOnABackgroundThreadWithoutGraph) {
  ProbeDataset ds(8);
  DataLoader loader(ds, DataLoaderOptions(2));  // the loader copies ds: shared counters
  for (auto& batch : loader) EXPECT_EQ(batch.input.size(0), 2);
  EXPECT_NE(*ds.thread, std::this_thread::get_id());
  EXPECT_EQ(ds.calls->load(), 8);

  DataLoader sync(ds, DataLoaderOptions(2).prefetch(0));
  for (auto& batch : sync) EXPECT_EQ(batch.input.size(0), 2);
  EXPECT_EQ(*ds.thread, std::this_thread::get_id());

  Tensor x = ag::randn({6, 2}).requires_grad_(true);
  DataLoader grads(TensorDataset(x, ag::zeros({6})), DataLoaderOptions(4).shuffle(true));
  for (auto& batch : grads) {
    EXPECT_FALSE(batch.input.requires_grad());
    EXPECT_EQ(batch.input.grad_fn(), nullptr);
  }
}

TEST(DataLoader, BatchesDoNotShareStorageWithTheDataset) {
  TensorDataset ds = counting_dataset(4);
  DataLoader loader(ds, DataLoaderOptions(4));
  for (auto& batch : loader) {
    Tensor x = batch.input;
    x.fill_(-1.0);
  }
  EXPECT_EQ(floats(ds.inputs())[2], 1.0f);
}

TEST(DataLoader, EarlyBreakStopsTheProducer) {
  ProbeDataset ds(100000);
  const auto start = std::chrono::steady_clock::now();
  {
    DataLoader loader(ds, DataLoaderOptions(10).prefetch(2));
    int seen = 0;
    for (auto& batch : loader) {
      EXPECT_EQ(batch.input.size(0), 10);
      if (++seen == 3) break;
    }
    EXPECT_EQ(seen, 3);
    // After the break the loop's iterator is gone and its thread joined: no more calls.
    const int64_t after_break = ds.calls->load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(ds.calls->load(), after_break);
    // 3 consumed + at most 2 queued + 1 in the making.
    EXPECT_LE(after_break, 10 * (3 + 2 + 1));

    // An iterator abandoned mid-epoch by hand, then a fresh epoch in the same loader.
    {
      auto it = loader.begin();
      ++it;
    }
    int64_t rows = 0;
    for (auto& batch : loader) {
      rows += batch.input.size(0);
      if (rows >= 50) break;
    }
    EXPECT_EQ(rows, 50);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(DataLoader, ExceptionInGetReachesTheConsumerInOrder) {
  for (int64_t prefetch : {2, 0}) {
    ProbeDataset ds(20, /*bad=*/13);
    DataLoader loader(ds, DataLoaderOptions(4).prefetch(prefetch));
    std::vector<int64_t> got;
    std::string message;
    try {
      for (auto& batch : loader) {
        auto t = longs(batch.target);
        got.insert(got.end(), t.begin(), t.end());
      }
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    EXPECT_EQ(message, "probe: example 13 is broken") << "prefetch " << prefetch;
    EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})) << "prefetch " << prefetch;
  }
  // The error in the very first batch is thrown by begin().
  ProbeDataset first(4, 0);
  DataLoader loader(first, DataLoaderOptions(2));
  EXPECT_THROW(loader.begin(), std::runtime_error);
}

TEST(DataLoader, TwoEpochsMayBeIteratedAtOnce) {
  DataLoader loader(counting_dataset(6), DataLoaderOptions(2).shuffle(true).seed(5));
  auto a = loader.begin();  // epoch 0
  auto b = loader.begin();  // epoch 1, while epoch 0 is still open
  std::vector<int64_t> ea, eb;
  for (; a != loader.end(); ++a) for (int64_t v : longs(a->target)) ea.push_back(v);
  for (; b != loader.end(); ++b) for (int64_t v : longs(b->target)) eb.push_back(v);
  EXPECT_EQ(ea, loader.order(0));
  EXPECT_EQ(eb, loader.order(1));
}

TEST(DataLoader, BadOptionsAreErrors) {
  const std::string e = error_of([] { DataLoader(counting_dataset(3), DataLoaderOptions().batch_size(0)); });
  EXPECT_TRUE(contains(e, "batch_size must be positive")) << e;
  EXPECT_FALSE(error_of([] { DataLoader(counting_dataset(3), DataLoaderOptions(-2)); }).empty());
  EXPECT_FALSE(error_of([] { DataLoader(counting_dataset(3), DataLoaderOptions(1).prefetch(-1)); }).empty());
  EXPECT_FALSE(error_of([] { DataLoader(std::shared_ptr<const ag::data::Dataset>(), DataLoaderOptions(1)); }).empty());
}

TEST(DataLoader, SharedDatasetAndStructuredBindings) {
  auto ds = std::make_shared<TensorDataset>(counting_dataset(6));
  DataLoader loader(ds, DataLoaderOptions(6));
  EXPECT_EQ(&loader.dataset(), ds.get());
  int batches = 0;
  for (const auto& [x, y] : loader) {
    EXPECT_EQ(x.shape(), (std::vector<int64_t>{6, 2}));
    EXPECT_EQ(longs(y), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
    ++batches;
  }
  EXPECT_EQ(batches, 1);
}

// ---- CSV ------------------------------------------------------------------------------------
TEST(ReadCsv, GoodFiles) {
  TempDir dir;
  write_file(dir.file("a.csv"), "x,y,label\r\n1, 2.5 ,0\r\n\r\n-3e2,4,1\r\n");
  Tensor t = ag::data::read_csv(dir.file("a.csv"), ag::data::CsvOptions().header(true));
  EXPECT_EQ(t.dtype(), ag::kFloat32);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(t), (std::vector<float>{1.f, 2.5f, 0.f, -300.f, 4.f, 1.f}));

  write_file(dir.file("b.txt"), "1;2\n3;4");  // no final newline
  Tensor u = ag::data::read_csv(dir.file("b.txt"), ag::data::CsvOptions().delimiter(';'));
  EXPECT_EQ(floats(u), (std::vector<float>{1.f, 2.f, 3.f, 4.f}));
  EXPECT_EQ(u.shape(), (std::vector<int64_t>{2, 2}));

  write_file(dir.file("h.csv"), "a,b,c,d\n");
  Tensor h = ag::data::read_csv(dir.file("h.csv"), ag::data::CsvOptions().header(true));
  EXPECT_EQ(h.shape(), (std::vector<int64_t>{0, 4}));
}

TEST(ReadCsv, BadFilesNameTheLine) {
  TempDir dir;
  write_file(dir.file("nan.csv"), "a,b\n1,2\n3,abc\n");
  std::string e = error_of([&] { ag::data::read_csv(dir.file("nan.csv"), ag::data::CsvOptions().header(true)); });
  EXPECT_TRUE(contains(e, "nan.csv:3")) << e;
  EXPECT_TRUE(contains(e, "(\"abc\") is not a number")) << e;

  write_file(dir.file("ragged.csv"), "1,2,3\n4,5,6\n\n7,8\n");
  e = error_of([&] { ag::data::read_csv(dir.file("ragged.csv")); });
  EXPECT_TRUE(contains(e, "ragged.csv:4")) << e;
  EXPECT_TRUE(contains(e, "ragged row: 2 fields")) << e;

  write_file(dir.file("hdr.csv"), "a,b\n1,2,3\n");
  e = error_of([&] { ag::data::read_csv(dir.file("hdr.csv"), ag::data::CsvOptions().header(true)); });
  EXPECT_TRUE(contains(e, "hdr.csv:2")) << e;
  EXPECT_TRUE(contains(e, "header")) << e;

  write_file(dir.file("empty_field.csv"), "1,,3\n");
  e = error_of([&] { ag::data::read_csv(dir.file("empty_field.csv")); });
  EXPECT_TRUE(contains(e, ":1: field 2 is empty")) << e;

  write_file(dir.file("junk.csv"), "1,2x\n");
  e = error_of([&] { ag::data::read_csv(dir.file("junk.csv")); });
  EXPECT_TRUE(contains(e, "\"2x\"")) << e;

  write_file(dir.file("empty.csv"), "");
  EXPECT_TRUE(contains(error_of([&] { ag::data::read_csv(dir.file("empty.csv")); }), "empty"));
  EXPECT_TRUE(contains(error_of([&] { ag::data::read_csv(dir.file("missing.csv")); }), "cannot open"));
}

// ---- synthetic ------------------------------------------------------------------------------
TEST(Synthetic, XorTruthTable) {
  TensorDataset xor4 = ag::data::make_xor(4);
  EXPECT_EQ(floats(xor4.inputs()), (std::vector<float>{0, 0, 0, 1, 1, 0, 1, 1}));
  EXPECT_EQ(longs(xor4.targets()), (std::vector<int64_t>{0, 1, 1, 0}));
  TensorDataset noisy = ag::data::make_xor(400, 0.1, 3);
  EXPECT_EQ(noisy.inputs().shape(), (std::vector<int64_t>{400, 2}));
  EXPECT_EQ(noisy.targets().dtype(), ag::kInt64);
  // Noise of std 0.1 around the corners: mean absolute deviation ~0.08.
  Tensor corners = ag::data::make_xor(400).inputs();
  const float dev = (noisy.inputs() - corners).abs().mean().item<float>();
  EXPECT_GT(dev, 0.05f);
  EXPECT_LT(dev, 0.11f);
  EXPECT_TRUE(ag::equal(noisy.inputs(), ag::data::make_xor(400, 0.1, 3).inputs()));
  EXPECT_FALSE(ag::equal(noisy.inputs(), ag::data::make_xor(400, 0.1, 4).inputs()));
}

TEST(Synthetic, MoonsShapesClassesAndSeeds) {
  ag::manual_seed(5);
  TensorDataset m = ag::data::make_moons(101, 0.0, 1);
  ag::manual_seed(6);
  EXPECT_TRUE(ag::equal(m.inputs(), ag::data::make_moons(101, 0.0, 1).inputs()));
  EXPECT_EQ(m.inputs().shape(), (std::vector<int64_t>{101, 2}));
  const auto y = longs(m.targets());
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 50);
  EXPECT_EQ(std::count(y.begin(), y.end(), 1), 51);
  const auto x = floats(m.inputs());
  bool sorted = true;
  for (size_t i = 0; i < y.size(); ++i) {
    // Without noise the upper moon is the unit circle, the lower one centred at (1, 0.5).
    const double cx = y[i] == 0 ? 0.0 : 1.0, cy = y[i] == 0 ? 0.0 : 0.5;
    EXPECT_NEAR(std::hypot(x[2 * i] - cx, x[2 * i + 1] - cy), 1.0, 1e-5) << i;
    if (i > 0 && y[i] < y[i - 1]) sorted = false;
  }
  EXPECT_FALSE(sorted);  // shuffled
  EXPECT_FALSE(ag::equal(ag::data::make_moons(101, 0.1, 1).inputs(), ag::data::make_moons(101, 0.1, 2).inputs()));
}

TEST(Synthetic, SpiralsShapesClassesAndErrors) {
  TensorDataset s = ag::data::make_spirals(301, 3, 0.0, 9);
  EXPECT_EQ(s.inputs().shape(), (std::vector<int64_t>{301, 2}));
  const auto y = longs(s.targets());
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 101);
  EXPECT_EQ(std::count(y.begin(), y.end(), 1), 100);
  EXPECT_EQ(std::count(y.begin(), y.end(), 2), 100);
  const float r = s.inputs().pow(2.0).sum(1).sqrt().max().item<float>();
  EXPECT_NEAR(r, 1.0f, 1e-5);
  EXPECT_TRUE(ag::equal(s.inputs(), ag::data::make_spirals(301, 3, 0.0, 9).inputs()));
  EXPECT_FALSE(ag::equal(ag::data::make_spirals(300, 3, 0.2, 1).inputs(), ag::data::make_spirals(300, 3, 0.2, 2).inputs()));

  EXPECT_TRUE(contains(error_of([] { ag::data::make_spirals(10, 1); }), "classes must be >= 2"));
  EXPECT_TRUE(contains(error_of([] { ag::data::make_moons(0); }), "n must be >= 1"));
  EXPECT_TRUE(contains(error_of([] { ag::data::make_xor(4, -1.0); }), "noise"));
}
