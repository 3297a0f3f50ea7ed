// ag::nn::save / ag::nn::load — modules and named tensors in the safetensors format.
//
// What it represents: the file layout of https://github.com/huggingface/safetensors:
//   8 bytes      N, the header length, unsigned little-endian
//   N bytes      a JSON object {"name": {"dtype": "F32"|"F64"|"I64"|"BOOL",
//                "shape": [..], "data_offsets": [begin, end]}, ...,
//                "__metadata__": {"key": "value", ...} (optional)}, padded with spaces
//   the rest     the tensors' raw little-endian bytes; offsets are relative to the start
//                of this area, which the entries cover exactly, without overlap or holes.
// Files written here open in Python with safetensors.torch.load_file and vice versa (for
// these four dtypes).
//
// Writes are atomic: the bytes go to `path + ".tmp.<pid>.<n>"` (pid: the writing process's;
// n: its count of saves, so that threads saving to one path never share a file), are
// fsynced, and the file is renamed over `path` (then the directory is fsynced), so a crash
// leaves either the old file or the new one, never half of one. On error the temporary
// file is removed. A process killed inside a save leaves its temporary file behind: before
// writing, a save removes (best effort) every regular file `<name of path>.tmp.<N>[.<n>]`
// in that directory whose process N no longer exists, N being a pid other than its own.
// ag::optim::save writes through the same code.
// Reads validate the whole file before anything is handed out or copied; every problem
// is an ag::Error naming the file, the entry and what is wrong.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ag/nn/module.hpp"

namespace ag::nn {

using Metadata = std::map<std::string, std::string>;

// requires: distinct names; defined tensors (any strides; written contiguously).
// ensures: `path` holds exactly these tensors in this order, plus `metadata` as
//          "__metadata__" when non-empty. Throws ag::Error when the file cannot be written
//          (and `path` is left as it was).
void save_tensors(const NamedTensors& tensors, const std::string& path, const Metadata& metadata = {});
// ensures: the tensors of the file in file order (fresh, contiguous, requires_grad false);
//          when `metadata` is non-null it receives "__metadata__" (empty when absent).
//          Throws ag::Error for any malformed file (see the top of this header).
NamedTensors load_tensors(const std::string& path, Metadata* metadata = nullptr);
// ensures: only the "__metadata__" of the file (the header is validated, data is not read).
Metadata load_metadata(const std::string& path);

// ensures: save_tensors(named parameters followed by named buffers, path, metadata).
void save(const Module& module, const std::string& path, const Metadata& metadata = {});
// requires: the file holds every parameter and buffer of `module` with the same dtype and
//           shape, and (when strict) nothing else.
// ensures: on success every parameter and buffer has the file's values, copied in place
//          under NoGradGuard (handles stay valid). On any error ag::Error is thrown and the
//          module is unchanged — e.g. "load: 'fc1.weight' has shape [10, 784] in the file
//          but [256, 784] in the module (model.safetensors)".
void load(Module& module, const std::string& path, bool strict = true);

template <class M>
void save(const std::shared_ptr<M>& module, const std::string& path, const Metadata& metadata = {}) {
  if (!module) fail("save: the module is null");
  save(static_cast<const Module&>(*module), path, metadata);
}
template <class M>
void save(const ModuleHolder<M>& module, const std::string& path, const Metadata& metadata = {}) {
  save(static_cast<const Module&>(*module), path, metadata);
}
template <class M>
void load(const std::shared_ptr<M>& module, const std::string& path, bool strict = true) {
  if (!module) fail("load: the module is null");
  load(static_cast<Module&>(*module), path, strict);
}
template <class M>
void load(const ModuleHolder<M>& module, const std::string& path, bool strict = true) {
  load(static_cast<Module&>(*module), path, strict);
}

}  // namespace ag::nn
