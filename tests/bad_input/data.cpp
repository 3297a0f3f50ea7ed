// Bad-input catalogue, area "data": loaders, datasets, the synthetic sets, MNIST, IDX and CSV
// files (the harness and what every case asserts: harness.hpp).
#include "harness.hpp"

namespace bad_input {

std::vector<Case> data_cases() {
  std::vector<Case> cs;
  auto add = adder(cs);
  add("data", "DataLoader with batch size 0", {"batch_size", "0"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions().batch_size(0)); }, {}}; });
  add("data", "DataLoader with batch size -2", {"batch_size", "-2"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions(-2)); }, {}}; });
  add("data", "DataLoader with a negative prefetch", {"prefetch", "-1"},
      [] { return Trial{[] { data::DataLoader(data::make_xor(4), data::DataLoaderOptions(1).prefetch(-1)); }, {}}; });
  add("data", "DataLoader of no dataset", {"DataLoader", "null"},
      [] { return Trial{[] { data::DataLoader(std::shared_ptr<const data::Dataset>(), data::DataLoaderOptions(1)); }, {}}; });
  add("data", "TensorDataset of different lengths", {"TensorDataset", "[3, 2]", "[4]"}, [] {
    Tensor x = ag::zeros({3, 2}), y = ag::zeros({4});
    return Trial{[=] { data::TensorDataset(x, y); }, {x, y}};
  });
  add("data", "TensorDataset of a 0-dim tensor", {"TensorDataset"}, [] {
    Tensor x = ag::zeros({}), y = ag::zeros({1});
    return Trial{[=] { data::TensorDataset(x, y); }, {x, y}};
  });
  add("data", "Dataset::get past the end", {"index 6 is out of range"}, [] {
    auto ds = std::make_shared<data::TensorDataset>(ag::zeros({6, 2}), ag::zeros({6}));
    return Trial{[=] { ds->get(6); }, {ds->inputs(), ds->targets()}};
  });
  add("data", "Dataset::get of -1", {"-1", "out of range"}, [] {
    auto ds = std::make_shared<data::TensorDataset>(ag::zeros({6, 2}), ag::zeros({6}));
    return Trial{[=] { ds->get(-1); }, {ds->inputs(), ds->targets()}};
  });
  add("data", "make_moons of 0 points", {"n must be >= 1"}, [] { return Trial{[] { data::make_moons(0); }, {}}; });
  add("data", "make_spirals of 1 class", {"classes must be >= 2"}, [] { return Trial{[] { data::make_spirals(10, 1); }, {}}; });
  add("data", "make_xor with negative noise", {"noise"}, [] { return Trial{[] { data::make_xor(4, -1.0); }, {}}; });
  add("data", "make_xor with NaN noise", {"noise", "nan"}, [] { return Trial{[] { data::make_xor(4, kNaN); }, {}}; });
  add("data", "MNIST with a negative limit", {"limit must be >= 0", "-5"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 28, 28}));
    write_file(d + "/train-labels-idx1-ubyte", idx({2}, -1));
    return Trial{[=] { data::MNIST(d, true, data::MnistOptions().limit(-5)); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST labels outside 0..9", {"MNIST", "label 12", "0..9"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 28, 28}));
    std::string labels = idx({2});
    labels[labels.size() - 1] = '\x0c';  // the second label is 12
    labels[labels.size() - 2] = '\x07';
    write_file(d + "/train-labels-idx1-ubyte", labels);
    return Trial{[=] { data::MNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST directory missing", {"MNIST", "does not exist"},
      [] { return Trial{[] { data::MNIST(tmp_dir() + "/no-such-dir", true); }, {}}; });
  add("data", "MNIST images of 27x28", {"FashionMNIST", "27x28"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte", idx({2, 27, 28}));
    write_file(d + "/train-labels-idx1-ubyte", idx({2}));
    return Trial{[=] { data::FashionMNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  add("data", "MNIST with fewer labels than images", {"MNIST", "3 images", "2 labels"}, [] {
    const std::string d = case_dir();
    write_file(d + "/train-images-idx3-ubyte.gz", gzip(idx({3, 28, 28})));
    write_file(d + "/train-labels-idx1-ubyte.gz", gzip(idx({2})));
    return Trial{[=] { data::MNIST(d, true); }, {}, [=] { return fp_dir(d); }};
  });
  auto idx_case = [&](const char* name, std::vector<std::string> expect, std::function<std::string()> bytes) {
    add("data", name, std::move(expect), [bytes] {
      const std::string d = case_dir(), p = d + "/f.idx";
      write_file(p, bytes());
      return Trial{[=] { data::read_idx(p); }, {}, [=] { return fp_dir(d); }};
    });
  };
  add("data", "read_idx of a missing file", {"read_idx", "cannot open"}, [] {
    const std::string p = tmp_dir() + "/absent.idx";
    return Trial{[=] { data::read_idx(p); }, {}};
  });
  idx_case("read_idx bad magic", {"read_idx", "bad magic number", "two zero bytes"},
           [] { return std::string("\x01\x02\x08\x01", 4) + std::string(5, '\0'); });
  idx_case("read_idx of float elements", {"read_idx", "0xd", "unsigned byte"}, [] { return idx({2}, -1, 0x0d); });
  idx_case("read_idx with 5 dimensions", {"read_idx", "5 dimensions"}, [] { return idx({1, 1, 1, 1, 1}); });
  idx_case("read_idx truncated header", {"read_idx", "header is truncated"}, [] { return idx({2, 3}).substr(0, 9); });
  idx_case("read_idx short body", {"read_idx", "body is short", "[2, 3]"}, [] { return idx({2, 3}, 5); });
  idx_case("read_idx trailing bytes", {"read_idx", "trailing bytes", "[2, 3]"}, [] { return idx({2, 3}, 7); });
  idx_case("read_idx zero dimension", {"read_idx", "dimension 1 is 0"}, [] { return idx({2, 0}); });
  idx_case("fuzz: read_idx dimensions whose product overflows int64", {"read_idx", "implausibly large"},
           [] { return idx({1, 2, 0x61081a18u, 0xbb550000u}, 4); });
  idx_case("read_idx truncated gzip", {"read_idx", "truncated"}, [] {
    const std::string z = gzip(idx({40, 40}));
    return z.substr(0, z.size() - 10);
  });
  auto csv_case = [&](const char* name, std::vector<std::string> expect, std::string bytes, data::CsvOptions o = {}) {
    add("data", name, std::move(expect), [bytes, o] {
      const std::string d = case_dir(), p = d + "/f.csv";
      write_file(p, bytes);
      return Trial{[=] { data::read_csv(p, o); }, {}, [=] { return fp_dir(d); }};
    });
  };
  csv_case("read_csv ragged row", {"read_csv", ":2:", "ragged", "1 fields", "2"}, "1,2\n3\n");
  csv_case("read_csv not a number", {"read_csv", ":1:", "field 2", "\"x\""}, "1,x\n");
  csv_case("read_csv empty field", {"read_csv", ":1:", "field 2 is empty"}, "1,,3\n");
  csv_case("read_csv number out of range", {"read_csv", "1e400", "out of range"}, "1e400\n");
  csv_case("read_csv empty file", {"read_csv", "empty"}, "");
  csv_case("read_csv header longer than rows", {"read_csv", ":2:", "header"}, "a,b,c\n1,2\n",
           data::CsvOptions().header(true));
  csv_case("read_csv newline delimiter", {"read_csv", "delimiter"}, "1\n", data::CsvOptions().delimiter('\n'));
  return cs;
}

}  // namespace bad_input
