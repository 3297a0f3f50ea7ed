// ag::nn save/load and save_tensors/load_tensors (safetensors): bitwise round trips, the
// byte layout, atomic replacement, and refusal of every kind of bad file with the module
// left bit-for-bit as it was.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ag/ag.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "test_util.hpp"

namespace nn = ag::nn;
using ag::Tensor;

namespace {

bool bits_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.unsafeGetTensorImpl()->raw_data(), y.unsafeGetTensorImpl()->raw_data(),
                     static_cast<size_t>(x.numel()) * ag::element_size(x.dtype())) == 0;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}
// A safetensors file from a header text and raw data.
std::string make_file(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }
template <class T>
std::string raw(std::initializer_list<T> v) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}


// A model with parameters of two layers and BatchNorm buffers (float32 and int64).
struct ModelImpl : nn::Module {
  explicit ModelImpl(int64_t hidden = 5) {
    fc1 = register_module("fc1", nn::Linear(3, hidden));
    bn = register_module("bn", nn::BatchNorm1d(hidden));
    fc2 = register_module("fc2", nn::Linear(hidden, 2));
  }
  Tensor forward(const Tensor& x) { return fc2(ag::relu(bn(fc1(x)))); }
  nn::Linear fc1{nullptr};
  nn::BatchNorm1d bn{nullptr};
  nn::Linear fc2{nullptr};
};
AG_MODULE(Model);

// Copies of every parameter and buffer, to compare bits after a refused load.
nn::NamedTensors snapshot(const nn::Module& m) {
  nn::NamedTensors out;
  for (const auto& [n, t] : m.named_parameters()) out.emplace_back(n, t.clone());
  for (const auto& [n, t] : m.named_buffers()) out.emplace_back(n, t.clone());
  return out;
}
bool unchanged(const nn::Module& m, const nn::NamedTensors& snap) {
  nn::NamedTensors now = m.named_parameters();
  for (const auto& b : m.named_buffers()) now.push_back(b);
  if (now.size() != snap.size()) return false;
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i].first != snap[i].first || !bits_equal(now[i].second, snap[i].second)) return false;
  return true;
}

class Serialize : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ag_nn_serialize_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    for (const auto& f : list_dir(dir)) std::remove((dir + "/" + f).c_str());
    rmdir(dir.c_str());
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }
  std::string dir;
};

// A trained-looking model: distinct weights and updated running statistics.
Model trained_model(uint64_t seed) {
  ag::manual_seed(seed);
  Model m;
  m(ag::randn({8, 3}));
  m(ag::randn({8, 3}));
  return m;
}

}  // namespace

TEST_F(Serialize, ModuleRoundTripIsBitwise) {
  Model a = trained_model(1);
  Model b = trained_model(2);
  ASSERT_FALSE(bits_equal(a->fc1->weight, b->fc1->weight));
  ASSERT_EQ(a->bn->num_batches_tracked.item<int64_t>(), 2);
  b->bn->num_batches_tracked.fill_(7);
  Tensor handle = b->fc1->weight;  // handles stay valid across load
  nn::save(a, path("m.safetensors"));
  nn::load(b, path("m.safetensors"));
  EXPECT_TRUE(unchanged(*b, snapshot(*a)));
  EXPECT_TRUE(bits_equal(handle, a->fc1->weight));
  EXPECT_EQ(b->bn->num_batches_tracked.item<int64_t>(), 2);
  EXPECT_TRUE(b->fc1->weight.requires_grad());
  EXPECT_TRUE(b->fc1->weight.is_leaf());
  // Same outputs in eval mode.
  a->eval();
  b->eval();
  Tensor x = ag::randn({4, 3});
  EXPECT_TRUE(bits_equal(a(x), b(x)));
  // float64 models round-trip too.
  a->to(ag::kFloat64);
  b->to(ag::kFloat64);
  {
    ag::NoGradGuard g;
    a->fc2->bias.add_(0.125);
  }
  nn::save(*a, path("m64.safetensors"));
  nn::load(*b, path("m64.safetensors"));
  EXPECT_TRUE(unchanged(*b, snapshot(*a)));
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"m.safetensors", "m64.safetensors"}));  // no temp files
}

