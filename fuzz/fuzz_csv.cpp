// fuzz_csv: ag::data::read_csv on arbitrary bytes with three option sets (defaults; a
// header line; ';' as delimiter). A success must give a float32 [rows, cols] matrix whose
// rows are the file's non-blank lines.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ag_fuzz::MemFile file("csv");
  const std::string& path = file.write(data, size);
  const ag::data::CsvOptions options[] = {ag::data::CsvOptions(), ag::data::CsvOptions().header(true),
                                          ag::data::CsvOptions().delimiter(';')};
  for (const auto& o : options) {
    ag::Tensor t;
    if (!ag_fuzz::allowed([&] { t = ag::data::read_csv(path, o); })) continue;
    AG_FUZZ_ASSERT(t.dtype() == ag::kFloat32 && t.dim() == 2, "read_csv returned " + ag::shape_str(t.shape()));
    // Every row is one line, so there are no more rows than line breaks + 1.
    int64_t lines = 1;
    for (size_t i = 0; i < size; ++i) lines += data[i] == '\n';
    AG_FUZZ_ASSERT(t.size(0) <= lines, "more rows than lines");
    AG_FUZZ_ASSERT(t.size(1) <= static_cast<int64_t>(size) / 1 + 1, "more columns than bytes");
  }
  return 0;
}
