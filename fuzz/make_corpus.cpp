// make_fuzz_corpus DIR: writes the seed corpus of every fuzz target into DIR/<target>/ —
// a few valid files and near-valid ones (truncated, one byte off, a field wrong). The
// committed fuzz/corpus was made by it; findings are added there by hand as crash-<what>.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "models.hpp"

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(root / target);
  std::ofstream f(root / target / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
void put(const std::string& target, const std::string& name, const std::string& s) {
  put(target, name, Bytes(s.begin(), s.end()));
}
Bytes slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

Bytes idx(std::vector<uint32_t> dims, uint8_t type = 0x08) {
  Bytes b{0, 0, type, static_cast<unsigned char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(d >> s));
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(i * 37 % 256));
  return b;
}

Bytes gzip(const Bytes& in) {
  Bytes out(compressBound(static_cast<uLong>(in.size())) + 32);
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Bytes cut(Bytes b, size_t drop) {
  b.resize(b.size() > drop ? b.size() - drop : 0);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_corpus DIR\n";
    return 2;
  }
  root = argv[1];

  // ---- fuzz_idx ----
  put("fuzz_idx", "labels-idx1", idx({5}));
  put("fuzz_idx", "images-idx3", idx({2, 3, 3}));
  put("fuzz_idx", "images-idx3.gz", gzip(idx({2, 3, 3})));
  put("fuzz_idx", "four-dims-idx4", idx({1, 2, 1, 2}));
  put("fuzz_idx", "short-body", cut(idx({2, 3, 3}), 1));
  Bytes trailing = idx({4});
  trailing.push_back(7);
  put("fuzz_idx", "trailing-byte", trailing);
  put("fuzz_idx", "float-type", idx({2}, 0x0d));
  put("fuzz_idx", "cut-gzip.gz", cut(gzip(idx({3, 3})), 6));

  // ---- fuzz_csv ----
  put("fuzz_csv", "plain.csv", "1,2,3\n4,5,6\n");
  put("fuzz_csv", "header.csv", "a,b\n1.5,-2e3\r\n\n nan , inf\n");
  put("fuzz_csv", "semicolon.csv", "1;2\n3;4\n");
  put("fuzz_csv", "ragged.csv", "1,2\n3\n");
  put("fuzz_csv", "not-a-number.csv", "1,x\n");
  put("fuzz_csv", "huge.csv", "1e400,0x1p3,-0\n");

  // ---- fuzz_safetensors ----
  const fs::path tmp = fs::temp_directory_path() / "ag-make-corpus.safetensors";
  {
    ag::nn::Sequential model = ag_fuzz::make_model();
    ag::nn::save(model, tmp.string());
    const Bytes good = slurp(tmp);
    put("fuzz_safetensors", "model.safetensors", good);
    put("fuzz_safetensors", "model-truncated.safetensors", cut(good, 4));
    ag::nn::save(model, tmp.string(), {{"epoch", "3"}, {"note", "seed"}});
    put("fuzz_safetensors", "model-metadata.safetensors", slurp(tmp));
    ag::nn::save_tensors({{"b", ag::tensor({true, false})},
                          {"i", ag::tensor({int64_t{-1}, int64_t{7}})},
                          {"d", ag::zeros({0, 2}, ag::kFloat64)},
                          {"s", ag::scalar_tensor(2.5)}},
                         tmp.string());
    put("fuzz_safetensors", "dtypes.safetensors", slurp(tmp));
    ag::nn::Sequential other;
    other->push_back(ag::nn::Linear(4, 2));
    ag::nn::save(other, tmp.string());
    put("fuzz_safetensors", "other-model.safetensors", slurp(tmp));
  }

  // ---- fuzz_optim_state ----
  {
    const auto params = ag_fuzz::make_params();
    ag::optim::Adam adam(params, ag_fuzz::adam_options());
    ag_fuzz::one_step(adam, params);
    ag::optim::save(adam, tmp.string());
    const Bytes good = slurp(tmp);
    put("fuzz_optim_state", "adam.safetensors", good);
    put("fuzz_optim_state", "adam-truncated.safetensors", cut(good, 8));
  }
  {
    const auto params = ag_fuzz::make_params();
    ag::optim::SGD sgd(params, ag_fuzz::sgd_options());
    ag::optim::StepLR sched(sgd, 2, 0.5);
    ag_fuzz::one_step(sgd, params);
    sched.step();
    ag::optim::save(sgd, sched, tmp.string());
    put("fuzz_optim_state", "sgd-steplr.safetensors", slurp(tmp));
    ag::optim::save(sgd, tmp.string());
    put("fuzz_optim_state", "sgd-no-scheduler.safetensors", slurp(tmp));
  }
  fs::remove(tmp);

  // ---- fuzz_ops: programs are any bytes; a few seeded random ones of several lengths ----
  std::mt19937 gen(7);
  for (int i = 0; i < 6; ++i) {
    Bytes b(static_cast<size_t>(32 << (i % 4)));
    for (auto& x : b) x = static_cast<unsigned char>(gen());
    put("fuzz_ops", "random-" + std::to_string(i), b);
  }
  std::cout << "seeds written to " << root << "\n";
  return 0;
}