TEST_F(Serialize, ByteLayoutIsSafetensors) {
  nn::Linear fc(2, 1);
  {
    ag::NoGradGuard g;
    fc->weight.copy_(ag::tensor({1.5f, -2.f}).reshape({1, 2}));
    fc->bias.copy_(ag::tensor({0.25f}));
  }
  nn::save(fc, path("fc.safetensors"), {{"format", "pt"}});
  const std::string bytes = read_bytes(path("fc.safetensors"));
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 12);  // 3 float32 values
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind(R"({"__metadata__":{"format":"pt"},"weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
                         R"("bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 0),
            0u) << header;
  float data[3];
  std::memcpy(data, bytes.data() + 8 + n, 12);
  EXPECT_EQ(data[0], 1.5f);
  EXPECT_EQ(data[1], -2.f);
  EXPECT_EQ(data[2], 0.25f);
  EXPECT_EQ(nn::load_metadata(path("fc.safetensors")), (nn::Metadata{{"format", "pt"}}));
}

TEST_F(Serialize, ReadsAHandWrittenFile) {
  // As another writer may lay it out: data order differs from header order, no padding.
  const std::string header =
      R"({"b":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("m":{"dtype":"BOOL","shape":[3],"data_offsets":[24,27]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[27,27]}})";
  write_bytes(path("h.safetensors"), make_file(header, raw<double>({2.5}) + raw<int64_t>({-3, 1LL << 40}) + std::string("\1\0\1", 3)));
  nn::Metadata md{{"stale", "x"}};
  const auto ts = nn::load_tensors(path("h.safetensors"), &md);
  EXPECT_TRUE(md.empty());
  ASSERT_EQ(ts.size(), 4u);
  EXPECT_EQ(ts[0].first, "b");
  EXPECT_EQ(ts[0].second.dtype(), ag::kInt64);
  EXPECT_EQ(ts[0].second.data_ptr<int64_t>()[0], -3);
  EXPECT_EQ(ts[0].second.data_ptr<int64_t>()[1], 1LL << 40);
  EXPECT_EQ(ts[1].first, "a");
  EXPECT_EQ(ts[1].second.dim(), 0);
  EXPECT_EQ(ts[1].second.item<double>(), 2.5);
  EXPECT_TRUE(ag::equal(ts[2].second, ag::tensor({true, false, true})));
  EXPECT_EQ(ts[3].second.shape(), (std::vector<int64_t>{0, 4}));
  EXPECT_FALSE(ts[1].second.requires_grad());
}

TEST_F(Serialize, SaveTensorsRoundTripAllDtypesAndMetadata) {
  ag::manual_seed(5);
  Tensor f = ag::randn({3, 4});
  const nn::NamedTensors in{
      {"f32", f},
      {"f32_t", f.t()},  // non-contiguous: written in logical order
      {"f64", ag::randn({2, 2}, ag::TensorOptions(ag::kFloat64))},
      {"i64", ag::tensor(std::vector<int64_t>{-1, 0, 1LL << 62}, ag::TensorOptions(ag::kInt64))},
      {"bool", ag::tensor({true, false, false, true})},
      {"scalar", ag::scalar_tensor(3.25)},
      {"empty", ag::zeros({0})},
      {"state.step", ag::full({}, 17, ag::TensorOptions(ag::kInt64))},
  };
  const nn::Metadata md{{"optimizer", "Adam"}, {"lr", "0.001"}};
  nn::save_tensors(in, path("t.safetensors"), md);
  nn::Metadata got_md;
  const auto out = nn::load_tensors(path("t.safetensors"), &got_md);
  EXPECT_EQ(got_md, md);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);
    EXPECT_TRUE(bits_equal(out[i].second, in[i].second)) << in[i].first;
    EXPECT_TRUE(out[i].second.is_contiguous());
  }
  EXPECT_THROW(nn::save_tensors({{"a", f}, {"a", f}}, path("dup.safetensors")), ag::Error);
  EXPECT_THROW(nn::save_tensors({{"__metadata__", f}}, path("dup.safetensors")), ag::Error);
  EXPECT_THROW(nn::save_tensors({{"u", Tensor()}}, path("dup.safetensors")), ag::Error);
  EXPECT_THROW(nn::save_tensors({{"bad\xff", f}}, path("dup.safetensors")), ag::Error);  // not UTF-8
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"t.safetensors"}));
}

