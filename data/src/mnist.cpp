// MNIST and Fashion-MNIST: two IDX files each for train and test, checked field by field.
#include <sys/stat.h>

#include <cstring>
#include <string>

#include "ag/data/mnist.hpp"
#include "ag/ops.hpp"

namespace ag::data {

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// root/name.gz, else root/name (uncompressed); throws naming both when neither exists.
std::string locate(const std::string& root, const std::string& name, const char* what) {
  std::string dir = root;
  if (!dir.empty() && dir.back() != '/') dir += '/';
  const std::string gz = dir + name + ".gz", plain = dir + name;
  if (exists(gz)) return gz;
  if (exists(plain)) return plain;
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(what, ": the data directory ", root, " does not exist");
  fail(what, ": cannot find ", gz, " (nor ", plain, ")");
}

// The first four bytes of an IDX file, big-endian (read_idx has checked the rest).
uint32_t magic_of(const Tensor& t) { return 0x00000800u | static_cast<uint32_t>(t.dim()); }

}  // namespace

MNIST::MNIST(const std::string& root, bool train, MnistOptions options)
    : MNIST(root, train, options, "MNIST", kMean, kStd) {}

MNIST::MNIST(const std::string& root, bool train, MnistOptions options, const char* name, float mean, float stddev) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = locate(root, prefix + "-images-idx3-ubyte", name);
  const std::string labels_path = locate(root, prefix + "-labels-idx1-ubyte", name);

  Tensor images = read_idx(images_path, kFloat32);
  AG_CHECK(magic_of(images) == 0x00000803u, name, ": ", images_path, ": bad magic number 0x0000080", images.dim(),
           " for an image file (expected 0x00000803: three dimensions)");
  AG_CHECK(images.size(1) == kRows && images.size(2) == kCols, name, ": ", images_path, ": images are ",
           images.size(1), "x", images.size(2), ", expected ", kRows, "x", kCols);
  Tensor labels = read_idx(labels_path, kInt64);
  AG_CHECK(magic_of(labels) == 0x00000801u, name, ": ", labels_path, ": bad magic number 0x0000080", labels.dim(),
           " for a label file (expected 0x00000801: one dimension)");
  AG_CHECK(labels.size(0) == images.size(0), name, ": ", images_path, " holds ", images.size(0), " images but ",
           labels_path, " holds ", labels.size(0), " labels");
  {
    const int64_t* l = labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < labels.numel(); ++i)
      AG_CHECK(l[i] >= 0 && l[i] < kClasses, name, ": ", labels_path, ": label ", l[i], " at index ", i,
               " is outside 0..", kClasses - 1);
  }

  int64_t n = images.size(0);
  AG_CHECK(options.limit() >= 0, name, ": limit must be >= 0, got ", options.limit());
  if (options.limit() > 0 && options.limit() < n) {
    n = options.limit();
    images = images.slice(0, 0, n).clone();  // let the full buffers go
    labels = labels.slice(0, 0, n).clone();
  }
  images = images.reshape({n, kRows * kCols});
  // In place on the fresh buffer: x / 255, or (x / 255 - mean) / std.
  float* p = images.data_ptr<float>();
  const float scale = options.normalize() ? 1.0f / (255.0f * stddev) : 1.0f / 255.0f;
  const float shift = options.normalize() ? -mean / stddev : 0.0f;
  for (int64_t i = 0; i < images.numel(); ++i) p[i] = p[i] * scale + shift;
  static_cast<TensorDataset&>(*this) = TensorDataset(images, labels);
}

FashionMNIST::FashionMNIST(const std::string& root, bool train, MnistOptions options)
    : MNIST(root, train, options, "FashionMNIST", kMean, kStd) {}

const char* FashionMNIST::class_name(int64_t label) {
  static const char* const kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  AG_CHECK(label >= 0 && label < kClasses, "FashionMNIST::class_name: label ", label, " is outside 0..9");
  return kNames[label];
}

}  // namespace ag::data
