// ag::io::safetensors: reading and writing the safetensors format, with every check. The
// one reader and writer of ag: ag::nn (module state, save_tensors/load_tensors) and
// ag::optim (optimizer state) build on it, and so can a user's own file formats.
//
// What it represents: the file layout of https://github.com/huggingface/safetensors:
//   8 bytes      N, the header length, unsigned little-endian
//   N bytes      a JSON object {"name": {"dtype": "F32"|"F64"|"I64"|"BOOL",
//                "shape": [..], "data_offsets": [begin, end]}, ...,
//                "__metadata__": {"key": "value", ...} (optional)}, padded with spaces
//   the rest     the tensors' raw little-endian bytes; offsets are relative to the start
//                of this area, which the entries cover exactly, without overlap or holes.
//
// Every error is an ag::Error whose message begins with the caller's op name ("load",
// "save_tensors", "optim::load", ...) and names the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ag/tensor.hpp"

namespace ag::io::safetensors {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// The dtype's name in the format: "F32", "F64", "I64" or "BOOL".
const char* dtype_code(Dtype d);

// One validated entry of a header.
struct Entry {
  std::string name;
  Dtype dtype = kFloat32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // [begin, end) of the data area
};

// A file read and validated as a whole.
struct File {
  std::vector<Entry> entries;  // in header order, or by data offset (ReadOptions::by_offset)
  Metadata metadata;           // "__metadata__", empty when absent
  std::vector<char> bytes;     // the whole file (only its start when the data was not read)
  uint64_t data_start = 0;     // 8 + N

  // requires: e is one of `entries` and the file was read with its data.
  // ensures: e's tensor, fresh and contiguous (requires_grad false). May throw ag::Error
  //          only where ag::empty refuses the shape (a huge size beside a 0).
  Tensor tensor(const Entry& e) const;
  // ensures: every entry's tensor, in the order of `entries`.
  NamedTensors tensors() const;
};

struct ReadOptions {
  bool with_data = true;   // false: only the header is read (BOOL bytes are then not checked)
  bool by_offset = false;  // true: entries sorted by data offset, ties in header order
  uint64_t max_size = 0;   // non-zero: every size of a shape, and its element count, at most this
};

// ensures: the file at `path`, after every check: a regular file of at least 8 bytes; a
//          header length within the file and at most 100'000'000; a header that starts
//          with '{' and parses as a JSON object without a name twice; "__metadata__" an
//          object of strings; each entry an object with exactly dtype, shape and
//          data_offsets; a dtype of the four; at most 64 sizes, each a non-negative integer
//          whose product, times the element size, fits 64 bits; data_offsets [begin, end]
//          with begin <= end <= the data area and end - begin the tensor's byte size; the
//          entries tiling the data area exactly (no overlap, no hole, no trailing bytes);
//          BOOL bytes 0 or 1 (with the data). Throws ag::Error naming what is wrong.
File read(const std::string& path, const char* op, const ReadOptions& options = {});

// requires: distinct names, none "__metadata__"; defined tensors (any strides: written
//           contiguously, in this order); names and metadata valid UTF-8.
// ensures: `path` holds the tensors, with `metadata` as "__metadata__" first when non-empty.
//          Atomic (Note [Atomic write] in safetensors.cpp): written to `path + ".tmp.<pid>.<n>"`,
//          fsynced, renamed over `path`, the directory fsynced; on any error the temporary
//          file is removed, `path` is left as it was, and ag::Error is thrown. Temporary files
//          of the same path left by processes that no longer exist are removed first.
void write(const NamedTensors& tensors, const std::string& path, const Metadata& metadata, const char* op);

}  // namespace ag::io::safetensors