TEST_F(Serialize, SaveReplacesAtomicallyAndLeavesNoTempFile) {
  Model a = trained_model(3);
  Model b = trained_model(4);
  const std::string p = path("model.safetensors");
  nn::save(a, p);
  const std::string old_bytes = read_bytes(p);
  struct stat before {};
  ASSERT_EQ(stat(p.c_str(), &before), 0);
  // A hard link keeps the old inode: a rename leaves it intact, an in-place rewrite would not.
  ASSERT_EQ(link(p.c_str(), path("old_link").c_str()), 0);
  nn::save(b, p);
  struct stat after {};
  ASSERT_EQ(stat(p.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  EXPECT_EQ(read_bytes(path("old_link")), old_bytes);
  EXPECT_NE(read_bytes(p), old_bytes);
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"model.safetensors", "old_link"}));
  Model c(5);
  nn::load(c, p);
  EXPECT_TRUE(unchanged(*c, snapshot(*b)));

  // A save that cannot complete throws, leaves the old file and no temporary behind.
  ASSERT_EQ(mkdir(path("adir").c_str(), 0700), 0);
  const std::string msg = error_of([&] { nn::save(a, path("adir")); });  // rename over a directory fails
  EXPECT_NE(msg.find("save"), std::string::npos) << msg;
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"adir", "model.safetensors", "old_link"}));
  rmdir(path("adir").c_str());
  EXPECT_THROW(nn::save(a, path("missing_dir/model.safetensors")), ag::Error);
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"model.safetensors", "old_link"}));
}

// Two threads saving to one path: each save has its own temporary file (with the pid alone
// as its name, both wrote into one file and a mix of the two could be renamed over path).
TEST_F(Serialize, ThreadsSavingToOnePathNeverMixTheirFiles) {
  Model a = trained_model(21), b = trained_model(22);
  const auto snap_a = snapshot(*a), snap_b = snapshot(*b);
  const std::string p = path("shared.safetensors");
  std::thread t1([&] { for (int i = 0; i < 20; ++i) nn::save(a, p); });
  std::thread t2([&] { for (int i = 0; i < 20; ++i) nn::save(b, p); });
  t1.join();
  t2.join();
  Model c = trained_model(23);
  nn::load(c, p);
  EXPECT_TRUE(unchanged(*c, snap_a) || unchanged(*c, snap_b));
  EXPECT_EQ(list_dir(dir), std::vector<std::string>{"shared.safetensors"});
}

// A save first removes the temporary files that killed processes left for the same path
// (a pid that names no process), and only those: a live process's, other names, other files.
TEST_F(Serialize, SaveRemovesStaleTempFilesOfDeadProcessesOnly) {
  // A pid that names no process: a child that has exited and been reaped.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  if (kill(child, 0) == 0 || errno != ESRCH) GTEST_SKIP() << "pid " << child << " was taken again at once";
  const std::string dead = std::to_string(child), live = std::to_string(getppid());  // the parent is alive
  const std::vector<std::string> kept{
      "model.safetensors.tmp." + live,         // a live process may be writing it
      "model.safetensors.tmp.0" + dead,        // not a pid as a writer spells it
      "model.safetensors.tmp." + dead + "x",   // not all digits
      "model.safetensors.tmp.",                // no pid
      "model.safetensors.tmp.99999999999999",  // beyond any pid
      "other.safetensors.tmp." + dead,         // another file's
      "model.safetensors.tmp." + live + ".3",  // a live process's, as write() names them
      "model.safetensors.tmp." + dead + ".x",  // not a save count
  };
  for (const auto& name : kept) write_bytes(path(name), "x");
  write_bytes(path("model.safetensors.tmp." + dead), "half a checkpoint");      // as earlier versions named them
  write_bytes(path("model.safetensors.tmp." + dead + ".0"), "half a checkpoint");  // as write() names them
  // A symlink of a dead process's name is not a temporary file a save made: it stays.
  ASSERT_EQ(symlink(("model.safetensors.tmp." + live).c_str(), path("model.safetensors.tmp." + dead + ".1").c_str()), 0);
  const std::string link = "model.safetensors.tmp." + dead + ".1";

  Model a = trained_model(9);
  nn::save(a, path("model.safetensors"));
  std::vector<std::string> expect = kept;
  expect.push_back("model.safetensors");
  expect.push_back(link);
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(list_dir(dir), expect);
  EXPECT_EQ(read_bytes(path("model.safetensors.tmp." + live)), "x");
  Model b = trained_model(10);
  nn::load(b, path("model.safetensors"));
  EXPECT_TRUE(unchanged(*b, snapshot(*a)));
}

