// ag::nn save/load in the safetensors format (see ag/nn/serialize.hpp for the layout). The
// reading, validating and atomic writing of the file is autograd's ag/io/safetensors.hpp, which
// ag::optim shares; what is here is the match between a file and a module.
//
// Note [Validate, then touch]: load() reads and checks the whole file — header length,
// JSON, every entry's dtype/shape/offsets, coverage of the data area, the match with the
// module — and materialises every tensor before it copies a single value into the module.
// The only step after validation is copy_ between tensors of equal shape and dtype, which
// cannot fail, so a refused file leaves the module exactly as it was.
#include "ag/nn/serialize.hpp"

#include <set>
#include <unordered_map>

#include "ag/autograd.hpp"
#include "ag/io/safetensors.hpp"

namespace ag::nn {

namespace st = ag::io::safetensors;

namespace {

NamedTensors module_state(const Module& module) {
  NamedTensors all = module.named_parameters();
  for (auto& b : module.named_buffers()) all.push_back(std::move(b));
  return all;
}

}  // namespace

void save_tensors(const NamedTensors& tensors, const std::string& path, const Metadata& metadata) {
  st::write(tensors, path, metadata, "save_tensors");
}

NamedTensors load_tensors(const std::string& path, Metadata* metadata) {
  const st::File file = st::read(path, "load_tensors");
  NamedTensors out = file.tensors();
  if (metadata) *metadata = file.metadata;
  return out;
}

Metadata load_metadata(const std::string& path) {
  return st::read(path, "load_metadata", {.with_data = false}).metadata;
}

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  st::write(module_state(module), path, metadata, "save");
}

void load(Module& module, const std::string& path, bool strict) {
  // Note [Validate, then touch].
  const st::File file = st::read(path, "load");
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < file.entries.size(); ++i) index.emplace(file.entries[i].name, i);

  const NamedTensors state = module_state(module);
  std::vector<std::pair<Tensor, Tensor>> copies;  // (module tensor, file tensor)
  std::set<std::string> used;
  for (const auto& [name, t] : state) {
    const auto it = index.find(name);
    if (it == index.end()) {
      AG_CHECK(!strict, "load: '", name, "' of the module is missing from the file '", path, "'");
      continue;
    }
    const st::Entry& e = file.entries[it->second];
    AG_CHECK(e.dtype == t.dtype(), "load: '", name, "' has dtype ", st::dtype_code(e.dtype), " (",
             dtype_name(e.dtype), ") in the file but ", dtype_name(t.dtype()), " in the module (", path, ")");
    AG_CHECK(e.shape == t.shape(), "load: '", name, "' has shape ", shape_str(e.shape), " in the file but ",
             shape_str(t.shape()), " in the module (", path, ")");
    used.insert(name);
    copies.emplace_back(t, Tensor());
  }
  if (strict)
    for (const auto& e : file.entries)
      AG_CHECK(used.count(e.name), "load: the file '", path, "' has '", e.name, "', which the module ", module.name(),
               " does not have");

  // Everything checked: materialise, then copy (nothing below can fail).
  size_t k = 0;
  for (const auto& [name, t] : state)
    if (used.count(name)) copies[k++].second = file.tensor(file.entries[index.at(name)]);
  NoGradGuard guard;
  for (auto& [dst, src] : copies) dst.copy_(src);
}

}  // namespace ag::nn
