// fuzz_idx: ag::data::read_idx on arbitrary bytes, plain and gzip-compressed, as float32,
// float64 and int64. A success must give the tensor the header declares, with every
// value a byte 0..255.
#include <zlib.h>

#include <vector>

#include "fuzz_util.hpp"

namespace {

void check(const ag::Tensor& t, ag::Dtype dtype) {
  AG_FUZZ_ASSERT(t.dtype() == dtype, "read_idx returned another dtype");
  AG_FUZZ_ASSERT(t.dim() >= 1 && t.dim() <= 4, "read_idx returned " + std::to_string(t.dim()) + " dimensions");
  AG_FUZZ_ASSERT(t.is_contiguous(), "read_idx returned a non-contiguous tensor");
  const ag::Tensor d = t.to(ag::kFloat64);
  const double* p = d.data_ptr<double>();
  for (int64_t i = 0; i < d.numel(); ++i) AG_FUZZ_ASSERT(p[i] >= 0 && p[i] <= 255 && p[i] == static_cast<int>(p[i]), "value outside 0..255");
}

std::vector<unsigned char> gzip(const uint8_t* data, size_t size) {
  uLongf n = compressBound(static_cast<uLong>(size)) + 32;
  std::vector<unsigned char> out(n);
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // gzip wrapper
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ag_fuzz::MemFile plain("idx"), gz("idx.gz");
  // As given (gzread reads a plain file as is and a gzip stream decompressed).
  const std::string& p = plain.write(data, size);
  for (ag::Dtype dt : {ag::kFloat32, ag::kInt64}) {
    ag::Tensor t;
    if (ag_fuzz::allowed([&] { t = ag::data::read_idx(p, dt); })) check(t, dt);
  }
  // The same bytes inside a gzip stream: they must read back identically.
  const std::vector<unsigned char> z = gzip(data, size);
  const std::string& q = gz.write(z.data(), z.size());
  ag::Tensor a, b;
  const bool ok_plain = ag_fuzz::allowed([&] { a = ag::data::read_idx(p, ag::kFloat64); });
  const bool ok_gz = ag_fuzz::allowed([&] { b = ag::data::read_idx(q, ag::kFloat64); });
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;  // a gzip input inside gzip: not the same bytes
  AG_FUZZ_ASSERT(ok_plain == ok_gz, "the plain and the gzip file disagree on validity");
  if (ok_plain) AG_FUZZ_ASSERT(ag_fuzz::same_bits(a, b), "the plain and the gzip file read differently");
  return 0;
}
