// MNIST and Fashion-MNIST from their gzip IDX files, and the IDX reader under them.
//
// What they represent: the 60000 training or 10000 test images of 28x28 grey pixels with
// labels 0..9, as a TensorDataset: inputs float32 [N, 784] scaled to [0, 1] (or
// standardised with the dataset's mean and std), targets int64 [N].
//
// Files, in `root` (gzip, or the same names without .gz; the Debian package
// dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist):
//   train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   (train = true)
//   t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    (train = false)
//
// Ensures: every header field is checked — magic 0x00000803 for images and 0x00000801
// for labels, dimensions > 0, images 28x28, as many labels as images, labels in 0..9, the
// body exactly as long as the header declares (a short body or trailing bytes are
// errors). Any failure throws ag::Error naming the file and what is wrong.
#pragma once

#include <string>

#include "ag/data/dataset.hpp"

namespace ag::data {

// The IDX file at `path` (gzip or plain) as a tensor with the header's dimensions.
// Only unsigned-byte data (type code 0x08, magic 0x0000080N with N = number of dims,
// 1 <= N <= 4) is supported; the bytes become `dtype` values 0..255 (float32 or int64,
// not scaled). Throws ag::Error naming the file on any malformed header or body.
Tensor read_idx(const std::string& path, Dtype dtype = kFloat32);

class MnistOptions {
 public:
  // Standardise pixels to (x - mean) / std with the dataset's constants
  // (MNIST 0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530) instead of plain [0, 1].
  MnistOptions& normalize(bool n) { normalize_ = n; return *this; }
  // Keep only the first `n` examples (0 = all): quick runs and tests.
  MnistOptions& limit(int64_t n) { limit_ = n; return *this; }
  bool normalize() const { return normalize_; }
  int64_t limit() const { return limit_; }

 private:
  bool normalize_ = false;
  int64_t limit_ = 0;
};

class MNIST : public TensorDataset {
 public:
  static constexpr float kMean = 0.1307f;
  static constexpr float kStd = 0.3081f;
  static constexpr int64_t kClasses = 10;
  static constexpr int64_t kRows = 28, kCols = 28;

  explicit MNIST(const std::string& root, bool train = true, MnistOptions options = {});

  // The pixel tensor [N, 784] and the labels [N] (the same as inputs() and targets()).
  const Tensor& images() const { return inputs(); }
  const Tensor& labels() const { return targets(); }

 protected:
  MNIST(const std::string& root, bool train, MnistOptions options, const char* name, float mean, float stddev);
};

class FashionMNIST : public MNIST {
 public:
  static constexpr float kMean = 0.2860f;
  static constexpr float kStd = 0.3530f;
  // T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
  static const char* class_name(int64_t label);

  explicit FashionMNIST(const std::string& root, bool train = true, MnistOptions options = {});
};

}  // namespace ag::data
