// fuzz_safetensors: ag::nn's safetensors reader on arbitrary bytes — load_tensors,
// load_metadata, and load into a small module (strict and not). A failed load must leave
// the module exactly as it was; a successful one must give it the file's values. Whatever
// load_tensors accepts must survive save_tensors + load_tensors bitwise.
#include <vector>

#include "fuzz_util.hpp"
#include "models.hpp"

namespace nn = ag::nn;

namespace {

nn::NamedTensors state_of(const nn::Module& m) {
  nn::NamedTensors all = m.named_parameters();
  for (auto& b : m.named_buffers()) all.push_back(b);
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ag_fuzz::MemFile file("st");
  const std::string& path = file.write(data, size);

  nn::NamedTensors loaded;
  nn::Metadata meta;
  const bool ok = ag_fuzz::allowed([&] { loaded = nn::load_tensors(path, &meta); });
  nn::Metadata meta_only;
  const bool ok_meta = ag_fuzz::allowed([&] { meta_only = nn::load_metadata(path); });
  if (ok) {
    AG_FUZZ_ASSERT(ok_meta && meta_only == meta, "load_metadata disagrees with load_tensors");
    for (const auto& [name, t] : loaded)
      AG_FUZZ_ASSERT(t.defined() && t.is_contiguous() && !t.requires_grad(), "load_tensors: '" + name + "'");
    // Round trip.
    const std::string out = ag_fuzz::temp_dir() + "/roundtrip.safetensors";
    nn::NamedTensors again;
    nn::Metadata meta2;
    if (ag_fuzz::allowed([&] { nn::save_tensors(loaded, out, meta); })) {
      AG_FUZZ_ASSERT(ag_fuzz::allowed([&] { again = nn::load_tensors(out, &meta2); }), "a saved file does not load");
      AG_FUZZ_ASSERT(again.size() == loaded.size() && meta2 == meta, "round trip changed the entries");
      for (size_t i = 0; i < again.size(); ++i)
        AG_FUZZ_ASSERT(again[i].first == loaded[i].first && ag_fuzz::same_bits(again[i].second, loaded[i].second),
                       "round trip changed '" + loaded[i].first + "'");
    }
  }

  for (bool strict : {true, false}) {
    nn::Sequential model = ag_fuzz::make_model();
    const nn::NamedTensors before = state_of(*model);
    std::vector<ag_fuzz::Snapshot> snaps;
    for (const auto& [name, t] : before) snaps.emplace_back(t);
    if (ag_fuzz::allowed([&] { nn::load(model, path, strict); })) {
      AG_FUZZ_ASSERT(ok, "load accepted a file that load_tensors refuses");
      for (const auto& [name, t] : state_of(*model))
        for (const auto& [fname, ft] : loaded)
          if (fname == name) AG_FUZZ_ASSERT(ag_fuzz::same_bits(t, ft), "load did not copy '" + name + "'");
    } else {
      for (size_t i = 0; i < snaps.size(); ++i) {
        const std::string c = snaps[i].changed();
        AG_FUZZ_ASSERT(c.empty(), "a failed load changed '" + before[i].first + "': " + c);
      }
    }
  }
  return 0;
}
