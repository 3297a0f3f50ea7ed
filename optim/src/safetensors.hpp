// A small safetensors writer and reader for optimizer state. Internal to ag::optim (the nn
// module has its own; this one keeps ag::optim free of a dependency on ag::nn).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// padded with spaces to a multiple of 8, then the tensors' bytes, each [begin, end) of the
// data section, row-major, little-endian.
#pragma once

#include <string>

#include "ag/optim/optimizer.hpp"

namespace ag::optim::internal {

// Ensures: `path` holds the tensors and metadata, written to a temporary file, fsync'ed
// and renamed over it. Throws ag::Error naming the path on any I/O failure.
void write_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata);

// Requires: a well-formed file (checked: header size and JSON, dtypes, shapes, offsets
// inside the data section and covering it without gaps or overlaps). Throws ag::Error
// naming the path otherwise. Ensures: the tensors in file order (by data offset).
OptimizerStateDict read_safetensors(const std::string& path);

}  // namespace ag::optim::internal
