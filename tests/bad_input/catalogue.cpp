// Runs the bad-input catalogue: every case of every area's file (tensor.cpp, ops.cpp, ...;
// the harness and what every case asserts: harness.hpp) as BadInput.ThrowsAgErrorAndChangesNothing,
// instantiated once per area so that a failing case's name begins with its area; and
// BadInputCatalogue.CountsEveryArea, which counts the cases per area and in all.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

using namespace bad_input;

namespace {

// The areas' lists in the catalogue's order, which numbers the cases.
using AreaList = std::vector<Case> (*)();
constexpr AreaList kAreas[] = {tensor_cases, ops_cases,  autograd_cases, nn_cases,
                               optim_cases,  data_cases, save_load_cases};

// Every case, numbered across the areas, and which numbers each area's list holds.
struct Catalogue {
  std::vector<Case> all;
  std::map<AreaList, std::vector<size_t>> numbers;
};
const Catalogue& catalogue() {
  static const Catalogue c = [] {
    Catalogue r;
    for (AreaList list : kAreas) {
      std::vector<size_t>& mine = r.numbers[list];
      for (Case& k : list()) {
        mine.push_back(r.all.size());
        r.all.push_back(std::move(k));
      }
    }
    return r;
  }();
  return c;
}
const std::vector<Case>& cases() { return catalogue().all; }
std::vector<size_t> numbers_of(AreaList list) { return catalogue().numbers.at(list); }

// What a tensor looked like before the bad call.
struct Snapshot {
  Tensor t;
  std::string bytes;
  uint32_t version;
  const ag::Node* grad_fn;
  bool requires_grad;
  explicit Snapshot(const Tensor& x)
      : t(x), bytes(fp(x)), version(x._version()), grad_fn(x.grad_fn().get()), requires_grad(x.requires_grad()) {}
  void expect_unchanged(size_t i) const {
    EXPECT_EQ(fp(t), bytes) << "watched tensor " << i << " changed (values, shape or dtype)";
    EXPECT_EQ(t._version(), version) << "watched tensor " << i << " was written";
    EXPECT_EQ(t.grad_fn().get(), grad_fn) << "watched tensor " << i << " has another history";
    EXPECT_EQ(t.requires_grad(), requires_grad) << "watched tensor " << i;
  }
};

class BadInput : public ::testing::TestWithParam<size_t> {};

// A case's test name: its number, area and name, anything but letters and digits as '_'.
std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  const Case& c = cases()[info.param];
  std::string n = c.area + "_" + c.name;
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return std::to_string(info.param) + "_" + n;
}

}  // namespace

TEST_P(BadInput, ThrowsAgErrorAndChangesNothing) {
  const Case& c = cases()[GetParam()];
  SCOPED_TRACE(c.area + ": " + c.name);
  Trial trial = c.make();
  std::vector<Snapshot> snaps;
  for (const Tensor& t : trial.watched) snaps.emplace_back(t);
  const std::string before = trial.state ? trial.state() : "";
  const std::string msg = error_of(trial.call);
  for (const std::string& piece : c.expect)
    EXPECT_NE(msg.find(piece), std::string::npos) << "missing \"" << piece << "\" in: " << msg;
  for (size_t i = 0; i < snaps.size(); ++i) snaps[i].expect_unchanged(i);
  if (trial.state) EXPECT_TRUE(trial.state() == before) << "state changed";
}

INSTANTIATE_TEST_SUITE_P(Tensor, BadInput, ::testing::ValuesIn(numbers_of(tensor_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(Ops, BadInput, ::testing::ValuesIn(numbers_of(ops_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(Autograd, BadInput, ::testing::ValuesIn(numbers_of(autograd_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(Nn, BadInput, ::testing::ValuesIn(numbers_of(nn_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(Optim, BadInput, ::testing::ValuesIn(numbers_of(optim_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(Data, BadInput, ::testing::ValuesIn(numbers_of(data_cases)), case_name);
INSTANTIATE_TEST_SUITE_P(SaveLoad, BadInput, ::testing::ValuesIn(numbers_of(save_load_cases)), case_name);

TEST(BadInputCatalogue, CountsEveryArea) {
  std::map<std::string, int> per_area;
  for (const Case& c : cases()) ++per_area[c.area];
  std::ostringstream os;
  for (const auto& [area, n] : per_area) os << area << " " << n << ", ";
  std::printf("bad-input catalogue: %zu cases (%s)\n", cases().size(), os.str().c_str());
  EXPECT_GE(cases().size(), 100u);
  for (const char* area : {"tensor", "ops", "autograd", "nn", "optim", "data", "save/load"})
    EXPECT_GE(per_area[area], 5) << area;
  // Names are unique, so a failure names one case.
  std::set<std::string> names;
  for (const Case& c : cases()) EXPECT_TRUE(names.insert(c.area + c.name).second) << c.name;
}