TEST_F(Serialize, RefusesBadFilesAndKeepsTheModule) {
  Model src = trained_model(6);
  const std::string good = path("good.safetensors");
  nn::save(src, good);
  const std::string bytes = read_bytes(good);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);

  Model dst = trained_model(7);
  const auto snap = snapshot(*dst);
  // Each case: a file, and a piece the error message must contain.
  struct Case {
    std::string name, bytes, expect;
  };
  std::string corrupt_json = bytes;
  corrupt_json[8 + 1] = '#';
  std::string not_object = bytes;
  not_object[8] = '[';
  std::string bad_len = bytes;
  bad_len.replace(0, 8, le64(bytes.size()));
  std::string huge_len = bytes;
  huge_len.replace(0, 8, le64(1ULL << 40));
  std::string extra_tail = bytes + "xyz";
  const std::vector<Case> cases{
      {"truncated_data", bytes.substr(0, bytes.size() - 4), "beyond the data area"},
      {"truncated_header", bytes.substr(0, 8 + n / 2), "follow the length"},
      {"tiny", bytes.substr(0, 5), "fewer than the 8"},
      {"empty", "", "fewer than the 8"},
      {"corrupt_json", corrupt_json, "JSON"},
      {"not_object", not_object, "start with '{'"},
      {"bad_len", bad_len, "follow the length"},
      {"huge_len", huge_len, "limit"},
      {"trailing", extra_tail, "trailing"},
  };
  for (const auto& c : cases) {
    write_bytes(path(c.name), c.bytes);
    const std::string msg = error_of([&] { nn::load(dst, path(c.name)); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(path(c.name)), std::string::npos) << c.name << ": " << msg;
    EXPECT_TRUE(unchanged(*dst, snap)) << c.name;
    EXPECT_THROW(nn::load_tensors(path(c.name)), ag::Error) << c.name;
  }
  EXPECT_NE(error_of([&] { nn::load(dst, path("does_not_exist")); }).find("cannot open"), std::string::npos);
  EXPECT_TRUE(unchanged(*dst, snap));
  // The good file still loads after all that.
  nn::load(dst, good);
  EXPECT_TRUE(unchanged(*dst, snapshot(*src)));
}

