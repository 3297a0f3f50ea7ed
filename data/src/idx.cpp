// read_idx: the IDX format of MNIST (gzip or plain, both through zlib's gzread).
//
// Layout (big-endian): a magic number 0x00 0x00 TYPE NDIMS, then NDIMS sizes of 4 bytes,
// then prod(sizes) elements. Only TYPE 0x08 (unsigned byte) is read. The body is read
// in chunks into a buffer that grows as bytes arrive, so a corrupt header that declares
// gigabytes fails on the short body instead of allocating them up front.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ag/data/mnist.hpp"

namespace ag::data {

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

std::string gz_error(gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  return code == Z_ERRNO ? std::string(std::strerror(errno)) : std::string(msg ? msg : "unknown zlib error");
}

// Reads up to n bytes; returns how many were read. Throws on a zlib error (corrupt or
// truncated gzip stream), naming the file.
size_t read_some(gzFile f, void* dst, size_t n, const std::string& path) {
  size_t got = 0;
  auto* p = static_cast<unsigned char*>(dst);
  while (got < n) {
    const auto want = static_cast<unsigned>(std::min<size_t>(n - got, size_t{1} << 30));
    const int r = gzread(f, p + got, want);
    if (r < 0) fail("read_idx: ", path, ": cannot read: ", gz_error(f));
    if (r == 0) {
      int code = 0;
      gzerror(f, &code);
      if (code != Z_OK && code != Z_BUF_ERROR) fail("read_idx: ", path, ": cannot read: ", gz_error(f));
      if (code == Z_BUF_ERROR) fail("read_idx: ", path, ": the gzip stream is truncated");
      break;
    }
    got += static_cast<size_t>(r);
  }
  return got;
}

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

Tensor read_idx(const std::string& path, Dtype dtype) {
  AG_CHECK(dtype == kFloat32 || dtype == kInt64 || dtype == kFloat64, "read_idx: ", path,
           ": dtype must be float32, float64 or int64, got ", dtype_name(dtype));
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) fail("read_idx: ", path, ": cannot open: ", std::strerror(errno));
  gzbuffer(file.get(), 1 << 17);

  unsigned char magic[4];
  const size_t got_magic = read_some(file.get(), magic, 4, path);
  AG_CHECK(got_magic == 4, "read_idx: ", path, ": the file is too short for an IDX header (", got_magic, " bytes)");
  AG_CHECK(magic[0] == 0 && magic[1] == 0, "read_idx: ", path, ": bad magic number 0x", std::hex,
           big_endian(magic), std::dec, " (an IDX file starts with two zero bytes)");
  AG_CHECK(magic[2] == 0x08, "read_idx: ", path, ": bad magic number 0x", std::hex, big_endian(magic), std::dec,
           ": element type 0x", std::hex, int{magic[2]}, std::dec, " is not unsigned byte (0x08)");
  const int ndims = magic[3];
  AG_CHECK(ndims >= 1 && ndims <= 4, "read_idx: ", path, ": bad magic number 0x", std::hex, big_endian(magic),
           std::dec, ": ", ndims, " dimensions (expected 1 to 4)");

  unsigned char dims_raw[16];
  const size_t want_dims = 4 * static_cast<size_t>(ndims);
  const size_t got_dims = read_some(file.get(), dims_raw, want_dims, path);
  AG_CHECK(got_dims == want_dims, "read_idx: ", path, ": the header is truncated (", ndims, " dimensions need ",
           want_dims, " bytes, got ", got_dims, ")");
  Shape shape;
  int64_t count = 1;
  constexpr int64_t kMaxElements = int64_t{1} << 36;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t s = big_endian(dims_raw + 4 * d);
    AG_CHECK(s > 0, "read_idx: ", path, ": dimension ", d, " is 0");
    shape.push_back(static_cast<int64_t>(s));
    // Checked before multiplying: four 32-bit sizes overflow int64 (found by fuzz_idx).
    AG_CHECK(static_cast<int64_t>(s) <= kMaxElements / count, "read_idx: ", path, ": the declared size ",
             shape_str(shape), " is implausibly large");
    count *= static_cast<int64_t>(s);
  }

  // Body: grow as bytes arrive, in chunks that double from 64 KiB to 16 MiB (a short file
  // that declares a large body costs little), then insist on exactly `count` of them.
  std::vector<unsigned char> body;
  size_t have = 0;
  int64_t chunk_limit = int64_t{1} << 16;
  while (static_cast<int64_t>(have) < count) {
    const size_t chunk = static_cast<size_t>(std::min<int64_t>(count - static_cast<int64_t>(have), chunk_limit));
    chunk_limit = std::min<int64_t>(chunk_limit * 2, int64_t{1} << 24);
    body.resize(have + chunk);
    const size_t r = read_some(file.get(), body.data() + have, chunk, path);
    have += r;
    if (r < chunk) break;
  }
  AG_CHECK(static_cast<int64_t>(have) == count, "read_idx: ", path, ": the body is short: the header declares ",
           shape_str(shape), " = ", count, " bytes but the file holds ", have);
  unsigned char extra[64];
  const size_t trailing = read_some(file.get(), extra, sizeof extra, path);
  AG_CHECK(trailing == 0, "read_idx: ", path, ": trailing bytes after the ", count,
           "-byte body declared by the header ", shape_str(shape));

  Tensor out = empty(shape, TensorOptions(dtype));
  dispatch(dtype, [&]<class T>() {
    if constexpr (!std::is_same_v<T, bool>) {
      T* dst = out.data_ptr<T>();
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(body[static_cast<size_t>(i)]);
    }
  });
  return out;
}

}  // namespace ag::data