TEST_F(Serialize, RefusesMismatchedModules) {
  Model src = trained_model(8);
  nn::save(src, path("m.safetensors"));

  // Wrong shape: hidden 6 instead of 5.
  Model wide(6);
  auto snap = snapshot(*wide);
  std::string msg = error_of([&] { nn::load(wide, path("m.safetensors")); });
  EXPECT_NE(msg.find("'fc1.weight' has shape [5, 3] in the file but [6, 3] in the module"), std::string::npos) << msg;
  EXPECT_TRUE(unchanged(*wide, snap));

  // Wrong dtype.
  Model f64;
  f64->to(ag::kFloat64);
  snap = snapshot(*f64);
  msg = error_of([&] { nn::load(f64, path("m.safetensors")); });
  EXPECT_NE(msg.find("'fc1.weight' has dtype F32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float64 in the module"), std::string::npos) << msg;
  EXPECT_TRUE(unchanged(*f64, snap));

  // Missing names: the file lacks what a bigger module has.
  nn::Sequential bigger(nn::Linear(3, 3), nn::Linear(3, 3));
  nn::Sequential smaller(nn::Linear(3, 3));
  nn::save(smaller, path("small.safetensors"));
  snap = snapshot(*bigger);
  msg = error_of([&] { nn::load(bigger, path("small.safetensors")); });
  EXPECT_NE(msg.find("'1.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  EXPECT_TRUE(unchanged(*bigger, snap));

  // Extra names: the file has more than the module.
  nn::save(bigger, path("big.safetensors"));
  snap = snapshot(*smaller);
  msg = error_of([&] { nn::load(smaller, path("big.safetensors")); });
  EXPECT_NE(msg.find("'1.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not have"), std::string::npos) << msg;
  EXPECT_TRUE(unchanged(*smaller, snap));

  // Non-strict loading takes what matches and ignores the rest.
  nn::load(smaller, path("big.safetensors"), /*strict=*/false);
  EXPECT_TRUE(bits_equal(smaller->ptr<nn::LinearImpl>(0)->weight, bigger->ptr<nn::LinearImpl>(0)->weight));
  // ...but still refuses a shape mismatch.
  nn::Sequential other(nn::Linear(3, 4));
  EXPECT_THROW(nn::load(other, path("big.safetensors"), false), ag::Error);
}

TEST_F(Serialize, RefusesMalformedEntries) {
  nn::Linear fc(2, 1);  // weight [1, 2], bias [1]: 12 bytes of float32
  const auto snap = snapshot(*fc);
  const std::string data = raw<float>({1.f, 2.f, 3.f});
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
  };
  const std::string w = entry("F32", "[1,2]", "[0,8]");
  const std::string b = entry("F32", "[1]", "[8,12]");
  struct Case {
    std::string name, header, data, expect;
  };
  const std::vector<Case> cases{
      {"overlap", R"({"weight":)" + w + R"(,"bias":)" + entry("F32", "[1]", "[4,8]") + "}", data.substr(0, 8), "overlaps"},
      {"hole", R"({"weight":)" + w + R"(,"bias":)" + entry("F32", "[1]", "[12,16]") + "}", data + "abcd", "hole"},
      {"size", R"({"weight":)" + entry("F32", "[1,2]", "[0,4]") + R"(,"bias":)" + b + "}", data, "needs 8 bytes"},
      {"reversed", R"({"weight":)" + entry("F32", "[1,2]", "[8,0]") + R"(,"bias":)" + b + "}", data, "begin > end"},
      {"f16", R"({"weight":)" + entry("F16", "[1,2]", "[0,4]") + R"(,"bias":)" + entry("F32", "[1]", "[4,8]") + "}",
       data.substr(0, 8), "F16"},
      {"negative", R"({"weight":)" + entry("F32", "[-1,2]", "[0,8]") + R"(,"bias":)" + b + "}", data, "invalid size"},
      {"duplicate", R"({"weight":)" + w + R"(,"weight":)" + w + R"(,"bias":)" + b + "}", data, "twice"},
      {"unknown_field", R"({"weight":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8],"x":1},"bias":)" + b + "}", data,
       "unknown field"},
      {"no_offsets", R"({"weight":{"dtype":"F32","shape":[1,2]},"bias":)" + b + "}", data, "data_offsets"},
      {"bad_metadata", R"({"__metadata__":{"a":1},"weight":)" + w + R"(,"bias":)" + b + "}", data, "__metadata__"},
      {"bool_byte", R"({"weight":)" + w + R"(,"bias":)" + b + R"(,"m":)" + entry("BOOL", "[1]", "[12,13]") + "}",
       data + "\x02", "BOOL"},
      {"overflow", R"({"weight":)" + entry("F32", "[4294967296,4294967296,4294967296]", "[0,8]") + R"(,"bias":)" + b + "}",
       data, "too large"},
  };
  for (const auto& c : cases) {
    write_bytes(path(c.name), make_file(c.header, c.data));
    const std::string msg = error_of([&] { nn::load(fc, path(c.name), /*strict=*/false); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_TRUE(unchanged(*fc, snap)) << c.name;
    EXPECT_THROW(nn::load_tensors(path(c.name)), ag::Error) << c.name;
  }
  // The control: the well-formed version of the same file loads.
  write_bytes(path("ok"), make_file(R"({"weight":)" + w + R"(,"bias":)" + b + "}", data));
  nn::load(fc, path("ok"));
  EXPECT_EQ(fc->weight.data_ptr<float>()[1], 2.f);
  EXPECT_EQ(fc->bias.item<float>(), 3.f);
}
